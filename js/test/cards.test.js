// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { credits, creditsLine, emulatorNote, plural, statusLabel, timing } from "../src/format.js";
import { FALLBACK_OPTIONS } from "../src/protocol.js";
import widget from "../src/widget.js";
import { answerProbe, fakeCard, fakeModel, sendVideo } from "./fake-model.js";

const POSTER = "data:image/jpeg;base64,AAAA";

const card = (over = {}) => fakeCard({ id: "gen-0000000001", task_id: "task-1", ...over });

let el;
beforeEach(() => {
  el = document.createElement("div");
  document.body.append(el);
});
afterEach(() => {
  el.remove();
  vi.useRealTimers();
});

describe("posters", () => {
  it("come from _posters by card id, and a later _posters change shows them", () => {
    const model = fakeModel({ _tasks: [card({ status: "completed", progress: 100 })] });
    widget.render({ model, el });
    const img = el.querySelector(".fk-poster");
    expect(img.hidden).toBe(true);
    model.set("_posters", { "gen-0000000001": POSTER });
    expect(img.hidden).toBe(false);
    expect(img.getAttribute("src")).toBe(POSTER);
  });

  it("fall back to card.poster from an older kernel", () => {
    const model = fakeModel({ _tasks: [card({ poster: POSTER })] });
    widget.render({ model, el });
    expect(el.querySelector(".fk-poster").getAttribute("src")).toBe(POSTER);
  });
});

describe("cards-progress", () => {
  it("moves the bar, its number and the ETA of the shown card without rebuilding it", () => {
    const model = fakeModel({ _tasks: [card({ progress: 10 })] });
    widget.render({ model, el });
    const node = el.querySelector('[data-fk="task"]');
    const meta = node.querySelector(".fk-meta").textContent;
    model.deliver({
      kind: "cards-progress",
      cards: [{ id: "gen-0000000001", progress: 80, status_text: "rendering" }],
    });
    expect(el.querySelector('[data-fk="task"]')).toBe(node);
    expect(node.getAttribute("data-progress")).toBe("80");
    expect(node.querySelector('[role="progressbar"]').getAttribute("aria-valuenow")).toBe("80");
    expect(node.querySelector(".fk-bar-fill").style.width).toBe("80%");
    expect(node.querySelector(".fk-meta").textContent).not.toBe(meta); // the ETA follows
  });

  it("ignores ids it does not show and messages that are not progress", () => {
    const model = fakeModel({ _tasks: [card()] });
    widget.render({ model, el });
    model.deliver({ kind: "cards-progress", cards: [{ id: "gen-other", progress: 90, status_text: "" }] });
    model.deliver({ kind: "cards-progress", cards: "nope" });
    model.deliver({ kind: "something-else", cards: [{ id: "gen-0000000001", progress: 90 }] });
    expect(el.querySelector('[data-fk="task"]').getAttribute("data-progress")).toBe("40");
  });

  it("moves only a card still in flight: a late tick does not pull a finished card back", () => {
    const model = fakeModel({ _tasks: [card({ status: "completed", progress: 100, watching: false })] });
    widget.render({ model, el });
    model.deliver({ kind: "cards-progress", cards: [{ id: "gen-0000000001", progress: 30, status_text: "x" }] });
    expect(el.querySelector('[data-fk="task"]').getAttribute("data-progress")).toBe("100");
    expect(el.querySelector('[data-fk="announcer"]').textContent).toBe("");
  });

  it("stops listening when the view goes", () => {
    const model = fakeModel({ _tasks: [card()] });
    const cleanup = widget.render({ model, el });
    const node = el.querySelector('[data-fk="task"]');
    cleanup();
    model.deliver({ kind: "cards-progress", cards: [{ id: "gen-0000000001", progress: 90, status_text: "" }] });
    expect(node.getAttribute("data-progress")).toBe("40");
  });
});

describe("stopped cards", () => {
  it("their clock ends at stopped_at, with no ETA", () => {
    const start = Date.now() - 60_000;
    const stopped = card({ status: "stopped", watching: false, submitted_at: start, stopped_at: start + 7_000 });
    expect(timing(stopped, Date.now())).toBe("elapsed 0:07");
    expect(timing(stopped, Date.now() + 3_600_000)).toBe("elapsed 0:07");
    expect(timing(card({ submitted_at: start, stopped_at: null, progress: 50 }), start + 10_000)).toBe(
      "elapsed 0:10 · about 0:10 left",
    );
  });
});

