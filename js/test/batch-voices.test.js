// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from "vitest";
import { aspectValue, perRow } from "../src/gallery.js";
import { clampTime, createSyncGroup, longest, muteAllBut, soundSource } from "../src/sync.js";
import { toggleVoice, voiceChoices } from "../src/voices.js";
import widget from "../src/widget.js";
import { answerProbe, fakeCard, fakeModel, sendVideo } from "./fake-model.js";

/** A video-like object with the properties the sync group uses. */
function fakeVideo(duration, currentTime = 0) {
  return {
    duration,
    currentTime,
    paused: true,
    ended: false,
    play: vi.fn(function () {
      this.paused = false;
      return Promise.resolve();
    }),
    pause: vi.fn(function () {
      this.paused = true;
    }),
  };
}

describe("synced playback", () => {
  it("clamps to each video's length and follows the longest", () => {
    const a = fakeVideo(5);
    const b = fakeVideo(10);
    expect(clampTime(7, a)).toBe(5);
    expect(clampTime(-1, a)).toBe(0);
    expect(clampTime(3, fakeVideo(NaN))).toBe(0);
    expect(longest([a, b, fakeVideo(NaN)])).toBe(10);
    const group = createSyncGroup(() => [a, b]);
    expect(group.leader()).toBe(b);
    group.seek(7);
    expect([a.currentTime, b.currentTime]).toEqual([5, 7]);
  });

  it("plays all from the leader's time, restarts when it ended, pauses all", async () => {
    const a = fakeVideo(5, 1);
    const b = fakeVideo(5, 2);
    const group = createSyncGroup(() => [a, b]);
    await group.play();
    expect([a.currentTime, b.currentTime]).toEqual([1, 1]);
    expect(a.play).toHaveBeenCalled();
    expect(group.playing()).toBe(true);
    group.pause();
    expect(group.playing()).toBe(false);
    a.currentTime = b.currentTime = 5;
    await group.play();
    expect([a.currentTime, b.currentTime]).toEqual([0, 0]);
  });

  it("snaps drifting followers back to the leader", () => {
    const lead = fakeVideo(10, 4);
    const close = fakeVideo(5, 4.1);
    const far = fakeVideo(5, 3);
    for (const v of [lead, close, far]) v.paused = false;
    const group = createSyncGroup(() => [lead, close, far]);
    expect(group.correctDrift()).toBe(1);
    expect([close.currentTime, far.currentTime]).toEqual([4.1, 4]);
  });
});

describe("voice chips", () => {
  it("lists known voices and unnamed attached ids, and attaches at most two", () => {
    expect(voiceChoices([{ voice_id: "v1", name: "Ann" }], ["v1", "v9"])).toEqual([
      { voice_id: "v1", name: "Ann" },
      { voice_id: "v9", name: "v9" },
    ]);
    expect(toggleVoice([], "a")).toEqual({ ids: ["a"], error: "" });
    expect(toggleVoice(["a"], "a")).toEqual({ ids: [], error: "" });
    expect(toggleVoice(["a", "b"], "c").error).toMatch(/at most 2 voices/);
  });
});

const card = (id, index, over = {}) =>
  fakeCard({
    id,
    submitted_at: Date.now(),
    summary: "a fox",
    code: "",
    kind: "video",
    batch: { id: "batch-1", index, count: 3, label: ["16:9", "9:16", "1:1"][index] },
    voice: null,
    ...over,
  });

let el;
beforeEach(() => {
  document.body.replaceChildren();
  el = document.createElement("div");
  document.body.append(el);
});

