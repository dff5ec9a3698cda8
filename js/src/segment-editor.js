// The multi-shot timeline: blocks as wide as their share of the clip, each shot with its own
// prompt and whole-second duration; add, remove, reorder, split, even out; a live sum check.

import { h, debounce } from "./dom.js";
import { MAX_SEGMENTS } from "./protocol.js";
import * as seg from "./segments.js";

/** @typedef {import("@anywidget/types").AnyModel<import("./protocol.js").Model>} AnyModel */
/** @typedef {import("./protocol.js").SegmentState} SegmentState */

/** @param {AnyModel} model */
export function createSegmentEditor(model) {
  const toggle = h("input", { type: "checkbox", "data-fk": "multishot" });
  const timeline = h("div", { class: "fk-timeline", "data-fk": "timeline", "aria-hidden": "true" });
  const list = h("ol", { class: "fk-segments", "aria-label": "Shots" });
  const sum = h("div", { class: "fk-sum", "data-fk": "segment-sum", "aria-live": "polite" });
  const fieldMsgs = h("div", { class: "fk-msgs", "data-fk-field": "multi_prompt" });
  const add = h("button", { type: "button", class: "fk-button", "data-fk": "add-segment", text: "+ Add shot" });
  const even = h("button", { type: "button", class: "fk-button", "data-fk": "even-out", text: "Even out" });
  const body = h("div", { class: "fk-segment-body" }, timeline, list, h("div", { class: "fk-row fk-between" }, h("div", { class: "fk-row" }, add, even), sum), fieldMsgs);

  /** @type {SegmentState[]} */
  let local = [];
  /** @type {import("./protocol.js").ProblemState[]} */
  let problems = [];

  /** @param {SegmentState[]} next @param {boolean} [rerender] */
  function commit(next, rerender = true) {
    local = next;
    model.set("segments", next.map((s) => ({ prompt: s.prompt, duration: s.duration })));
    model.save_changes();
    if (rerender) render();
  }
  const typing = debounce(() => commit(local, false), 250);

  toggle.addEventListener("change", () => {
    model.set("multishot", toggle.checked);
    if (toggle.checked && model.get("segments").length === 0) {
      local = seg.defaultSegments(model.get("duration"));
      model.set("segments", local);
    }
    model.save_changes();
    render();
  });
  add.addEventListener("click", () => commit(seg.addSegment(local, model.get("duration"))));
  even.addEventListener("click", () => commit(seg.evenOut(local, model.get("duration"))));

  /** @param {SegmentState} shot @param {number} index */
  function row(shot, index) {
    const prompt = h("textarea", { class: "fk-textarea", rows: 2, "data-fk": "segment-prompt", "aria-label": `Shot ${index + 1} prompt`, placeholder: `What happens in shot ${index + 1}` });
    prompt.value = shot.prompt;
    prompt.addEventListener("input", () => {
      local = seg.updateSegment(local, index, { prompt: prompt.value });
      typing.call();
    });
    const seconds = h("input", { class: "fk-input fk-seconds", type: "number", min: 1, max: 10, step: 1, "data-fk": "segment-duration", "aria-label": `Shot ${index + 1} duration in seconds` });
    seconds.value = String(shot.duration);
    seconds.addEventListener("change", () => {
      const value = seg.parseSeconds(seconds.value);
      commit(seg.updateSegment(local, index, { duration: Number.isNaN(value) ? 0 : value }));
    });
    const button = (/** @type {string} */ hook, /** @type {string} */ text, /** @type {string} */ label, /** @type {() => void} */ action, disabled = false) => {
      const b = h("button", { type: "button", class: "fk-icon", "data-fk": hook, "aria-label": label, title: label, text, disabled });
      b.addEventListener("click", action);
      return b;
    };
    const msgs = problems.filter((p) => p.field.startsWith(`multi_prompt[${index}]`));
    return h(
      "li",
      { class: "fk-segment", "data-fk": "segment", "data-index": index },
      h("span", { class: "fk-segment-n", text: String(index + 1) }),
      h("div", { class: "fk-segment-main" }, prompt, ...msgs.map((p) => h("div", { class: `fk-msg fk-msg-${p.level}`, text: p.message }))),
      h(
        "div",
        { class: "fk-segment-side" },
        h("label", { class: "fk-row fk-small" }, seconds, h("span", { text: "s" })),
        h(
          "div",
          { class: "fk-row" },
          button("move-left", "↑", `Move shot ${index + 1} earlier`, () => commit(seg.moveSegment(local, index, -1)), index === 0),
          button("move-right", "↓", `Move shot ${index + 1} later`, () => commit(seg.moveSegment(local, index, 1)), index === local.length - 1),
          button("split-segment", "⇹", `Split shot ${index + 1}`, () => commit(seg.splitSegment(local, index)), shot.duration < 2 || local.length >= MAX_SEGMENTS),
          button("remove-segment", "✕", `Remove shot ${index + 1}`, () => commit(seg.removeSegment(local, index))),
        ),
      ),
    );
  }

  function render() {
    const on = model.get("multishot");
    toggle.checked = on;
    body.hidden = !on;
    const widths = seg.widths(local);
    timeline.replaceChildren(
      ...local.map((s, i) => h("div", { class: "fk-block", style: `flex-basis:${widths[i].toFixed(2)}%`, text: `${i + 1} · ${s.duration}s` })),
    );
    const focused = document.activeElement;
    const focusHook = focused instanceof HTMLElement && list.contains(focused) ? focused.getAttribute("data-fk") : null;
    const focusIndex = focused instanceof HTMLElement ? focused.closest("[data-index]")?.getAttribute("data-index") : null;
    list.replaceChildren(...local.map(row));
    if (focusHook && focusIndex != null) {
      const again = list.querySelector(`[data-index="${focusIndex}"] [data-fk="${focusHook}"]`);
      if (again instanceof HTMLElement) again.focus();
    }
    const total = seg.total(local);
    const target = model.get("duration");
    sum.textContent = `Shots add up to ${total} s of ${target} s`;
    sum.classList.toggle("fk-bad", total !== target);
    add.disabled = local.length >= MAX_SEGMENTS;
    fieldMsgs.replaceChildren(...problems.filter((p) => p.field === "multi_prompt").map((p) => h("div", { class: `fk-msg fk-msg-${p.level}`, text: p.message })));
  }

  function update() {
    const incoming = model.get("segments");
    const same = incoming.length === local.length && incoming.every((s, i) => s.prompt === local[i].prompt && s.duration === local[i].duration);
    // Typing in a shot prompt must not be interrupted by the echo of our own change.
    if (!same) {
      const typingHere = document.activeElement instanceof HTMLTextAreaElement && list.contains(document.activeElement);
      local = incoming.map((s) => ({ prompt: String(s.prompt ?? ""), duration: Number(s.duration) }));
      if (typingHere && incoming.length === list.children.length) return;
    }
    render();
  }

  /** @param {import("./protocol.js").ProblemState[]} next */
  function showProblems(next) {
    problems = next;
    render();
  }

  const el = h(
    "fieldset",
    { class: "fk-multishot" },
    h("legend", {}, h("label", { class: "fk-check" }, toggle, h("span", { text: "Multi-shot" })), h("span", { class: "fk-note", text: " single shot when off" })),
    body,
  );
  return { el, update, showProblems, flush: () => typing.flush(), dispose: () => typing.cancel() };
}