const done = (n, over = {}) =>
  card({
    id: `gen-${String(n).padStart(10, "0")}`,
    status: "completed",
    progress: 100,
    watching: false,
    finished_at: Date.now() - 60_000,
    created: 1_780_000_000 + n,
    request: { prompt: `clip number ${n}` },
    video: { name: `${n}.mp4`, size: 8, mime: "video/mp4" },
    ...over,
  });

/** Answer the probe so video requests go out. */

describe("history", () => {
  it("keeps the newest and running cards unfolded and folds older finished ones into tiles", () => {
    const model = fakeModel({
      _tasks: [
        card({ id: "gen-running" }),
        done(4, { status: "failed", video: null }), // a minute ago: it stays to be read
        done(3),
        done(2),
        done(1, { status: "failed", video: null, finished_at: Date.now() - 3_600_000 }),
      ],
      _posters: { "gen-0000000002": POSTER },
    });
    widget.render({ model, el });
    const top = [...el.querySelector('[data-fk="tasks"]').children].map((n) => n.getAttribute("data-task-id"));
    expect(top).toEqual(["gen-running", "gen-0000000004"]); // the newest, and a fresh failure
    const tiles = [...el.querySelectorAll('[data-fk="history-tile"]')];
    const keys = tiles.map((t) => t.getAttribute("data-key"));
    expect(keys).toEqual(["gen-0000000003", "gen-0000000002", "gen-0000000001"]); // an old failure folds
    expect(tiles[1].tagName).toBe("BUTTON"); // Enter and Space press it
    expect(tiles[1].textContent).toContain("clip number 2");
    expect(tiles[1].querySelector("img").getAttribute("src")).toBe(POSTER);
    expect(tiles[0].querySelector('[data-fk="tile-date"]').textContent).not.toBe("");
  });

  it("a folded card loads its video only when its tile is pressed, then plays it; pressed again it folds", () => {
    const model = fakeModel({ _tasks: [done(2), done(1)] });
    widget.render({ model, el });
    answerProbe(model);
    const asked = () => model.sent.filter((m) => m.kind === "video-request").map((m) => m.task_id);
    expect(asked()).toEqual(["gen-0000000002"]);
    const tile = el.querySelector('[data-fk="history-tile"]');
    tile.click();
    expect(tile.getAttribute("aria-expanded")).toBe("true");
    expect(asked()).toEqual(["gen-0000000002", "gen-0000000001"]);
    const item = el.querySelector('[data-fk="history-item"] [data-fk="task"]');
    expect(item.getAttribute("data-task-id")).toBe("gen-0000000001");
    const play = vi.fn(() => Promise.resolve());
    item.querySelector("video").play = play;
    const request = model.sent.filter((m) => m.kind === "video-request")[1];
    URL.createObjectURL = vi.fn(() => "blob:http://localhost/v");
    sendVideo(model, request, 4, "1.mp4");
    expect(play).toHaveBeenCalledTimes(1);
    tile.click();
    expect(tile.getAttribute("aria-expanded")).toBe("false");
    expect(el.querySelector('[data-fk="history-item"]:not([hidden])')).toBeNull();
    expect(el.querySelectorAll('[data-fk="task"]').length).toBe(2); // folded, a card stays in the page, hidden
  });

  it("Clear finished asks the kernel and says what it did; older generations are counted", () => {
    const model = fakeModel({ _tasks: [done(2), done(1)], _tasks_total: 53 });
    widget.render({ model, el });
    expect(el.querySelector('[data-fk="older"]').textContent).toBe(
      "51 older generations not shown (w.generations has them all)",
    );
    const clear = el.querySelector('[data-fk="clear"]');
    clear.click();
    const sent = model.sent.find((m) => m.kind === "clear-finished");
    expect(sent).toBeTruthy();
    expect(clear.disabled).toBe(true);
    model.set("_tasks", []);
    model.set("_tasks_total", 0);
    model.deliver({ id: sent.id, kind: "clear-finished-response", ok: true, cleared: 2 });
    expect(el.querySelector('[data-fk="history-note"]').textContent).toContain("Cleared 2 finished generations");
    expect(el.querySelectorAll('[data-fk="history-tile"]').length).toBe(0);
    expect(clear.disabled).toBe(false);
    expect(clear.hidden).toBe(true); // nothing left to clear
  });

  it("Clear finished that hides itself hands the keyboard's focus to what it says", () => {
    const model = fakeModel({ _tasks: [done(2), done(1)] });
    widget.render({ model, el });
    const clear = el.querySelector('[data-fk="clear"]');
    clear.focus();
    clear.click();
    const sent = model.sent.find((m) => m.kind === "clear-finished");
    model.set("_tasks", []); // the cards go before the answer comes
    model.deliver({ id: sent.id, kind: "clear-finished-response", ok: true, cleared: 2 });
    const note = el.querySelector('[data-fk="history-note"]');
    expect(clear.hidden).toBe(true);
    expect(document.activeElement).toBe(note);
  });

  it("an older batch folds into one tile for its gallery, which unfolds in place", () => {
    const member = (n, index) => done(n, { batch: { id: "batch-1", index, count: 2, label: ["16:9", "9:16"][index] } });
    const model = fakeModel({ _tasks: [done(9), member(2, 1), member(1, 0)] });
    widget.render({ model, el });
    const tiles = el.querySelectorAll('[data-fk="history-tile"]');
    expect(tiles.length).toBe(1);
    expect(tiles[0].getAttribute("data-key")).toBe("batch-1");
    expect(tiles[0].textContent).toContain("2 variations · clip number 1");
    model.set("_tasks", [done(9), member(2, 1)]); // one member cleared: the tile still names the batch's size
    expect(el.querySelector('[data-fk="history-tile"]').textContent).toContain("2 variations · ");
    const gallery = el.querySelector('[data-fk="gallery"]');
    expect(gallery.closest('[data-fk="history-item"]').hidden).toBe(true);
    tiles[0].click();
    expect(gallery.closest('[data-fk="history-item"]').hidden).toBe(false);
  });

  it("shows voice names where the prompt has tokens; an unknown voice keeps its token", () => {
    const model = fakeModel({
      _voices: [{ voice_id: "v-1", name: "Narrator" }],
      _tasks: [
        done(2, {
          summary: "16:9 · 5 s · 720p — <<<voice_1>>> says hi to <<<voice_2>>>",
          request: { prompt: "<<<voice_1>>> says hi to <<<voice_2>>>", voice_ids: ["v-1", "v-9"] },
        }),
      ],
    });
    widget.render({ model, el });
    expect(el.querySelector(".fk-summary").textContent).toBe("16:9 · 5 s · 720p — “Narrator” says hi to <<<voice_2>>>");
  });
});

