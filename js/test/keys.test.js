// @vitest-environment happy-dom
// The studio keeps its own keys from the notebook host (JupyterLab's shortcuts, VS Code's
// forwarding of every keydown that reaches the window), and lets the host have the rest.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { guardKeys, isTextField, keepsKey } from "../src/keys.js";
import { FALLBACK_OPTIONS, KIND } from "../src/protocol.js";

const MAX_PROMPT = FALLBACK_OPTIONS.max_prompt;

import widget from "../src/widget.js";
import { fakeModel } from "./fake-model.js";

/** @type {HTMLElement} */
let el;
/** @type {KeyboardEvent[]} */
let reached;
const host = (/** @type {KeyboardEvent} */ event) => reached.push(event);

beforeEach(() => {
  document.body.replaceChildren();
  el = document.createElement("div");
  document.body.append(el);
  reached = [];
  document.addEventListener("keydown", host);
});
afterEach(() => document.removeEventListener("keydown", host));

/** Dispatch a keydown on `target` as a browser would; returns whether it was not cancelled. */
function press(target, key, mods = {}) {
  return target.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true, cancelable: true, ...mods }));
}

const studio = (initial = {}) => {
  const model = fakeModel(initial);
  const cleanup = widget.render({ model, el });
  return { model, cleanup };
};

const TEXT_FIELDS = [
  "prompt",
  "negative-prompt",
  "segment-prompt",
  "segment-duration",
  "voice-url",
  "voice-name",
  "api-key",
  "concurrency",
];
const multishot = {
  multishot: true,
  segments: [
    { prompt: "a", duration: 3 },
    { prompt: "b", duration: 2 },
  ],
};

describe("text fields keep their keys", () => {
  it.each(TEXT_FIELDS)("%s: Enter, Shift+Enter, Ctrl+Enter, ⌘+Enter, Tab, letters do not reach the host", (hook) => {
    studio(multishot);
    const field = el.querySelector(`[data-fk="${hook}"]`);
    expect(field, hook).not.toBeNull();
    press(field, "Enter");
    press(field, "Enter", { shiftKey: true });
    press(field, "Enter", { ctrlKey: true });
    press(field, "Enter", { metaKey: true });
    press(field, "Tab");
    press(field, "d");
    press(field, "D", { shiftKey: true });
    press(field, "a", { ctrlKey: true }); // select all in the field, not all cells
    press(field, "z", { ctrlKey: true });
    expect(reached.map((e) => e.key)).toEqual([]);
  });

  it.each(TEXT_FIELDS)("%s: Escape reaches the host (the keyboard user's way out of the widget)", (hook) => {
    studio(multishot);
    press(el.querySelector(`[data-fk="${hook}"]`), "Escape");
    expect(reached.map((e) => e.key)).toEqual(["Escape"]);
  });

  it("Enter in the prompt is not cancelled: the textarea inserts its newline", () => {
    studio();
    const prompt = el.querySelector('[data-fk="prompt"]');
    expect(press(prompt, "Enter")).toBe(true);
    expect(press(prompt, "Enter", { shiftKey: true })).toBe(true);
  });

  it("Enter in a shot prompt is not cancelled either", () => {
    studio(multishot);
    expect(press(el.querySelector('[data-fk="segment-prompt"]'), "Enter")).toBe(true);
  });

  it("Ctrl+Enter and ⌘+Enter in the prompt still generate, once per press, and insert no newline", () => {
    const { model } = studio({ prompt: "a fox" });
    const prompt = el.querySelector('[data-fk="prompt"]');
    expect(press(prompt, "Enter", { ctrlKey: true })).toBe(false);
    press(prompt, "Enter", { ctrlKey: true, repeat: true }); // held down: no second start
    expect(model.sent.filter((m) => m.kind === "generate").length).toBe(1);
    model.deliver({ id: model.sent.at(-1).id, ok: true });
    expect(press(prompt, "Enter", { metaKey: true })).toBe(false);
    expect(model.sent.filter((m) => m.kind === "generate").length).toBe(2);
    expect(reached).toEqual([]);
  });

  it("Enter in the key field still submits the key (and stays in the studio)", () => {
    const { model } = studio();
    const input = el.querySelector('[data-fk="api-key"]');
    input.value = "sk-test";
    press(input, "Enter");
    expect(model.sent.at(-1)).toMatchObject({ kind: KIND.setKey, key: "sk-test" });
    expect(reached).toEqual([]);
  });

  it("the host keeps its command chords the field does not use (save, palette), F-keys", () => {
    studio();
    const prompt = el.querySelector('[data-fk="prompt"]');
    const mac = navigator.platform.includes("Mac");
    const accel = mac ? { metaKey: true } : { ctrlKey: true };
    press(prompt, "s", accel);
    press(prompt, "P", { ...accel, shiftKey: true });
    press(prompt, "F1");
    expect(reached.map((e) => e.key)).toEqual(["s", "P", "F1"]);
  });

  it("a modifier pressed on its own stays with the field (Lab would cancel the newline of Shift+Enter)", () => {
    studio();
    const prompt = el.querySelector('[data-fk="prompt"]');
    press(prompt, "Shift", { shiftKey: true });
    press(prompt, "Control", { ctrlKey: true });
    press(prompt, "Alt", { altKey: true });
    expect(reached).toEqual([]);
  });

  it("after the view is removed, nothing is stopped any more", () => {
    const { cleanup } = studio();
    const prompt = el.querySelector('[data-fk="prompt"]');
    cleanup();
    press(prompt, "Enter");
    expect(reached.map((e) => e.key)).toEqual(["Enter"]);
  });
});

