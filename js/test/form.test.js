// @vitest-environment happy-dom
// The studio's form: problems after the user acts, its words, folding, the timeline's boundaries,
// the kernel-lost notice, the options the kernel sends, and listeners that end with the view.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { problemsToShow } from "../src/controls.js";
import { KERNEL_LOST, PROBE_TIMEOUT_MS } from "../src/liveness.js";
import { FALLBACK_OPTIONS, options, TIMEOUT_MS } from "../src/protocol.js";
import { PROMPT_RELATION } from "../src/segment-editor.js";
import * as seg from "../src/segments.js";
import widget from "../src/widget.js";
import { fakeModel } from "./fake-model.js";

let el;
beforeEach(() => {
  document.body.replaceChildren();
  el = document.createElement("div");
  document.body.append(el);
});
const q = (selector) => el.querySelector(selector);
const off = () => q('[data-fk="generate"]').getAttribute("aria-disabled") === "true";

/** Turn multi-shot on for a 10 s clip: two 5 s shots. */
function multishot(model) {
  const toggle = q('[data-fk="multishot"]');
  toggle.checked = true;
  toggle.dispatchEvent(new Event("change"));
  return model;
}

describe("problemsToShow", () => {
  const all = [
    { field: "prompt", message: "a" },
    { field: "multi_prompt", message: "sum" },
    { field: "multi_prompt[1].prompt", message: "b" },
    { field: "multi_prompt[1].duration", message: "c" },
    { field: "budget", message: "d" },
  ];
  it("shows nothing untouched, a field's own once touched, everything once tried", () => {
    expect(problemsToShow(all, new Set(), false)).toEqual([]);
    expect(problemsToShow(all, new Set(["prompt"]), false).map((p) => p.message)).toEqual(["a"]);
    expect(problemsToShow(all, new Set(["multi_prompt"]), false).map((p) => p.message)).toEqual(["sum"]);
    expect(problemsToShow(all, new Set(["multi_prompt[1]"]), false).map((p) => p.message)).toEqual(["b", "c"]);
    expect(problemsToShow(all, new Set(["multi_prompt[1].prompt"]), false).map((p) => p.message)).toEqual(["b"]);
    expect(problemsToShow(all, new Set(), true)).toEqual(all);
  });
});

describe("options", () => {
  it("FALLBACK_OPTIONS is plain JSON in protocol.js (a Python test parses it) and frozen", () => {
    const source = readFileSync(resolve(process.cwd(), "src/protocol.js"), "utf8"); // vitest runs in js/
    const literal = source.match(/export const FALLBACK_OPTIONS = deepFreeze\((\{[\s\S]*?\n\})\);/)[1];
    expect(JSON.parse(literal)).toEqual(FALLBACK_OPTIONS);
    expect(Object.isFrozen(FALLBACK_OPTIONS.vary_modes[0])).toBe(true);
    expect(Object.keys(FALLBACK_OPTIONS).sort()).toEqual(
      [
        "resolutions",
        "aspect_ratios",
        "durations",
        "max_prompt",
        "max_negative_prompt",
        "max_voices",
        "max_segments",
        "segment_prompt_soft_limit",
        "max_voice_name",
        "vary_modes",
        "max_batch",
        "concurrency",
        "audio_extensions",
        "controls",
        "statuses",
      ].sort(),
    );
  });

  it("reads the kernel's _options, key by key over the fallback", () => {
    const model = fakeModel({ _options: { resolutions: ["720p"], max_prompt: 10 } });
    expect(options(model).resolutions).toEqual(["720p"]);
    expect(options(model).durations).toEqual(FALLBACK_OPTIONS.durations);
    expect(options(model)).toBe(options(model)); // one merge per trait value
    expect(options(fakeModel())).toBe(FALLBACK_OPTIONS);
  });

  it("the studio draws its choices and limits from _options", () => {
    const model = fakeModel({
      _options: {
        resolutions: ["720p", "1080p"],
        max_prompt: 10,
        max_voices: 3,
        max_voice_name: 12,
        concurrency: { default: 3, max: 4 },
      },
      concurrency: undefined,
    });
    widget.render({ model, el });
    expect([...el.querySelectorAll('[data-fk="resolution"] [data-value]')].map((b) => b.textContent)).toEqual([
      "720p",
      "1080p",
    ]);
    expect(q('[data-fk="prompt-count"]').textContent).toBe("0 / 10");
    expect(q('[data-fk="insert-voice-3"]')).not.toBeNull();
    expect(q('[data-fk="voice-name"]').getAttribute("maxlength")).toBe("12");
    expect(q('[data-fk="concurrency"]').getAttribute("max")).toBe("4");
    expect(q('[data-fk="concurrency"]').value).toBe("3");
  });
});