describe("studio: batches and voices", () => {
  it("groups a batch into one gallery in request order, with queued items labelled", () => {
    const model = fakeModel({ _variations: ["16:9", "9:16", "1:1"] });
    widget.render({ model, el });
    expect(el.querySelector('[data-fk="generate"]').textContent).toBe("Generate 3 variations");
    // Newest first on the wire; the gallery shows them in batch order.
    model.set("_tasks", [
      card("local-3", 2, { status: "queued" }),
      card("t2", 1),
      card("t1", 0),
      { ...card("solo", 0), batch: null },
    ]);
    const galleries = el.querySelectorAll('[data-fk="gallery"]');
    expect(galleries.length).toBe(1);
    const labels = [...galleries[0].querySelectorAll('[data-fk="variation-label"]')].map((n) => n.textContent);
    expect(labels).toEqual(["16:9", "9:16", "1:1"]);
    // "Waiting": the one word for the studio's own queue (format.js LABELS), as on the cards.
    expect(galleries[0].textContent).toContain("1 waiting (2 at a time)");
    expect(el.querySelector('[data-fk="play-all"]').disabled).toBe(true); // no finished videos yet
    const top = [...el.querySelector('[data-fk="tasks"]').children].map((n) => n.getAttribute("data-fk"));
    expect(top).toEqual(["gallery", "task"]);
    model.set("_tasks", [card("t2", 1, { status: "completed" }), card("t1", 0, { status: "completed" })]);
    expect(el.querySelector('[data-fk="gallery-summary"]').textContent).toContain("1 not here");
    model.set("_tasks", []);
    expect(el.querySelector('[data-fk="gallery"]')).toBeNull();
  });

  it("variation buttons set vary and the concurrency input is clamped", () => {
    const model = fakeModel();
    widget.render({ model, el });
    el.querySelector('[data-fk="vary"] [data-value="aspect_ratio"]').click();
    expect(model.state.vary).toBe("aspect_ratio");
    const input = el.querySelector('[data-fk="concurrency"]');
    input.value = "40";
    input.dispatchEvent(new Event("change"));
    expect(model.state.concurrency).toBe(8);
  });

  it("voice chips attach (turning audio on, and saying so) and label the insert buttons", () => {
    const model = fakeModel({
      _voices: [
        { voice_id: "voice-a", name: "Narrator" },
        { voice_id: "voice-b", name: "<b>Bob</b>" },
      ],
    });
    widget.render({ model, el });
    const chips = el.querySelectorAll('[data-fk="voice-chip"]');
    expect([...chips].map((c) => c.textContent)).toEqual(["Narrator", "<b>Bob</b>"]); // text, never markup
    expect(el.querySelector('[data-fk="insert-voice-1"]').hidden).toBe(true);
    chips[0].click();
    expect(model.state.voice_ids).toEqual(["voice-a"]);
    expect(model.state.generate_audio).toBe(true);
    expect(el.querySelector('[data-fk="voice-note"]').textContent).toContain("Audio turned on");
    const insert = el.querySelector('[data-fk="insert-voice-1"]');
    expect(insert.hidden).toBe(false);
    expect(insert.textContent).toBe("+ <<<voice_1>>> Narrator");
    insert.click();
    expect(model.state.prompt).toBe("<<<voice_1>>>");
    model.set("voice_ids", ["voice-a", "voice-b"]);
    model.set("_voices", [...model.state._voices, { voice_id: "voice-c", name: "Cy" }]);
    el.querySelector('[data-voice-id="voice-c"]').click();
    expect(model.state.voice_ids).toEqual(["voice-a", "voice-b"]);
    expect(el.querySelector('[data-fk="voice-note"]').textContent).toContain("at most 2 voices");
  });

  it("a chip keeps keyboard focus when the chips are redrawn", () => {
    const model = fakeModel({
      _voices: [
        { voice_id: "voice-a", name: "Ann" },
        { voice_id: "voice-b", name: "Bo" },
      ],
    });
    widget.render({ model, el });
    el.querySelector('[data-voice-id="voice-b"]').focus();
    model.set("voice_ids", ["voice-b"]);
    expect(document.activeElement.getAttribute("data-voice-id")).toBe("voice-b");
  });

  it("create voice is disabled until the kernel accepts the URL, and shows its errors", () => {
    const model = fakeModel();
    widget.render({ model, el });
    const create = el.querySelector('[data-fk="create-voice"]');
    expect(create.disabled).toBe(true);
    const url = el.querySelector('[data-fk="voice-url"]');
    url.value = "ftp://x/a.mp3";
    url.dispatchEvent(new Event("input")); // the user typed it: its problems may show
    model.set("voice_url", "ftp://x/a.mp3");
    model.set("_voice_problems", [{ field: "voice_url", message: "must be an http(s) URL", level: "error" }]);
    expect(create.disabled).toBe(true);
    expect(el.querySelector('[data-fk-field="voice_url"]').textContent).toContain("http(s)");
    model.set("voice_url", "https://x/a.mp3");
    model.set("_voice_problems", []);
    expect(create.disabled).toBe(false);
    create.click();
    const request = model.sent.find((m) => m.kind === "create-voice");
    expect(request).toBeDefined();
    model.deliver({ id: request.id, kind: "create-voice-response", ok: true, task_id: "t-voice" });
    expect(el.querySelector('[data-fk="voice-note"]').textContent).toContain("Creating the voice");
  });
});