describe("a host that handles keys in the capture phase (Notebook 7's Lumino)", () => {
  /** What Lumino does: no shortcut for a target inside [data-lm-suppress-shortcuts]. */
  let seen;
  const lumino = (/** @type {KeyboardEvent} */ event) => {
    if (!event.target.closest("[data-lm-suppress-shortcuts]")) seen.push(event.key);
  };
  beforeEach(() => {
    seen = [];
    document.addEventListener("keydown", lumino, true);
  });
  afterEach(() => document.removeEventListener("keydown", lumino, true));

  it.each(TEXT_FIELDS)("%s: the studio's keys are suppressed while dispatched, the host's are not", (hook) => {
    studio(multishot);
    const field = el.querySelector(`[data-fk="${hook}"]`);
    press(field, "Enter");
    press(field, "Enter", { shiftKey: true });
    press(field, "Enter", { ctrlKey: true });
    press(field, "x");
    press(field, "Escape");
    press(field, "F1");
    expect(seen).toEqual(["Escape", "F1"]);
    expect(el.querySelector("[data-lm-suppress-shortcuts]")).toBeNull(); // only during the dispatch
  });

  it("Shift+Enter on a button is the host's; Enter on it is the button's", () => {
    studio();
    const button = el.querySelector('[data-fk="generate"]');
    press(button, "Enter");
    press(button, "Enter", { shiftKey: true });
    expect(seen).toEqual(["Enter"]); // the Shift+Enter one
  });

  it("no mark is left behind when something stops the key before the root sees it", async () => {
    studio();
    const prompt = el.querySelector('[data-fk="prompt"]');
    const stopper = (/** @type {Event} */ e) => e.stopPropagation();
    prompt.addEventListener("keydown", stopper);
    press(prompt, "a");
    expect(el.querySelector('[data-fk="root"]').hasAttribute("data-lm-suppress-shortcuts")).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(el.querySelector("[data-lm-suppress-shortcuts]")).toBeNull();
  });

  it("after the view is removed, the host sees every key again", () => {
    const { cleanup } = studio();
    const prompt = el.querySelector('[data-fk="prompt"]');
    cleanup();
    press(prompt, "Enter");
    expect(seen).toEqual(["Enter"]);
  });
});