describe("the form's traits come from the kernel", () => {
  const pressed = () => q('[data-fk="resolution"] [aria-pressed="true"]')?.textContent;

  it("a change to a trait in _options.controls redraws the form", () => {
    const model = fakeModel();
    widget.render({ model, el });
    expect(FALLBACK_OPTIONS.controls).toContain("resolution");
    model.set("resolution", "4k");
    expect(pressed()).toBe("4k");
  });

  it("a trait the kernel does not list is not listened to", () => {
    const controls = FALLBACK_OPTIONS.controls.filter((name) => name !== "resolution");
    const model = fakeModel({ _options: { controls } });
    widget.render({ model, el });
    model.set("resolution", "4k");
    expect(pressed()).toBe("720p");
  });
});

describe("a fresh studio", () => {
  it("shows no error until the user acts, and Generate says why it is off", () => {
    const problems = [
      { field: "prompt", message: "The prompt is empty: describe what should happen.", level: "error" },
    ];
    const model = fakeModel({ _problems: problems });
    widget.render({ model, el });
    expect(el.querySelectorAll(".fk-msg-error:not([hidden])").length).toBe(0);
    expect(q('[data-fk="prompt"]').getAttribute("aria-invalid")).toBe("false");
    expect(off()).toBe(true);
    expect(q('[data-fk="generate"]').disabled).toBe(false); // focusable: its reason can be read
    expect(q('[data-fk="generate"]').title).toContain("The prompt is empty");
    q('[data-fk="prompt"]').dispatchEvent(new Event("blur"));
    expect(q('[data-fk-field="prompt"]').textContent).toBe(problems[0].message);
    expect(q('[data-fk="prompt"]').getAttribute("aria-invalid")).toBe("true");
  });

  it("Multi-shot on adds no error before a shot is touched", () => {
    const model = fakeModel({ duration: 10 });
    widget.render({ model, el });
    multishot(model);
    model.set("_problems", [
      { field: "multi_prompt[0].prompt", message: "Shot 1's prompt is empty.", level: "error" },
      { field: "multi_prompt[1].prompt", message: "Shot 2's prompt is empty.", level: "error" },
    ]);
    expect(el.querySelectorAll(".fk-msg-error:not([hidden])").length).toBe(0);
    const first = el.querySelectorAll('[data-fk="segment-prompt"]')[0];
    first.value = " ";
    first.dispatchEvent(new Event("input"));
    // The verdict shown is the kernel's on the old text: it waits for the one on the new text.
    expect(q('[data-fk="segment"][data-index="0"]').textContent).not.toContain("Shot 1's prompt is empty.");
    model.set("_problems", [...model.state._problems]); // the kernel's answer (still empty: a space)
    expect(q('[data-fk="segment"][data-index="0"]').textContent).toContain("Shot 1's prompt is empty.");
    expect(q('[data-fk="segment"][data-index="1"]').textContent).not.toContain("Shot 2's prompt is empty.");
  });
});

describe("typing does not flash the verdict on the old text", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("a first key in an empty prompt shows no 'empty' error; the kernel's verdict, or a second's quiet, settles it", () => {
    const model = fakeModel({ _problems: [{ field: "prompt", message: "The prompt is empty.", level: "error" }] });
    widget.render({ model, el });
    const prompt = q('[data-fk="prompt"]');
    prompt.value = "A";
    prompt.dispatchEvent(new Event("input"));
    expect(q('[data-fk-field="prompt"]').textContent).toBe("");
    vi.advanceTimersByTime(300); // the edit is sent; the kernel answers with no problem
    model.set("_problems", []);
    expect(q('[data-fk-field="prompt"]').textContent).toBe("");
    prompt.value = "";
    prompt.dispatchEvent(new Event("input"));
    vi.advanceTimersByTime(300);
    model.set("_problems", [{ field: "prompt", message: "The prompt is empty.", level: "error" }]);
    expect(q('[data-fk-field="prompt"]').textContent).toBe("The prompt is empty.");
  });

  it("with no new verdict (the same problem), it shows after a second", () => {
    const model = fakeModel({ _problems: [{ field: "negative_prompt", message: "Too long.", level: "error" }] });
    widget.render({ model, el });
    const negative = q('[data-fk="negative-prompt"]');
    negative.dispatchEvent(new Event("input"));
    expect(q('[data-fk-field="negative_prompt"]').textContent).toBe("");
    vi.advanceTimersByTime(1_000);
    expect(q('[data-fk-field="negative_prompt"]').textContent).toBe("Too long.");
  });
});

