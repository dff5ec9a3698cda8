// The multi-shot timeline: blocks as wide as their share of the clip, each shot with its own
// prompt and whole-second duration; add, remove, reorder, split, even out; a live sum check.
// The boundaries between blocks are separators: dragged with the pointer, or focused and moved
// a second at a time with the arrow keys (segments.moveBoundary keeps every shot >= 1 s).

import { debounce, h } from "./dom.js";
import { stepFor } from "./keys.js";
import { numberField } from "./number-field.js";
import { options } from "./protocol.js";
import * as seg from "./segments.js";

/**
 * How the main prompt and the shot prompts go together (the validator: with segments the
 * top-level prompt is optional, each segment's prompt is required; _types.to_payload sends a
 * typed main prompt along with the segments and leaves an empty one out).
 */
export const PROMPT_RELATION =
  "With shots on, each shot needs its own prompt; the main prompt above is optional: filled in, it is sent with the shots, left empty, it is left out.";

/** @typedef {import("@anywidget/types").AnyModel<import("./protocol.js").Model>} AnyModel */
/** @typedef {import("./protocol.js").SegmentState} SegmentState */

/**
 * @param {AnyModel} model
 * @param {import("./protocol.js").FormHooks} hooks
 */
export function createSegmentEditor(model, { touch, edited, signal }) {
  const limits = options(model);
  const on = { signal };
  const toggle = h("input", { type: "checkbox", "data-fk": "multishot" });
  const timeline = h("div", { class: "fk-timeline", "data-fk": "timeline", role: "group", "aria-label": "Timeline" });
  const list = h("ol", { class: "fk-segments", "aria-label": "Shots" });
  const sum = h("div", { class: "fk-sum", "data-fk": "segment-sum", "aria-live": "polite" });
  const fieldMsgs = h("div", { class: "fk-msgs", "data-fk-field": "multi_prompt" });
  const add = h("button", { type: "button", class: "fk-button", "data-fk": "add-segment", text: "+ Add shot" });
  const even = h("button", { type: "button", class: "fk-button", "data-fk": "even-out", text: "Even out" });
  const body = h(
    "div",
    { class: "fk-segment-body" },
    h("div", { class: "fk-note", "data-fk": "prompt-relation", text: PROMPT_RELATION }),
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

  // Turning shots on touches nothing: empty new shots are not an error the user made yet.
  toggle.addEventListener(
    "change",
    () => {
      model.set("multishot", toggle.checked);
      if (toggle.checked && model.get("segments").length === 0) {
        local = seg.defaultSegments(model.get("duration"));
        model.set("segments", local);
      }
      model.save_changes();
      render();
    },
    on,
  );
  /** A change to the layout (not to one shot's text): the sum check may show. @param {SegmentState[]} next */
  const relayout = (next) => {
    touch("multi_prompt");
    commit(next);
  };
  add.addEventListener("click", () => relayout(seg.addSegment(local, model.get("duration"))), on);
  even.addEventListener("click", () => relayout(seg.evenOut(local, model.get("duration"))), on);

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
    prompt.addEventListener(
      "input",
      () => {
        edited(`multi_prompt[${index}].prompt`);
        local = seg.updateSegment(local, index, { prompt: prompt.value });
        typing.call();
      },
      on,
    );
    prompt.addEventListener(
      "blur",
      () => {
        (typing.pending() ? edited : touch)(`multi_prompt[${index}].prompt`);
        typing.flush();
      },
      on,
    );
    const seconds = numberField(
      {
        hook: "segment-duration",
        min: 1,
        max: Math.max(...limits.durations),
        label: `Shot ${index + 1} duration in seconds`,
      },
      signal,
    );
    const setSeconds = () => {
      edited(`multi_prompt[${index}].duration`, "multi_prompt");
      const value = seg.parseSeconds(seconds.value);
      local = seg.updateSegment(local, index, { duration: Number.isNaN(value) ? 0 : value });
      typing.call();
      renderSummary();
    };
    seconds.addEventListener("input", setSeconds, on);
    seconds.addEventListener(
      "change",
      () => {
        setSeconds();
        typing.flush();
      },
      on,
    );
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
      b.addEventListener("click", action, on);
      return b;
    };
    const left = button("move-left", "↑", `Move shot ${index + 1} earlier`, () =>
      relayout(seg.moveSegment(local, index, -1)),
    );
    const right = button("move-right", "↓", `Move shot ${index + 1} later`, () =>
      relayout(seg.moveSegment(local, index, 1)),
    );
    // A sign alone says nothing to most people: the button says what it does too.
    const split = button("split-segment", "⇹ Split", `Split shot ${index + 1}`, () =>
      relayout(seg.splitSegment(local, index)),
    );
    const remove = button("remove-segment", "✕", `Remove shot ${index + 1}`, () =>
      relayout(seg.removeSegment(local, index)),
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
        split.toggleAttribute("disabled", shot.duration < 2 || local.length >= limits.max_segments);
        const mine = problems.filter((p) => p.field.startsWith(`multi_prompt[${index}]`));
        msgs.replaceChildren(...mine.map((p) => h("div", { class: `fk-msg fk-msg-${p.level}`, text: p.message })));
      },
    };
  }
  /** @type {ReturnType<typeof createRow>[]} */
  let rows = [];

  /** @type {HTMLElement[]} */
  let blocks = [];
  /** @type {HTMLElement[]} */
  let separators = [];

  /** Move boundary `index` to `next` (a drag's live step, or a key press) and draw it. @param {SegmentState[]} next */
  const moved = (next) => {
    edited("multi_prompt");
    local = next;
    typing.call(); // sent after the move settles, not on every pixel
    render();
  };

  /** @param {number} index the boundary after shot `index` */
  function createSeparator(index) {
    const sep = h("div", {
      class: "fk-sep",
      role: "separator",
      tabindex: 0,
      "aria-orientation": "vertical",
      "data-fk": "boundary",
      "data-index": index,
    });
    sep.addEventListener(
      "keydown",
      (event) => {
        const step = stepFor(event.key);
        if (step === undefined) return;
        event.preventDefault();
        moved(seg.moveBoundary(local, index, step)); // Home/End: moveBoundary keeps both shots >= 1 s
      },
      on,
    );
    // Dragging: the pointer's position over the timeline, in whole seconds of the clip.
    /** @param {PointerEvent} event */
    const follow = (event) => {
      const box = timeline.getBoundingClientRect();
      if (!box.width) return;
      const at = ((event.clientX - box.left) / box.width) * seg.total(local);
      const next = seg.setBoundary(local, index, at);
      if (next.some((s, i) => s.duration !== local[i].duration)) moved(next);
    };
    sep.addEventListener(
      "pointerdown",
      (event) => {
        event.preventDefault();
        sep.focus();
        sep.setPointerCapture?.(event.pointerId);
        sep.classList.add("fk-dragging");
        sep.addEventListener("pointermove", follow, on);
      },
      on,
    );
    const drop = () => {
      sep.removeEventListener("pointermove", follow);
      sep.classList.remove("fk-dragging");
      typing.flush();
    };
    sep.addEventListener("pointerup", drop, on);
    sep.addEventListener("pointercancel", drop, on);
    return sep;
  }

  function renderSummary() {
    const widths = seg.widths(local);
    // Built again only when the number of shots changes: a focused or dragged separator stays.
    if (blocks.length !== local.length) {
      blocks = local.map(() => h("div", { class: "fk-block", "data-fk": "block" }));
      separators = local.slice(1).map((_, i) => createSeparator(i));
      timeline.replaceChildren(...blocks.flatMap((b, i) => (i ? [separators[i - 1], b] : [b])));
    }
    let start = 0;
    local.forEach((s, i) => {
      blocks[i].style.flexBasis = `${widths[i].toFixed(2)}%`;
      blocks[i].textContent = `${i + 1} · ${s.duration}s`;
      blocks[i].classList.toggle("fk-alt", i % 2 === 1);
      const end = start + (Number.isFinite(s.duration) ? s.duration : 0);
      const sep = separators[i];
      if (sep) {
        const next = local[i + 1];
        const both = end - start + (Number.isFinite(next.duration) ? next.duration : 0);
        sep.setAttribute("aria-label", `Boundary between shot ${i + 1} and shot ${i + 2}`);
        sep.setAttribute("aria-valuenow", String(end));
        sep.setAttribute("aria-valuemin", String(start + 1));
        sep.setAttribute("aria-valuemax", String(start + Math.max(1, both - 1)));
        sep.setAttribute("aria-valuetext", `${end} s: shot ${i + 1} ${s.duration} s, shot ${i + 2} ${next.duration} s`);
        sep.title = "Drag, or use the arrow keys, to move a second between these shots";
      }
      start = end;
    });
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
    add.disabled = local.length >= limits.max_segments;
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
  signal.addEventListener("abort", () => typing.cancel(), { once: true });
  return {
    el,
    update,
    showProblems,
    flush: () => typing.flush(),
    pending: () => typing.pending(),
    dispose: () => typing.cancel(),
  };
}