describe("keepsKey", () => {
  const textarea = () => document.createElement("textarea");
  const on = (target, key, mods = {}) => {
    const event = new KeyboardEvent("keydown", { key, ...mods });
    Object.defineProperty(event, "target", { value: target });
    return event;
  };

  it("a timeline separator keeps the arrows and Home/End, as a slider does; Shift+Enter goes on", () => {
    const sep = document.createElement("div");
    sep.setAttribute("role", "separator");
    for (const key of ["ArrowLeft", "ArrowRight", "Home", "End"]) expect(keepsKey(on(sep, key)), key).toBe(true);
    expect(keepsKey(on(sep, "Enter", { shiftKey: true }))).toBe(false);
    expect(keepsKey(on(document.createElement("div"), "ArrowLeft"))).toBe(false);
  });

  it("AltGr (Ctrl+Alt off macOS) types characters: the field keeps it", () => {
    expect(keepsKey(on(textarea(), "@", { ctrlKey: true, altKey: true }), false)).toBe(true);
    expect(keepsKey(on(textarea(), "s", { ctrlKey: true }), false)).toBe(false);
  });

  it("macOS: ⌘ chords are the host's unless editing; Ctrl+letter is text editing", () => {
    expect(keepsKey(on(textarea(), "s", { metaKey: true }), true)).toBe(false);
    expect(keepsKey(on(textarea(), "v", { metaKey: true }), true)).toBe(true);
    expect(keepsKey(on(textarea(), "e", { ctrlKey: true }), true)).toBe(true);
    expect(keepsKey(on(textarea(), "Enter", { ctrlKey: true }), true)).toBe(true);
  });

  it("keys of an IME composition stay with the field, Escape included", () => {
    expect(keepsKey(on(textarea(), "Escape", { isComposing: true }), false)).toBe(true);
    expect(keepsKey(on(textarea(), "Process"), false)).toBe(true);
  });

  it("buttons keep Enter and Space; host chords and letters go on", () => {
    const button = document.createElement("button");
    expect(keepsKey(on(button, "Enter"), false)).toBe(true);
    expect(keepsKey(on(button, " "), false)).toBe(true);
    expect(keepsKey(on(button, "Enter", { shiftKey: true }), false)).toBe(false);
    expect(keepsKey(on(button, "Enter", { ctrlKey: true }), false)).toBe(false);
    expect(keepsKey(on(button, "a"), false)).toBe(false);
    expect(keepsKey(on(button, "ArrowDown"), false)).toBe(false);
    expect(keepsKey(on(button, "Escape"), false)).toBe(false);
  });

  it("sliders and videos keep the arrows, Home/End, Page Up/Down", () => {
    const range = document.createElement("input");
    range.type = "range";
    const video = document.createElement("video");
    for (const target of [range, video]) {
      for (const key of ["ArrowLeft", "ArrowUp", "Home", "End", "PageDown"])
        expect(keepsKey(on(target, key), false)).toBe(true);
      expect(keepsKey(on(target, "Enter", { shiftKey: true }), false)).toBe(false);
    }
  });

  it("isTextField: text-like inputs, textareas, selects, contenteditable; not buttons or checkboxes", () => {
    const input = (type) => Object.assign(document.createElement("input"), { type });
    for (const type of ["text", "url", "password", "number", "search", "email"])
      expect(isTextField(input(type)), type).toBe(true);
    for (const type of ["checkbox", "range", "button"]) expect(isTextField(input(type)), type).toBe(false);
    expect(isTextField(document.createElement("select"))).toBe(true);
    expect(isTextField(document.createElement("button"))).toBe(false);
    expect(isTextField(null)).toBe(false);
  });
});

describe("controls of the studio", () => {
  it("Enter and Space on an option button stay in the studio; the button still works", () => {
    const { model } = studio();
    const option = el.querySelector('[data-fk="aspect"] [data-value="9:16"]');
    press(option, "Enter");
    press(option, " ");
    expect(reached).toEqual([]);
    option.click();
    expect(model.state.aspect_ratio).toBe("9:16");
  });

  it("Shift+Enter on a button reaches the host (run the cell), and its keypress cannot press the button", () => {
    studio();
    const generate = el.querySelector('[data-fk="generate"]');
    press(generate, "Enter", { shiftKey: true });
    expect(reached.map((e) => e.key)).toEqual(["Enter"]);
    const keypress = new KeyboardEvent("keypress", { key: "Enter", shiftKey: true, bubbles: true, cancelable: true });
    expect(generate.dispatchEvent(keypress)).toBe(false);
    const plain = new KeyboardEvent("keypress", { key: "Enter", bubbles: true, cancelable: true });
    expect(generate.dispatchEvent(plain)).toBe(true);
  });

  it("letters on a button go on to the host (its own shortcuts)", () => {
    studio();
    press(el.querySelector('[data-fk="generate"]'), "a");
    expect(reached.map((e) => e.key)).toEqual(["a"]);
  });

  it("guardKeys installs once per root, whoever asks first", () => {
    const root = document.createElement("div");
    const input = document.createElement("input");
    root.append(input);
    document.body.append(root);
    const spy = vi.spyOn(root, "addEventListener");
    const first = guardKeys(root);
    const second = guardKeys(root);
    expect(spy.mock.calls.filter(([type]) => type === "keydown").length).toBe(1);
    second();
    press(input, "Enter");
    expect(reached).toEqual([]);
    first();
    press(input, "Enter");
    expect(reached.map((e) => e.key)).toEqual(["Enter"]);
  });
});

describe("the prompt counter", () => {
  it("counts code points, as the kernel does (an emoji is one character)", () => {
    studio({ prompt: "🦊 fox" });
    expect(el.querySelector(".fk-count").textContent).toBe(`5 / ${MAX_PROMPT}`);
    const prompt = el.querySelector('[data-fk="prompt"]');
    prompt.value = "🦊🦊";
    prompt.dispatchEvent(new Event("input", { bubbles: true }));
    expect(el.querySelector(".fk-count").textContent).toBe(`2 / ${MAX_PROMPT}`);
  });
});