describe("a budget the controls would pass", () => {
  it("holds Generate back with the budget's reason; nothing is sent", () => {
    const model = fakeModel();
    widget.render({ model, el });
    model.set("_budget", { cap: 0, reserved: 0, left: 0, refused: "No credits may be reserved." });
    expect(off()).toBe(true);
    expect(q('[data-fk="generate"]').title).toBe("Over the budget: No credits may be reserved.");
    q('[data-fk="generate"]').click();
    expect(model.sent.filter((m) => m.kind === "generate")).toEqual([]);
    model.set("_budget", { cap: 10, reserved: 0, left: 10, refused: "" });
    expect(off()).toBe(false);
  });
});

describe("after a clip started", () => {
  it("the next form is judged afresh: shots turned on later show no error until touched", () => {
    const model = fakeModel({ duration: 10 });
    widget.render({ model, el });
    q('[data-fk="generate"]').click();
    const ask = model.sent.find((m) => m.kind === "generate");
    model.deliver({ id: ask.id, kind: "generate-response", ok: true, task_id: "gen-1" });
    multishot(model);
    model.set("_problems", [{ field: "multi_prompt[0].prompt", message: "Shot 1's prompt is empty.", level: "error" }]);
    expect(el.querySelectorAll(".fk-msg-error:not([hidden])").length).toBe(0);
  });
});

describe("words", () => {
  it("the counter turns to the error colour over the limit", () => {
    const model = fakeModel({ _options: { max_prompt: 5 } });
    widget.render({ model, el });
    const prompt = q('[data-fk="prompt"]');
    prompt.value = "12345";
    prompt.dispatchEvent(new Event("input"));
    expect(q('[data-fk="prompt-count"]').classList.contains("fk-over")).toBe(false);
    prompt.value = "123456";
    prompt.dispatchEvent(new Event("input"));
    expect(q('[data-fk="prompt-count"]').textContent).toBe("6 / 5");
    expect(q('[data-fk="prompt-count"]').classList.contains("fk-over")).toBe(true);
  });

  it("Generate counts its variations in words; the concurrency box and the split button say what they are", () => {
    const model = fakeModel({ duration: 10 });
    widget.render({ model, el });
    model.set("_variations", ["a"]);
    expect(q('[data-fk="generate"]').textContent).toBe("Generate 1 variation");
    model.set("_variations", ["a", "b", "c"]);
    expect(q('[data-fk="generate"]').textContent).toBe("Generate 3 variations");
    const label = q('[data-fk="concurrency-label"]');
    expect(label.tagName).toBe("LABEL");
    expect(label.contains(q('[data-fk="concurrency"]'))).toBe(true);
    expect(label.textContent).toBe("Run at mostat a time"); // the box sits between the words
    multishot(model);
    const split = q('[data-fk="split-segment"]');
    expect(split.textContent).toContain("Split");
    expect(split.getAttribute("aria-label")).toBe("Split shot 1");
    expect(q('[data-fk="prompt-relation"]').textContent).toBe(PROMPT_RELATION);
  });

  it("a hint says what pressing a voice does; the voice note changes once the voice arrived", () => {
    const model = fakeModel({ voice_url: "https://example.com/a.mp3", voice_name: "Narrator" });
    widget.render({ model, el });
    expect(q('[data-fk="voice-hint"]').textContent).toContain("Press a voice to attach it");
    expect(el.textContent.split(".mp3, .ogg").length).toBeLessThanOrEqual(1); // types listed once, in words
    q('[data-fk="voice-url"]').value = "https://example.com/a.mp3";
    q('[data-fk="create-voice"]').click();
    const ask = model.sent.find((m) => m.kind === "create-voice");
    model.deliver({ id: ask.id, kind: "create-voice-response", ok: true, task_id: "v1" });
    const note = q('[data-fk="voice-note"]');
    expect(note.textContent).toContain("It shows up here when it is ready");
    model.set("_voices", [{ voice_id: "voice-n", name: "Narrator" }]);
    expect(note.textContent).toBe('The voice "Narrator" is ready: press it to attach it to the clip.');
  });
});