describe("words", () => {
  it("counts meet nouns through plural(): 1 credit, 2 credits", () => {
    expect(plural(1, "credit")).toBe("1 credit");
    expect(plural(2, "credit")).toBe("2 credits");
    expect(credits(1)).toBe("1 credit reserved");
    expect(credits(2.5)).toBe("2.50 credits reserved");
    expect(creditsLine({ estimate: 1 })).toContain("≈ 1 credit (estimate");
  });

  it("one word per state: Waiting for the studio's queue, Queued at the provider", () => {
    expect(statusLabel("queued")).toBe("Waiting");
    expect(statusLabel("pending")).toBe("Queued");
  });

  it("every status the kernel sends has its word, not the wire string (expired too)", () => {
    const { active, finished, failed } = FALLBACK_OPTIONS.statuses;
    for (const status of new Set([...active, ...finished, ...failed, "stopped"])) {
      expect(statusLabel(status), status).toMatch(/^[A-Z]/);
    }
  });

  it("a failed card says its message and hint once, the code small, not the id again", () => {
    const model = fakeModel({
      _tasks: [
        card({
          status: "failed",
          watching: false,
          finished_at: Date.now(),
          error: {
            code: "content_policy_violation",
            message: "Task task-1 failed: the prompt was refused",
            hint: "Rephrase the prompt.",
          },
        }),
      ],
    });
    widget.render({ model, el });
    const box = el.querySelector('[data-fk="task"] [role="alert"]');
    expect(box.querySelector('[data-fk="error-text"]').textContent).toBe("the prompt was refused");
    expect(box.querySelector('[data-fk="error-hint"]').textContent).toBe("Rephrase the prompt.");
    expect(box.querySelector('[data-fk="error-code"]').textContent).toBe("content_policy_violation");
    expect(box.textContent).not.toContain("task-1");
    expect(el.textContent.split("content_policy_violation").length).toBe(2); // once
  });

  it('"Copied" reads "Copy as code" again after about 2 s', async () => {
    vi.useFakeTimers();
    Object.defineProperty(navigator, "clipboard", { value: { writeText: vi.fn(async () => {}) }, configurable: true });
    const model = fakeModel({ _tasks: [card()] });
    widget.render({ model, el });
    const copy = el.querySelector('[data-fk="copy-code"]');
    copy.click();
    await vi.advanceTimersByTimeAsync(10);
    expect(copy.textContent).toBe("Copied");
    await vi.advanceTimersByTimeAsync(2_000);
    expect(copy.textContent).toBe("Copy as code");
  });
});