describe("gallery: shapes and sound", () => {
  const member = (id, status = "completed", audio_requested = true) => ({ id, status, audio_requested });

  it("reads a clip's shape and caps rows so they come out even", () => {
    expect(aspectValue("16:9")).toBeCloseTo(16 / 9, 3);
    expect(aspectValue("9:16")).toBeCloseTo(9 / 16, 3);
    expect(aspectValue("1:1")).toBe(1);
    expect(aspectValue(undefined)).toBeCloseTo(16 / 9, 3); // an older card without a request
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(perRow)).toEqual([1, 2, 3, 4, 5, 3, 4, 4]);
  });

  it("hears the chosen member, else the first finished one with audio, else none", () => {
    const cards = [member("a", "processing"), member("b", "completed", false), member("c"), member("d")];
    expect(soundSource(cards, null)).toBe("c");
    expect(soundSource(cards, "d")).toBe("d");
    expect(soundSource(cards, "b")).toBe("c"); // no audio asked: cannot be the one heard
    expect(soundSource(cards, "gone")).toBe("c");
    expect(soundSource([member("a", "queued")], null)).toBeNull();
  });

  it("mutes every video but one, touching only those that change", () => {
    const videos = [{ muted: false }, { muted: false }, { muted: true }];
    muteAllBut(videos, 2);
    expect(videos.map((v) => v.muted)).toEqual([true, true, false]);
    muteAllBut(videos, -1);
    expect(videos.map((v) => v.muted)).toEqual([true, true, true]);
  });
});

describe("studio: the gallery's clips", () => {
  it("turns native controls off, sizes cards by shape, and moves the sound with sound-from", () => {
    const model = fakeModel({ _variations: ["16:9", "9:16", "1:1"] });
    widget.render({ model, el });
    const aspects = ["16:9", "9:16", "1:1"];
    model.set(
      "_tasks",
      [0, 1, 2].map((i) =>
        card(`t${i}`, i, {
          status: "completed",
          audio_requested: true,
          request: { aspect_ratio: aspects[i], prompt: "a fox" },
        }),
      ),
    );
    const gallery = el.querySelector('[data-fk="gallery"]');
    const videos = [...gallery.querySelectorAll('video[data-fk="video"]')];
    expect(videos.map((v) => v.controls)).toEqual([false, false, false]);
    const shapes = [...gallery.querySelectorAll('[data-fk="task"]')].map((c) =>
      Number(c.style.getPropertyValue("--fk-ar")),
    );
    expect(shapes[0]).toBeCloseTo(16 / 9, 3);
    expect(shapes[1]).toBeCloseTo(9 / 16, 3);
    expect(shapes[2]).toBe(1);
    expect(gallery.querySelector('[data-fk="gallery-grid"]').hasAttribute("data-even")).toBe(false); // mixed shapes
    expect(gallery.querySelector('[data-fk="gallery-about"]').textContent).toBe("a fox"); // the shared prompt, once
    expect(videos.map((v) => v.muted)).toEqual([false, true, true]);
    const sound = [...gallery.querySelectorAll('[data-fk="sound-from"]')];
    sound[2].click();
    expect(videos.map((v) => v.muted)).toEqual([true, true, false]);
    expect(sound.map((b) => b.getAttribute("aria-pressed"))).toEqual(["false", "false", "true"]);
    expect(sound[1].getAttribute("aria-label")).toBe("Sound from 9:16");
    expect(gallery.querySelector('[data-fk="play-one"]').getAttribute("aria-label")).toBe("Play 16:9 alone");
  });
});

describe("studio: the gallery's words", () => {
  it("a batch of one says 1 variation", () => {
    const model = fakeModel({ _tasks: [card("t0", 0, { batch: { id: "b1", index: 0, count: 1, label: "16:9" } })] });
    widget.render({ model, el });
    expect(el.querySelector(".fk-gallery-title").textContent).toBe("1 variation");
  });

  it("play-alone's name says Pause while its clip plays", () => {
    URL.createObjectURL = vi.fn(() => "blob:http://localhost/v");
    const model = fakeModel({ _tasks: [0, 1].map((i) => card(`t${i}`, i, { status: "completed", video: { x: 1 } })) });
    widget.render({ model, el });
    answerProbe(model);
    for (const request of model.sent.filter((m) => m.kind === "video-request")) sendVideo(model, request, 4);
    const one = el.querySelector('[data-fk="play-one"]');
    const video = el.querySelector('video[data-fk="video"]');
    expect(one.getAttribute("aria-label")).toMatch(/^Play .+ alone$/);
    Object.defineProperty(video, "paused", { value: false, configurable: true });
    video.dispatchEvent(new Event("play"));
    expect(one.textContent).toBe("❚❚");
    expect(one.getAttribute("aria-label")).toMatch(/^Pause /);
  });
});