describe("folding the form", () => {
  it("folds to one line with the prompt's start; Generate stays; the line unfolds it", () => {
    const model = fakeModel({ prompt: "A red fox runs through the snow\nsecond line" });
    widget.render({ model, el });
    const collapse = q('[data-fk="collapse"]');
    expect(collapse.getAttribute("aria-expanded")).toBe("true");
    collapse.click();
    expect(collapse.getAttribute("aria-expanded")).toBe("false");
    expect(q('[data-fk="prompt"]').closest("[hidden]")).not.toBeNull();
    expect(q('[data-fk="multishot"]').closest("[hidden]")).not.toBeNull();
    const line = q('[data-fk="folded"]');
    expect(line.hidden).toBe(false);
    expect(line.textContent).toBe("A red fox runs through the snow · 16:9 · 5 s · 720p");
    expect(q('[data-fk="generate"]').closest("[hidden]")).toBeNull();
    model.set("prompt", "A grey wolf");
    expect(line.textContent).toContain("A grey wolf");
    line.click();
    expect(collapse.getAttribute("aria-expanded")).toBe("true");
    expect(q('[data-fk="prompt"]').closest("[hidden]")).toBeNull();
  });
});

describe("timeline boundaries", () => {
  it("moveBoundary keeps every shot >= 1 s and the sum unchanged", () => {
    const shots = [
      { prompt: "a", duration: 3 },
      { prompt: "b", duration: 4 },
      { prompt: "c", duration: 3 },
    ];
    for (const index of [0, 1]) {
      for (let delta = -12; delta <= 12; delta += 1) {
        const next = seg.moveBoundary(shots, index, delta);
        expect(seg.total(next)).toBe(10);
        expect(next.every((s) => Number.isInteger(s.duration) && s.duration >= 1)).toBe(true);
        expect(next.map((s) => s.prompt)).toEqual(["a", "b", "c"]);
      }
    }
    expect(seg.moveBoundary(shots, 0, 1).map((s) => s.duration)).toEqual([4, 3, 3]);
    expect(seg.setBoundary(shots, 1, 5.4).map((s) => s.duration)).toEqual([3, 2, 5]);
  });

  it("a separator moves a second per arrow key, says where it is, and saves", () => {
    vi.useFakeTimers();
    try {
      const model = fakeModel({ duration: 10 });
      widget.render({ model, el });
      multishot(model);
      const sep = q('[data-fk="boundary"]');
      expect(sep.getAttribute("role")).toBe("separator");
      expect(sep.getAttribute("tabindex")).toBe("0");
      expect(sep.getAttribute("aria-valuenow")).toBe("5");
      sep.focus();
      sep.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true }));
      sep.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true }));
      expect(sep.getAttribute("aria-valuenow")).toBe("7");
      expect(document.activeElement).toBe(sep); // the same element: focus stays on it
      expect(q('[data-fk="segment-sum"]').textContent).toBe("Shots add up to 10 s of 10 s");
      vi.advanceTimersByTime(300);
      expect(model.state.segments.map((s) => s.duration)).toEqual([7, 3]);
      sep.dispatchEvent(new KeyboardEvent("keydown", { key: "End", bubbles: true }));
      expect(sep.getAttribute("aria-valuenow")).toBe("9");
      sep.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true }));
      expect(sep.getAttribute("aria-valuenow")).toBe("9"); // shot 2 keeps its last second
      sep.dispatchEvent(new KeyboardEvent("keydown", { key: "Home", bubbles: true }));
      expect(sep.getAttribute("aria-valuenow")).toBe("1");
    } finally {
      vi.useRealTimers();
    }
  });

  it("a separator dragged with the pointer lands on whole seconds", () => {
    const model = fakeModel({ duration: 10 });
    widget.render({ model, el });
    multishot(model);
    const timeline = q('[data-fk="timeline"]');
    timeline.getBoundingClientRect = () => ({ left: 100, width: 200, top: 0, height: 20, right: 300, bottom: 20 });
    const sep = q('[data-fk="boundary"]');
    sep.dispatchEvent(new PointerEvent("pointerdown", { clientX: 200, pointerId: 1, bubbles: true }));
    sep.dispatchEvent(new PointerEvent("pointermove", { clientX: 163, pointerId: 1, bubbles: true })); // 3.15 s
    expect(sep.getAttribute("aria-valuenow")).toBe("3");
    sep.dispatchEvent(new PointerEvent("pointermove", { clientX: 500, pointerId: 1, bubbles: true })); // past the end
    expect(sep.getAttribute("aria-valuenow")).toBe("9");
    sep.dispatchEvent(new PointerEvent("pointerup", { clientX: 500, pointerId: 1, bubbles: true }));
    expect(model.state.segments.map((s) => s.duration)).toEqual([9, 1]); // saved on release
    sep.dispatchEvent(new PointerEvent("pointermove", { clientX: 150, pointerId: 1, bubbles: true }));
    expect(sep.getAttribute("aria-valuenow")).toBe("9"); // no drag after the release
  });
});

