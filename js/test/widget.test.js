// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TIMEOUT_MS } from "../src/protocol.js";
import widget from "../src/widget.js";
import { answerProbe, fakeCard, fakeModel, sendVideo } from "./fake-model.js";

const card = (over = {}) => fakeCard(over);

let el;
beforeEach(() => {
  document.body.replaceChildren();
  el = document.createElement("div");
  document.body.append(el);
  URL.createObjectURL = vi.fn(() => "blob:http://localhost/video-1");
  URL.revokeObjectURL = vi.fn();
});

describe("render", () => {
  it("exposes the stable test hooks", () => {
    widget.render({ model: fakeModel(), el });
    for (const hook of [
      "root",
      "prompt",
      "negative-prompt",
      "resolution",
      "aspect",
      "duration",
      "audio",
      "multishot",
      "add-segment",
      "generate",
      "error",
    ]) {
      expect(el.querySelector(`[data-fk="${hook}"]`), hook).not.toBeNull();
    }
    expect(el.querySelector('[data-fk="root"]').getAttribute("data-mode")).toBe("emulator");
    expect(el.querySelectorAll('[data-fk="aspect"] [data-value]').length).toBe(3);
  });

  it("clicking an option sets the trait and saves", () => {
    const model = fakeModel();
    widget.render({ model, el });
    el.querySelector('[data-fk="aspect"] [data-value="9:16"]').click();
    el.querySelector('[data-fk="duration"] [data-value="10"]').click();
    expect(model.state.aspect_ratio).toBe("9:16");
    expect(model.state.duration).toBe(10);
    expect(model.save_changes).toHaveBeenCalled();
    expect(el.querySelector('[data-fk="aspect"] [data-value="9:16"]').getAttribute("aria-pressed")).toBe("true");
  });

  it("shows a problem next to its control once touched, and holds Generate back", () => {
    const model = fakeModel();
    widget.render({ model, el });
    model.set("_problems", [
      { field: "prompt", message: "The prompt is empty.", level: "error" },
      { field: "resolution", message: "4k tier", level: "warning" },
    ]);
    const generate = el.querySelector('[data-fk="generate"]');
    // Nothing touched yet: no message anywhere, but Generate is off and says why.
    expect(el.querySelector('[data-fk-field="prompt"]').textContent).toBe("");
    expect(el.querySelector('[data-fk="error"]').hidden).toBe(true);
    expect(generate.getAttribute("aria-disabled")).toBe("true");
    expect(generate.title).toBe("Fix this first: The prompt is empty.");
    const reason = document.getElementById(generate.getAttribute("aria-describedby"));
    expect(reason.textContent).toBe("Fix this first: The prompt is empty.");
    el.querySelector('[data-fk="prompt"]').dispatchEvent(new Event("blur"));
    expect(el.querySelector('[data-fk-field="prompt"]').textContent).toBe("The prompt is empty.");
    expect(el.querySelector('[data-fk-field="resolution"]').textContent).toBe(""); // not touched
    el.querySelector('[data-fk="resolution"] [data-value="1080p"]').click();
    expect(el.querySelector('[data-fk-field="resolution"]').textContent).toContain("4k tier");
    generate.click();
    expect(model.sent.filter((m) => m.kind === "generate")).toEqual([]);
    model.set("_problems", []);
    expect(generate.getAttribute("aria-disabled")).toBe("false");
    generate.click();
    expect(model.sent.at(-1).kind).toBe("generate");
    expect(model.sent.at(-1).id).toMatch(/^fk-/);
  });

  it("says each problem once; pressing Generate shows them all, Multi-shot on shows none", () => {
    const model = fakeModel({ duration: 10 });
    widget.render({ model, el });
    const toggle = el.querySelector('[data-fk="multishot"]');
    toggle.checked = true;
    toggle.dispatchEvent(new Event("change"));
    const problems = [
      { field: "multi_prompt[0].prompt", message: "Shot 1's prompt is empty.", level: "error" },
      { field: "multi_prompt[1].prompt", message: "Shot 2's prompt is empty.", level: "error" },
      { field: "budget", message: "The budget is used up.", level: "error" },
    ];
    model.set("_problems", problems);
    expect(el.querySelectorAll(".fk-msg-error:not([hidden])").length).toBe(0);
    // What is on screen: without Generate's reason, which only its title and describedby carry.
    const visible = () => {
      const copy = el.cloneNode(true);
      copy.querySelector('[data-fk="generate-reason"]').remove();
      return copy.textContent;
    };
    el.querySelectorAll('[data-fk="segment-prompt"]')[1].dispatchEvent(new Event("blur"));
    expect(visible().split("Shot 2's prompt is empty.").length - 1).toBe(1);
    expect(visible()).not.toContain("Shot 1's prompt is empty.");
    el.querySelector('[data-fk="generate"]').click();
    for (const p of problems) expect(visible().split(p.message).length - 1, p.message).toBe(1);
    // A problem no control shows goes to the studio's message beside Generate.
    expect(el.querySelector('[data-fk="error"]').textContent).toBe("The budget is used up.");
    expect(el.querySelector('[data-fk="segment"][data-index="0"]').textContent).toContain("Shot 1's prompt is empty.");
    expect(model.sent.filter((m) => m.kind === "generate")).toEqual([]);
  });

  it("Ctrl+Enter with problems shows them, like a press of Generate", () => {
    const model = fakeModel({ _problems: [{ field: "prompt", message: "The prompt is empty.", level: "error" }] });
    widget.render({ model, el });
    expect(el.querySelector('[data-fk-field="prompt"]').textContent).toBe("");
    el.querySelector('[data-fk="prompt"]').dispatchEvent(
      new KeyboardEvent("keydown", { key: "Enter", ctrlKey: true, bubbles: true }),
    );
    expect(el.querySelector('[data-fk-field="prompt"]').textContent).toBe("The prompt is empty.");
    expect(model.sent.filter((m) => m.kind === "generate")).toEqual([]);
  });

  it("typed, then Ctrl+Enter at once: the kernel judges the new text (the shown problems are stale)", () => {
    const model = fakeModel({ _problems: [{ field: "prompt", message: "The prompt is empty.", level: "error" }] });
    widget.render({ model, el });
    const prompt = el.querySelector('[data-fk="prompt"]');
    prompt.value = "a fox";
    prompt.dispatchEvent(new Event("input"));
    prompt.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", ctrlKey: true, bubbles: true }));
    expect(model.state.prompt).toBe("a fox"); // the edit went first
    const ask = model.sent.find((m) => m.kind === "generate");
    expect(ask).toBeDefined();
    // Had the new text been refused for a field the form shows, it is said there, not twice.
    model.deliver({
      id: ask.id,
      kind: "generate-response",
      ok: false,
      error: "prompt: The prompt is empty.",
      field: "prompt",
    });
    expect(el.querySelector('[data-fk="error"]').hidden).toBe(true);
    expect(el.querySelector('[data-fk-field="prompt"]').textContent).toBe("The prompt is empty.");
  });

  it("a refusal from the kernel is said once, beside Generate, and goes with the next press", () => {
    const model = fakeModel();
    widget.render({ model, el });
    el.querySelector('[data-fk="generate"]').click();
    const ask = model.sent.find((m) => m.kind === "generate");
    model.deliver({ id: ask.id, kind: "generate-response", ok: false, error: "The budget is used up." });
    const box = el.querySelector('[data-fk="error"]');
    expect(box.hidden).toBe(false);
    expect(box.textContent).toBe("The budget is used up.");
    el.querySelector('[data-fk="generate"]').click();
    expect(box.hidden).toBe(true);
  });

  it("a double click starts one generation: Generate waits for the kernel's answer", () => {
    const model = fakeModel();
    widget.render({ model, el });
    const button = el.querySelector('[data-fk="generate"]');
    button.click();
    button.click();
    const starts = model.sent.filter((m) => m.kind === "generate");
    expect(starts.length).toBe(1);
    expect(button.disabled).toBe(true);
    expect(button.getAttribute("aria-disabled")).toBe("true");
    model.deliver({ id: starts[0].id, kind: "generate-response", ok: true, task_id: "local-1" });
    expect(button.disabled).toBe(false);
    el.querySelector('[data-fk="prompt"]').dispatchEvent(
      new KeyboardEvent("keydown", { key: "Enter", ctrlKey: true, repeat: true, bubbles: true }),
    );
    expect(model.sent.filter((m) => m.kind === "generate").length).toBe(1);
  });

  it("turning multi-shot on lays out shots; add and remove update the trait", () => {
    const model = fakeModel({ duration: 10 });
    widget.render({ model, el });
    const toggle = el.querySelector('[data-fk="multishot"]');
    toggle.checked = true;
    toggle.dispatchEvent(new Event("change"));
    expect(model.state.multishot).toBe(true);
    expect(model.state.segments.map((s) => s.duration)).toEqual([5, 5]);
    expect(el.querySelectorAll('[data-fk="segment"]').length).toBe(2);
    el.querySelector('[data-fk="add-segment"]').click();
    expect(model.state.segments.length).toBe(3);
    el.querySelectorAll('[data-fk="remove-segment"]')[0].click();
    expect(model.state.segments.length).toBe(2);
    expect(el.querySelector('[data-fk="segment-sum"]').textContent).toContain("of 10 s");
  });

  it("renders a task card from state and plays bytes from video chunks", () => {
    const model = fakeModel();
    widget.render({ model, el });
    answerProbe(model);
    model.set("_tasks", [card()]);
    const node = el.querySelector('[data-fk="task"]');
    expect(node.getAttribute("data-status")).toBe("processing");
    expect(node.getAttribute("data-progress")).toBe("40");
    expect(node.getAttribute("data-task-id")).toBe("task-unified-1-abcdefgh");
    expect(node.textContent).toContain("5 credits reserved");
    model.set("_tasks", [
      card({
        status: "completed",
        progress: 100,
        watching: false,
        video: { name: "a.mp4", size: 10, mime: "video/mp4" },
      }),
    ]);
    expect(el.querySelector('[data-fk="task"]')).toBe(node); // same node: a playing video keeps playing
    const request = model.sent.find((m) => m.kind === "video-request");
    expect(request).toMatchObject({ task_id: "task-unified-1-abcdefgh", encoding: "binary", direct: true });
    sendVideo(model, request);
    expect(model.sent.filter((m) => m.kind === "video-ack")).toEqual([
      { kind: "video-ack", id: expect.any(String), transfer: request.id, index: 0 },
    ]);
    expect(el.querySelector('video[data-fk="video"]').getAttribute("src")).toBe("blob:http://localhost/video-1");
    expect(el.querySelector('[data-fk="download"]').getAttribute("download")).toBe("a.mp4");
  });

  it("renders server text as text", () => {
    const model = fakeModel();
    widget.render({ model, el });
    model.set("_tasks", [
      card({ status: "failed", error: { code: "x", message: "<img src=x onerror=alert(1)>", hint: "" } }),
    ]);
    expect(el.querySelector("img[src='x']")).toBeNull();
    expect(el.textContent).toContain("<img src=x onerror=alert(1)>");
  });

  it("stop watching and edit-rerun send their messages", () => {
    const model = fakeModel();
    widget.render({ model, el });
    model.set("_tasks", [card()]);
    el.querySelector('[data-fk="stop-watching"]').click();
    el.querySelector('[data-fk="edit-rerun"]').click();
    const sent = model.sent.filter((m) => !m.kind.startsWith("video-"));
    expect(sent.map((m) => m.kind)).toEqual(["stop-watching", "load-task"]);
    expect(sent[0].task_id).toBe("task-unified-1-abcdefgh");
  });

  it("sends the key once in a message and keeps it out of the DOM", () => {
    const model = fakeModel({ _mode: "none" });
    widget.render({ model, el });
    const input = el.querySelector('[data-fk="api-key"]');
    input.value = "sk-secret-123";
    el.querySelector('[data-fk="use-key"]').click();
    expect(model.sent.at(-1)).toMatchObject({ kind: "set-key", key: "sk-secret-123" });
    expect(input.value).toBe("");
    expect(el.innerHTML).not.toContain("sk-secret-123");
    expect(Object.values(model.state).join(" ")).not.toContain("sk-secret");
  });

  it("cleanup removes listeners and revokes blob URLs", () => {
    const model = fakeModel();
    const before = model.listeners();
    const cleanup = widget.render({ model, el });
    answerProbe(model);
    model.set("_tasks", [card({ status: "completed", video: { name: "a.mp4", size: 1, mime: "video/mp4" } })]);
    const request = model.sent.find((m) => m.kind === "video-request");
    sendVideo(model, request);
    cleanup();
    expect(model.listeners()).toBe(before);
    expect(URL.revokeObjectURL).toHaveBeenCalledWith("blob:http://localhost/video-1");
  });

  it("two views of one model work independently", () => {
    const model = fakeModel();
    const other = document.createElement("div");
    widget.render({ model, el });
    widget.render({ model, el: other });
    model.set("aspect_ratio", "1:1");
    for (const root of [el, other]) {
      expect(root.querySelector('[data-fk="aspect"] [data-value="1:1"]').getAttribute("aria-pressed")).toBe("true");
    }
  });
});

