// The multi-shot timeline: blocks as wide as their share of the clip, each shot with its own
// prompt and whole-second duration; add, remove, reorder, split, even out; a live sum check.

import { debounce, h, wheelSafe } from "./dom.js";
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
  const body = h(
    "div",
    { class: "fk-segment-body" },
    timeline,
    list,
    h("div", { class: "fk-row fk-between" }, h("div", { class: "fk-row" }, add, even), sum),
    fieldMsgs,
  );

  /** @type {SegmentState[]} */
  let local = [];
  /** @type {import("./protocol.js").ProblemState[]} */
  let problems = [];

  /** @param {SegmentState[]} next @param {boolean} [rerender] */
  function commit(next, rerender = true) {
    local = next;
    model.set(
      "segments",
      next.map((s) => ({ prompt: s.prompt, duration: s.duration })),
    );
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

  /**
   * One shot's row. Rows are reused while the number of shots is unchanged, so a value being
   * typed is never replaced by a re-render (validation results arrive while the user types).
   * @param {number} index
   */
  function createRow(index) {
    const prompt = h("textarea", {
      class: "fk-textarea",
      rows: 2,
      "data-fk": "segment-prompt",
      "aria-label": `Shot ${index + 1} prompt`,
      placeholder: `What happens in shot ${index + 1}`,
    });
    prompt.addEventListener("input", () => {
      local = seg.updateSegment(local, index, { prompt: prompt.value });
      typing.call();
    });
    prompt.addEventListener("blur", () => typing.flush());
    const seconds = h("input", {
      class: "fk-input fk-seconds",
      type: "number",
      min: 1,
      max: 10,
      step: 1,
      "data-fk": "segment-duration",
      "aria-label": `Shot ${index + 1} duration in seconds`,
    });
    wheelSafe(seconds);
    const setSeconds = () => {
      const value = seg.parseSeconds(seconds.value);
      local = seg.updateSegment(local, index, { duration: Number.isNaN(value) ? 0 : value });
      typing.call();
      renderSummary();
    };
    seconds.addEventListener("input", setSeconds);
    seconds.addEventListener("change", () => {
      setSeconds();
      typing.flush();
    });
    const button = (
      /** @type {string} */ hook,
      /** @type {string} */ text,
      /** @type {string} */ label,
      /** @type {() => void} */ action,
    ) => {
      const b = h("button", {
        type: "button",
        class: "fk-icon",
        "data-fk": hook,
        "aria-label": label,
        title: label,
        text,
      });
      b.addEventListener("click", action);
      return b;
    };
    const left = button("move-left", "↑", `Move shot ${index + 1} earlier`, () =>
      commit(seg.moveSegment(local, index, -1)),
    );
    const right = button("move-right", "↓", `Move shot ${index + 1} later`, () =>
      commit(seg.moveSegment(local, index, 1)),
    );
    const split = button("split-segment", "⇹", `Split shot ${index + 1}`, () => commit(seg.splitSegment(local, index)));
    const remove = button("remove-segment", "✕", `Remove shot ${index + 1}`, () =>
      commit(seg.removeSegment(local, index)),
    );
    const msgs = h("div", { class: "fk-msgs" });
    const el = h(
      "li",
      { class: "fk-segment", "data-fk": "segment", "data-index": index },
      h("span", { class: "fk-segment-n", text: String(index + 1) }),
      h("div", { class: "fk-segment-main" }, prompt, msgs),
      h(
        "div",
        { class: "fk-segment-side" },
        h("label", { class: "fk-row fk-small" }, seconds, h("span", { text: "s" })),
        h("div", { class: "fk-row" }, left, right, split, remove),
      ),
    );
    return {
      el,
      /** @param {SegmentState} shot */
      update(shot) {
        if (document.activeElement !== prompt && prompt.value !== shot.prompt) prompt.value = shot.prompt;
        if (document.activeElement !== seconds && seg.parseSeconds(seconds.value) !== shot.duration)
          seconds.value = String(shot.duration);
        left.toggleAttribute("disabled", index === 0);
        right.toggleAttribute("disabled", index === local.length - 1);
        split.toggleAttribute("disabled", shot.duration < 2 || local.length >= MAX_SEGMENTS);
        const mine = problems.filter((p) => p.field.startsWith(`multi_prompt[${index}]`));
        msgs.replaceChildren(...mine.map((p) => h("div", { class: `fk-msg fk-msg-${p.level}`, text: p.message })));
      },
    };
  }
  /** @type {ReturnType<typeof createRow>[]} */
  let rows = [];

  function renderSummary() {
    const widths = seg.widths(local);
    timeline.replaceChildren(
      ...local.map((s, i) =>
        h("div", {
          class: "fk-block",
          style: `flex-basis:${widths[i].toFixed(2)}%`,
          text: `${i + 1} · ${s.duration}s`,
        }),
      ),
    );
    const total = seg.total(local);
    const target = model.get("duration");
    sum.textContent = `Shots add up to ${total} s of ${target} s`;
    sum.classList.toggle("fk-bad", total !== target);
  }

  function render() {
    const on = model.get("multishot");
    toggle.checked = on;
    body.hidden = !on;
    if (rows.length !== local.length) {
      rows = local.map((_, i) => createRow(i));
      list.replaceChildren(...rows.map((r) => r.el));
    }
    for (const [i, r] of rows.entries()) r.update(local[i]);
    renderSummary();
    add.disabled = local.length >= MAX_SEGMENTS;
    fieldMsgs.replaceChildren(
      ...problems
        .filter((p) => p.field === "multi_prompt")
        .map((p) => h("div", { class: `fk-msg fk-msg-${p.level}`, text: p.message })),
    );
  }

  function update() {
    const incoming = model.get("segments");
    const same =
      incoming.length === local.length &&
      incoming.every((s, i) => s.prompt === local[i].prompt && s.duration === local[i].duration);
    // Typing in a shot prompt must not be interrupted by the echo of our own change.
    // Our own pending edits win over an echo of older state.
    if (!same && !typing.pending())
      local = incoming.map((s) => ({ prompt: String(s.prompt ?? ""), duration: Number(s.duration) }));
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
    h(
      "legend",
      {},
      h("label", { class: "fk-check" }, toggle, h("span", { text: "Multi-shot" })),
      h("span", { class: "fk-note", text: " single shot when off" }),
    ),
    body,
  );
  return { el, update, showProblems, flush: () => typing.flush(), dispose: () => typing.cancel() };
}