describe("resume and edit settings", () => {
  const stopped = () =>
    card({ status: "stopped", watching: false, resumable: true, stopped_at: Date.now(), note: "Stopped watching." });

  it("a resumable card has Resume, which sends resume; its note says so; a refusal is said", () => {
    const model = fakeModel({ _tasks: [stopped()] });
    widget.render({ model, el });
    const resume = el.querySelector('[data-fk="resume"]');
    expect(resume.hidden).toBe(false);
    expect(el.querySelector('[data-fk="stop-watching"]').hidden).toBe(true);
    expect(el.querySelector(".fk-task .fk-note").textContent).toContain("Resume follows it again here");
    resume.click();
    const sent = model.sent.find((m) => m.kind === "resume");
    expect(sent).toMatchObject({ kind: "resume", task_id: "gen-0000000001" });
    model.deliver({ id: sent.id, kind: "resume-response", ok: false, error: "Not resumable now." });
    const notice = el.querySelector('[data-fk="notice"]');
    expect(notice.hidden).toBe(false);
    expect(notice.textContent).toBe("Not resumable now.");
    model.set("_tasks", [card()]);
    expect(el.querySelector('[data-fk="resume"]').hidden).toBe(true);
  });

  it("a resumable card says its state once: the note does not repeat Not watching", () => {
    const model = fakeModel({ _tasks: [stopped()] });
    widget.render({ model, el });
    const task = el.querySelector('[data-fk="task"]');
    expect(task.querySelector(".fk-status").textContent).toBe("Not watching");
    expect(task.textContent.split("Not watching").length).toBe(2); // once
  });

  it("a lost resume answer goes through the same notice as stop-watching", () => {
    vi.useFakeTimers();
    const model = fakeModel({ _tasks: [stopped()] });
    widget.render({ model, el });
    el.querySelector('[data-fk="resume"]').click();
    vi.advanceTimersByTime(30_001);
    expect(el.querySelector('[data-fk="notice"]').textContent).toContain("The kernel did not answer within 30 s");
  });

  it("Edit settings unfolds the form, focuses the prompt and says what happened", () => {
    const model = fakeModel({ _tasks: [card({ status: "completed", progress: 100, watching: false })] });
    widget.render({ model, el });
    el.querySelector('[data-fk="collapse"]').click(); // fold the form
    expect(el.querySelector('[data-fk="folded"]').hidden).toBe(false);
    const button = el.querySelector('[data-fk="edit-rerun"]');
    expect(button.textContent).toBe("Edit settings");
    button.click();
    const sent = model.sent.find((m) => m.kind === "load-task");
    expect(document.activeElement).not.toBe(el.querySelector('[data-fk="prompt"]'));
    model.deliver({ id: sent.id, kind: "load-task-response", ok: true });
    expect(el.querySelector('[data-fk="folded"]').hidden).toBe(true);
    expect(document.activeElement).toBe(el.querySelector('[data-fk="prompt"]'));
    expect(el.querySelector('[data-fk="announcer"]').textContent).toBe("Settings of this clip loaded into the form");
  });
});

describe("emulator storyboards", () => {
  it("say what they are and what the live tier returns, from the card's request", () => {
    expect(emulatorNote({ resolution: "1080p", aspect_ratio: "16:9", duration: 5 })).toBe(
      "Emulator storyboard (small preview). The live API returns a 1920×1080 clip of 5 s.",
    );
    expect(emulatorNote({ resolution: "4k", aspect_ratio: "9:16", duration: 10 })).toContain("2160×3840 clip of 10 s");
    expect(emulatorNote({ resolution: "720p", aspect_ratio: "1:1", duration: 5 })).toContain("720×720");
    // The payload leaves the provider's defaults out (720p, 16:9, 5 s).
    expect(emulatorNote({ aspect_ratio: "9:16", duration: 10 })).toContain("720×1280 clip of 10 s");
    expect(emulatorNote({})).toContain("1280×720 clip of 5 s");
  });

  it("only a card the kernel calls emulated says so, whatever the studio's mode", () => {
    const request = { resolution: "720p", aspect_ratio: "16:9", duration: 10 };
    const model = fakeModel({
      _mode: "live",
      _tasks: [card({ id: "gen-a", emulated: true, request }), card({ id: "gen-b", emulated: false, request })],
    });
    widget.render({ model, el });
    const notes = [...el.querySelectorAll('[data-fk="emulator-note"]')].map((n) => (n.hidden ? "" : n.textContent));
    expect(notes).toEqual(["Emulator storyboard (small preview). The live API returns a 1280×720 clip of 10 s.", ""]);
  });
});