describe("answers that never come", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("a lost generate-response re-enables Generate after the timeout, says so once, and a late answer does nothing", () => {
    const model = fakeModel();
    widget.render({ model, el });
    const button = el.querySelector('[data-fk="generate"]');
    const notice = el.querySelector('[data-fk="notice"]');
    expect(notice.hidden).toBe(true);
    button.click();
    const first = model.sent.find((m) => m.kind === "generate");
    vi.advanceTimersByTime(TIMEOUT_MS.generate - 1);
    expect(button.disabled).toBe(true);
    vi.advanceTimersByTime(1);
    expect(button.disabled).toBe(false);
    expect(notice.hidden).toBe(false);
    expect(notice.textContent).toBe(
      `The kernel did not answer within ${TIMEOUT_MS.generate / 1000} s. If it is busy, wait; if it restarted, run the cell again. ` +
        "Check the task cards before pressing Generate again: the clip may have started.",
    );
    expect(el.querySelectorAll('[role="alert"]:not([hidden])').length).toBe(1);
    // The late answer to the first press neither re-enables anything nor shows its error.
    button.click();
    expect(button.disabled).toBe(true);
    expect(notice.hidden).toBe(true); // a new press clears the old notice
    model.deliver({ id: first.id, kind: "generate-response", ok: false, error: "late and stale" });
    expect(button.disabled).toBe(true);
    expect(el.textContent).not.toContain("late and stale");
    const second = model.sent.filter((m) => m.kind === "generate");
    expect(second.length).toBe(2);
    model.deliver({ id: second[1].id, kind: "generate-response", ok: true, task_id: "local-2" });
    expect(button.disabled).toBe(false);
    vi.advanceTimersByTime(10 * TIMEOUT_MS.generate);
    expect(notice.hidden).toBe(true); // answered: no timeout message later
  });

  it("a lost create-voice answer gives the button back with the message under the URL", () => {
    const model = fakeModel({ voice_url: "https://example.com/a.mp3" });
    widget.render({ model, el });
    el.querySelector('[data-fk="voice-url"]').value = "https://example.com/a.mp3";
    const create = el.querySelector('[data-fk="create-voice"]');
    create.click();
    expect(model.sent.at(-1).kind).toBe("create-voice");
    expect(create.disabled).toBe(true);
    vi.advanceTimersByTime(TIMEOUT_MS["create-voice"]);
    expect(create.disabled).toBe(false);
    expect(el.querySelector('[data-fk-field="voice_url"]').textContent).toContain(
      "Check the task cards before pressing Create voice again",
    );
  });

  it("a lost set-key answer says so next to the key", () => {
    const model = fakeModel({ _mode: "none" });
    widget.render({ model, el });
    el.querySelector('[data-fk="api-key"]').value = "sk-secret-123";
    el.querySelector('[data-fk="use-key"]').click();
    vi.advanceTimersByTime(TIMEOUT_MS["set-key"]);
    expect(el.querySelector(".fk-key").textContent).toContain("The kernel did not answer within");
    expect(el.innerHTML).not.toContain("sk-secret-123");
  });

  it("a lost video-response is shown once with Retry; task updates do not ask again, Retry does", () => {
    const model = fakeModel();
    widget.render({ model, el });
    answerProbe(model);
    const done = card({
      status: "completed",
      progress: 100,
      watching: false,
      video: { name: "a.mp4", size: 1, mime: "video/mp4" },
    });
    model.set("_tasks", [done]);
    expect(model.sent.filter((m) => m.kind === "video-request").length).toBe(1);
    vi.advanceTimersByTime(TIMEOUT_MS["video-request"]);
    const failure = el.querySelector('[data-fk="video-error"]');
    expect(failure.hidden).toBe(false);
    expect(failure.textContent).toContain("The video could not be loaded");
    expect(failure.textContent).toContain("Press Retry");
    expect(el.querySelectorAll('[data-fk="video-error"]:not([hidden])').length).toBe(1);
    for (let i = 0; i < 13; i += 1) model.set("_tasks", [{ ...done, progress: 100 }]); // updates keep coming
    expect(model.sent.filter((m) => m.kind === "video-request").length).toBe(1); // no re-request loop
    el.querySelector('[data-fk="video-retry"]').click();
    const asks = model.sent.filter((m) => m.kind === "video-request");
    expect(asks.length).toBe(2);
    expect(failure.hidden).toBe(true);
    sendVideo(model, asks[0]); // the stale transfer's answer is ignored
    expect(el.querySelector('video[data-fk="video"]').hidden).toBe(true);
    sendVideo(model, asks[1]);
    expect(el.querySelector('video[data-fk="video"]').getAttribute("src")).toBe("blob:http://localhost/video-1");
    expect(el.querySelector('[data-fk="download"]').hidden).toBe(false);
  });

  it("a host that drops buffers gets base64 chunks: asked for once, played, downloadable", () => {
    const model = fakeModel();
    widget.render({ model, el });
    answerProbe(model, false);
    expect(el.querySelector('[data-fk="root"]').getAttribute("data-video-encoding")).toBe("base64");
    model.set("_tasks", [
      card({
        status: "completed",
        progress: 100,
        watching: false,
        video: { name: "a.mp4", size: 3, mime: "video/mp4" },
      }),
    ]);
    const [request] = model.sent.filter((m) => m.kind === "video-request");
    expect(request.encoding).toBe("base64");
    model.deliver({
      id: request.id,
      kind: "video-response",
      ok: true,
      name: "a.mp4",
      mime: "video/mp4",
      total: 3,
      chunks: 1,
      chunk_size: 3,
      window: 3,
      encoding: "base64",
    });
    expect(el.querySelector('[data-fk="video-loading"]').textContent).toBe("Loading video 0 %");
    model.deliver({
      id: request.id,
      kind: "video-chunk",
      index: 0,
      offset: 0,
      size: 3,
      total: 3,
      encoding: "base64",
      last: true,
      data: btoa("abc"),
    });
    expect(el.querySelector('video[data-fk="video"]').getAttribute("src")).toBe("blob:http://localhost/video-1");
    expect(el.querySelector('[data-fk="download"]').hidden).toBe(false);
    expect(el.querySelector('[data-fk="video-loading"]').hidden).toBe(true);
    expect(model.sent.filter((m) => m.kind === "video-request").length).toBe(1);
  });

  it("binary chunks that lose their bytes switch the view to base64 and ask again once", () => {
    const model = fakeModel();
    widget.render({ model, el });
    answerProbe(model);
    model.set("_tasks", [
      card({
        status: "completed",
        progress: 100,
        watching: false,
        video: { name: "a.mp4", size: 3, mime: "video/mp4" },
      }),
    ]);
    const first = model.sent.find((m) => m.kind === "video-request");
    model.deliver({ id: first.id, kind: "video-response", ok: true, total: 3, chunks: 1, encoding: "binary" });
    model.deliver(
      { id: first.id, kind: "video-chunk", index: 0, offset: 0, size: 3, total: 3, encoding: "binary", last: true },
      [],
    );
    const asks = model.sent.filter((m) => m.kind === "video-request");
    expect(asks.map((m) => m.encoding)).toEqual(["binary", "base64"]);
    expect(model.sent.some((m) => m.kind === "video-cancel" && m.transfer === first.id)).toBe(true);
    expect(el.querySelector('[data-fk="video-error"]').hidden).toBe(true);
  });

  it("a provider URL plays directly; if it fails to play, the kernel's copy is fetched once", () => {
    const model = fakeModel();
    widget.render({ model, el });
    answerProbe(model);
    model.set("_tasks", [
      card({
        status: "completed",
        progress: 100,
        watching: false,
        video: { name: "a.mp4", size: 3, mime: "video/mp4" },
      }),
    ]);
    const first = model.sent.find((m) => m.kind === "video-request");
    model.deliver({
      id: first.id,
      kind: "video-response",
      ok: true,
      name: "a.mp4",
      mime: "video/mp4",
      url: "https://cdn.example.com/a.mp4",
    });
    const video = el.querySelector('video[data-fk="video"]');
    const download = el.querySelector('[data-fk="download"]');
    expect(video.getAttribute("src")).toBe("https://cdn.example.com/a.mp4");
    expect(download.getAttribute("href")).toBe("https://cdn.example.com/a.mp4");
    expect(download.getAttribute("target")).toBe("_blank");
    video.dispatchEvent(new Event("error"));
    const asks = model.sent.filter((m) => m.kind === "video-request");
    expect(asks.map((m) => m.direct)).toEqual([true, false]);
    sendVideo(model, asks[1]);
    expect(video.getAttribute("src")).toBe("blob:http://localhost/video-1");
    expect(download.getAttribute("target")).toBeNull();
    video.dispatchEvent(new Event("error")); // the bytes do not decode here: say so, keep Download
    expect(model.sent.filter((m) => m.kind === "video-request").length).toBe(2);
    expect(el.querySelector('[data-fk="video-error"]').textContent).toContain("Use Download");
    expect(el.querySelector('[data-fk="video-retry"]').hidden).toBe(true);
    expect(download.hidden).toBe(false);
  });

  it("a loopback URL from the kernel is never played: the chunks are asked for instead", () => {
    const model = fakeModel();
    widget.render({ model, el });
    answerProbe(model);
    model.set("_tasks", [
      card({
        status: "completed",
        progress: 100,
        watching: false,
        video: { name: "a.mp4", size: 3, mime: "video/mp4" },
      }),
    ]);
    const first = model.sent.find((m) => m.kind === "video-request");
    model.deliver({ id: first.id, kind: "video-response", ok: true, url: "http://127.0.0.1:8000/v/a.mp4" });
    expect(el.querySelector('video[data-fk="video"]').getAttribute("src")).toBeNull();
    expect(model.sent.filter((m) => m.kind === "video-request").map((m) => m.direct)).toEqual([true, false]);
  });

  it("loads wait for the probe; a probe with no answer means base64", () => {
    const model = fakeModel();
    widget.render({ model, el });
    model.set("_tasks", [
      card({
        status: "completed",
        progress: 100,
        watching: false,
        video: { name: "a.mp4", size: 3, mime: "video/mp4" },
      }),
    ]);
    expect(model.sent.filter((m) => m.kind === "video-request").length).toBe(0);
    vi.advanceTimersByTime(TIMEOUT_MS["video-probe"]);
    expect(model.sent.filter((m) => m.kind === "video-request").map((m) => m.encoding)).toEqual(["base64"]);
  });

  it("a refused or unanswered stop-watching says so", () => {
    const model = fakeModel();
    widget.render({ model, el });
    model.set("_tasks", [card()]);
    el.querySelector('[data-fk="stop-watching"]').click();
    const ask = model.sent.at(-1);
    model.deliver({ id: ask.id, kind: "stop-watching-response", ok: false });
    const notice = el.querySelector('[data-fk="notice"]');
    expect(notice.hidden).toBe(false);
    expect(notice.textContent).toContain("Not stopped");
    el.querySelector('[data-fk="edit-rerun"]').click();
    vi.advanceTimersByTime(TIMEOUT_MS["load-task"]);
    expect(notice.textContent).toBe(
      `The kernel did not answer within ${TIMEOUT_MS["load-task"] / 1000} s. If it is busy, wait; if it restarted, run the cell again.`,
    );
  });

  it("removing the view drops its waiting requests: no handler, no timer, nothing acts later", () => {
    const model = fakeModel();
    const before = model.listeners();
    const cleanup = widget.render({ model, el });
    el.querySelector('[data-fk="generate"]').click();
    const ask = model.sent.at(-1);
    cleanup();
    expect(model.listeners()).toBe(before);
    expect(vi.getTimerCount()).toBe(0);
    model.deliver({ id: ask.id, kind: "generate-response", ok: false, error: "after the view" });
    expect(el.textContent).not.toContain("after the view");
  });
});