describe("a kernel that goes away", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("comm_live false (the widget manager on a restart) shows the notice and turns Generate off", () => {
    const model = fakeModel();
    widget.render({ model, el });
    expect(off()).toBe(false);
    model.trigger("comm_live_update", { model: { comm_live: false } }); // Backbone: `this` is the view
    const notice = q('[data-fk="notice"]');
    expect(notice.hidden).toBe(false);
    expect(notice.textContent).toBe(KERNEL_LOST);
    expect(off()).toBe(true);
    expect(q('[data-fk="generate"]').title).toBe(KERNEL_LOST);
    q('[data-fk="generate"]').click();
    expect(model.sent.filter((m) => m.kind === "generate")).toEqual([]);
  });

  it("comm_live on the model itself is read too", () => {
    const model = fakeModel();
    widget.render({ model, el });
    model.comm_live = false;
    model.trigger("comm_live_update");
    expect(q('[data-fk="notice"]').textContent).toBe(KERNEL_LOST);
  });

  it("a request that times out, then a probe nobody answers, means the kernel is lost", () => {
    const model = fakeModel();
    widget.render({ model, el });
    model.send = (content) => model.sent.push(content); // from now on nobody answers, not even a ping
    q('[data-fk="generate"]').click();
    vi.advanceTimersByTime(TIMEOUT_MS.generate);
    expect(model.sent.at(-1).kind).toBe("ping");
    expect(q('[data-fk="notice"]').textContent).toContain("did not answer");
    vi.advanceTimersByTime(PROBE_TIMEOUT_MS);
    expect(q('[data-fk="notice"]').textContent).toBe(KERNEL_LOST);
    expect(off()).toBe(true);
  });

  it("a send the host refuses (no kernel connection) means the kernel is lost", () => {
    const model = fakeModel();
    widget.render({ model, el });
    model.send = () => {
      throw new Error("Kernel is dead");
    };
    q('[data-fk="generate"]').click();
    expect(q('[data-fk="notice"]').textContent).toBe(KERNEL_LOST);
    expect(off()).toBe(true);
    expect(q('[data-fk="generate"]').disabled).toBe(false); // not stuck waiting for an answer
  });
});

describe("listener lifetimes", () => {
  it("removing the view removes every model and DOM listener it added", () => {
    const model = fakeModel({ duration: 10 });
    const before = model.listeners();
    const cleanup = widget.render({ model, el });
    multishot(model);
    const generate = q('[data-fk="generate"]');
    const prompt = q('[data-fk="prompt"]');
    cleanup();
    expect(model.listeners()).toBe(before);
    model.sent.length = 0;
    generate.click();
    prompt.value = "typed after removal";
    prompt.dispatchEvent(new Event("input"));
    prompt.dispatchEvent(new Event("blur"));
    q('[data-fk="add-segment"]').click();
    expect(model.sent).toEqual([]);
    expect(model.state.prompt).toBe("");
    expect(model.state.segments.length).toBe(2);
  });
});