describe("focus", () => {
  it("a card that folds while a button in it has the focus hands the focus to its tile", () => {
    const model = fakeModel({ _tasks: [done(1)] });
    widget.render({ model, el });
    el.querySelector('[data-fk="copy-code"]').focus();
    model.set("_tasks", [done(2), done(1)]); // a newer clip: this one folds
    const tile = el.querySelector('[data-fk="history-tile"][data-key="gen-0000000001"]');
    expect(document.activeElement).toBe(tile);
  });

  it("a focused tile keeps the focus when a tile before it leaves the history (it is not moved)", () => {
    const model = fakeModel({ _tasks: [done(4), done(3), done(2), done(1)] });
    widget.render({ model, el });
    const tile = el.querySelector('[data-fk="history-tile"][data-key="gen-0000000001"]');
    tile.focus();
    const running = done(2, { status: "processing", progress: 10, finished_at: null, watching: true, video: null });
    model.set("_tasks", [done(4), running, done(3), done(1)]); // resumed from code: it unfolds
    const keys = [...el.querySelectorAll('[data-fk="history-tile"]')].map((t) => t.getAttribute("data-key"));
    expect(keys).toEqual(["gen-0000000003", "gen-0000000001"]);
    expect(document.activeElement).toBe(tile);
  });

  it("Stop watching and Resume hand the focus to each other when the kernel swaps them", () => {
    const model = fakeModel({ _tasks: [card()] });
    widget.render({ model, el });
    const stop = el.querySelector('[data-fk="stop-watching"]');
    const resume = el.querySelector('[data-fk="resume"]');
    stop.focus();
    model.set("_tasks", [card({ status: "stopped", watching: false, resumable: true })]);
    expect(stop.hidden).toBe(true);
    expect(document.activeElement).toBe(resume);
    model.set("_tasks", [card()]); // resumed: watched again
    expect(resume.hidden).toBe(true);
    expect(document.activeElement).toBe(stop);
  });

  it("a running card keeps the focus when a card above it folds away (it is not moved)", () => {
    const running = card({ id: "gen-0000000001" });
    const model = fakeModel({ _tasks: [done(2), running] });
    widget.render({ model, el });
    const stop = el.querySelector('[data-task-id="gen-0000000001"] [data-fk="stop-watching"]');
    stop.focus();
    model.set("_tasks", [card({ id: "gen-0000000003" }), done(2), running]); // a new clip: 2 folds
    const top = [...el.querySelector('[data-fk="tasks"]').children].map((n) => n.getAttribute("data-task-id"));
    expect(top).toEqual(["gen-0000000003", "gen-0000000001"]);
    expect(document.activeElement).toBe(stop);
  });
});

describe("announcer", () => {
  it("says what Clear finished did once: one live region carries it", () => {
    const model = fakeModel({ _tasks: [done(2), done(1)] });
    widget.render({ model, el });
    el.querySelector('[data-fk="clear"]').click();
    const sent = model.sent.find((m) => m.kind === "clear-finished");
    model.deliver({ id: sent.id, kind: "clear-finished-response", ok: true, cleared: 1 });
    const live = [...el.querySelectorAll("[aria-live]")].filter((n) => n.textContent.includes("Cleared 1"));
    expect(live.map((n) => n.getAttribute("data-fk"))).toEqual(["announcer"]);
    expect(el.querySelector('[data-fk="history-note"]').textContent).toContain("Cleared 1 finished generation");
  });

  it("says nothing about the cards a view opens with (restored: not news), then says their changes", () => {
    const old = { status: "failed", video: null, finished_at: Date.now() - 3_600_000 };
    const model = fakeModel({ _tasks: [card({ id: "gen-run" }), done(1, old)] });
    widget.render({ model, el });
    const announcer = el.querySelector('[data-fk="announcer"]');
    expect(announcer.textContent).toBe("");
    model.set("_tasks", [card({ id: "gen-run", progress: 80 }), done(1, old)]);
    expect(announcer.textContent).toBe("Generating: 80%");
  });
});

describe("hostile card fields", () => {
  it("a status with spaces adds no class of its own (it could hide the card's text)", () => {
    const model = fakeModel({ _tasks: [card({ status: "failed fk-sr" })] });
    widget.render({ model, el });
    const status = el.querySelector(".fk-status");
    expect([...status.classList]).toEqual(["fk-status", "fk-status-failedfksr"]); // one class, matching no rule
    expect(status.textContent).toBe("failed fk-sr"); // said as text
    expect(el.querySelector('[data-fk="task"]').getAttribute("data-status")).toBe("failed fk-sr");
  });
});
