// The request controls: prompt, negative prompt, resolution, aspect ratio, duration, audio,
// voice tokens, and the variations (grid) mode.
// Each control shows the kernel's validation messages for its field right below it, once the
// user has touched that field or tried to Generate (see problemsToShow).

import { debounce, h } from "./dom.js";
import { charCount } from "./format.js";
import { guardKeys } from "./keys.js";
import { clampWhole, numberField } from "./number-field.js";
import { options } from "./protocol.js";

/** @typedef {import("@anywidget/types").AnyModel<import("./protocol.js").Model>} AnyModel */

/**
 * Insert `text` at the textarea's cursor and return the new value.
 * @param {HTMLTextAreaElement} area @param {string} text
 */
export function insertAtCursor(area, text) {
  const start = area.selectionStart ?? area.value.length;
  const end = area.selectionEnd ?? start;
  area.value = area.value.slice(0, start) + text + area.value.slice(end);
  area.selectionStart = area.selectionEnd = start + text.length;
  return area.value;
}

/**
 * The problems to show now: those of the fields the user touched, all of them once the user
 * tried to Generate. A fresh studio (an empty prompt is an error) shows none: a form that opens
 * in red tells people they did something wrong before they did anything.
 *
 * A touched name covers its own field and the fields inside it: "multi_prompt" (the layout:
 * a boundary moved, a shot added) covers the sum check on "multi_prompt" only, not the shots'
 * own prompts; "multi_prompt[1]" covers that shot's prompt and duration.
 * @template {{field: string}} P
 * @param {P[]} problems @param {ReadonlySet<string>} touched @param {boolean} tried
 * @returns {P[]}
 */
export function problemsToShow(problems, touched, tried) {
  if (tried) return problems;
  return problems.filter((p) => {
    for (const name of touched) {
      if (p.field === name || p.field.startsWith(`${name}.`)) return true;
    }
    return false;
  });
}

/**
 * An option group: buttons with aria-pressed, one per value.
 * @param {string} hook @param {string} label @param {(string | number)[]} values
 * @param {(value: string) => void} pick @param {(value: string | number) => string} [text]
 * @param {AbortSignal} [signal]
 */
function optionGroup(hook, label, values, pick, text = String, signal = undefined) {
  const group = h("div", { class: "fk-options", role: "group", "aria-label": label, "data-fk": hook });
  for (const value of values) {
    const button = h("button", {
      type: "button",
      class: "fk-option",
      "data-value": String(value),
      "aria-pressed": "false",
    });
    if (hook === "aspect") {
      const [w, hgt] = String(value).split(":").map(Number);
      const scale = 14 / Math.max(w, hgt);
      button.append(
        h("span", {
          class: "fk-shape",
          "aria-hidden": "true",
          style: `width:${Math.round(w * scale)}px;height:${Math.round(hgt * scale)}px`,
        }),
      );
    }
    button.append(document.createTextNode(text(value)));
    button.addEventListener("click", () => pick(String(value)), { signal });
    group.append(button);
  }
  return group;
}

/** @param {HTMLElement} group @param {string} value */
function markPressed(group, value) {
  for (const button of group.querySelectorAll("[data-value]")) {
    const on = button.getAttribute("data-value") === value;
    button.setAttribute("aria-pressed", String(on));
    button.classList.toggle("fk-on", on);
  }
}

/**
 * Build the controls for one view.
 * @param {AnyModel} model
 * @param {{onGenerateShortcut: () => void} & import("./protocol.js").FormHooks} hooks
 */
export function createControls(model, { onGenerateShortcut, touch, edited, signal }) {
  const save = () => model.save_changes();
  const limits = options(model);
  const on = { signal };
  const prompt = h("textarea", {
    class: "fk-textarea",
    rows: 3,
    "data-fk": "prompt",
    placeholder: "Describe the clip: who, does what, where, how it looks",
  });
  const promptLabel = h("label", { class: "fk-label", text: "Prompt" });
  const count = h("span", { class: "fk-count", "data-fk": "prompt-count", "aria-live": "off" });
  const showCount = () => {
    const n = charCount(prompt.value); // code points, as the kernel counts
    count.textContent = `${n} / ${limits.max_prompt}`;
    count.classList.toggle("fk-over", n > limits.max_prompt);
  };
  const negative = h("input", {
    class: "fk-input",
    type: "text",
    "data-fk": "negative-prompt",
    placeholder: "e.g. blurry, text, watermark",
  });
  const negativeLabel = h("label", { class: "fk-label", text: "Negative prompt" });
  promptLabel.append(prompt);
  negativeLabel.append(negative);

  const typing = debounce(() => {
    model.set("prompt", prompt.value);
    model.set("negative_prompt", negative.value);
    save();
  }, 250);
  prompt.addEventListener(
    "input",
    () => {
      showCount();
      edited("prompt");
      typing.call();
    },
    on,
  );
  negative.addEventListener(
    "input",
    () => {
      edited("negative_prompt");
      typing.call();
    },
    on,
  );
  prompt.addEventListener(
    "keydown",
    (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        // Ours, not the notebook's: the studio root's key guard (keys.js) keeps it from the host,
        // which would also re-run the cell. No newline for the shortcut.
        event.preventDefault();
        if (!event.repeat) onGenerateShortcut(); // a held-down key repeats: one press, one (billed) start
      }
    },
    on,
  );
  // Leaving a field saves it at once, so a click on another control cannot race the debounce.
  // Leaving it also counts as having touched it (tabbing through an empty prompt shows why).
  prompt.addEventListener(
    "blur",
    () => {
      (typing.pending() ? edited : touch)("prompt");
      typing.flush();
    },
    on,
  );
  negative.addEventListener(
    "blur",
    () => {
      (typing.pending() ? edited : touch)("negative_prompt");
      typing.flush();
    },
    on,
  );

  /** @param {"resolution" | "aspect_ratio" | "duration"} field @returns {(value: string) => void} */
  const picker = (field) => (v) => {
    // A new length changes the shots' sum check too: show it when it fails.
    touch(field, ...(field === "duration" && model.get("multishot") ? ["multi_prompt"] : []));
    if (field === "duration") model.set(field, Number(v));
    else model.set(field, v);
    save();
  };
  const resolution = optionGroup("resolution", "Resolution", limits.resolutions, picker("resolution"), String, signal);
  const tierNote = h("div", {
    class: "fk-note",
    "data-fk": "tier-note",
    text: "4k is billed at its own, higher price tier.",
  });
  const aspect = optionGroup("aspect", "Aspect ratio", limits.aspect_ratios, picker("aspect_ratio"), String, signal);
  const duration = optionGroup("duration", "Duration", limits.durations, picker("duration"), (v) => `${v} s`, signal);
  const audio = h("input", { type: "checkbox", "data-fk": "audio" });
  audio.addEventListener(
    "change",
    () => {
      touch("generate_audio", "voice_ids");
      model.set("generate_audio", audio.checked);
      save();
    },
    on,
  );

  // One insert button per attached voice, labelled with its name: <<<voice_N>>> is positional.
  const tokenButtons = Array.from({ length: limits.max_voices }, (_, i) => {
    const button = h("button", { type: "button", class: "fk-link", "data-fk": `insert-voice-${i + 1}` });
    button.addEventListener(
      "click",
      () => {
        insertAtCursor(prompt, `<<<voice_${i + 1}>>>`);
        prompt.focus();
        edited("prompt");
        showCount();
        typing.call();
        typing.flush();
      },
      on,
    );
    return button;
  });

  const modes = limits.vary_modes;
  const vary = optionGroup(
    "vary",
    "Variations",
    modes.map((v) => v.value),
    (v) => {
      touch("vary", "prompt"); // a prompt list is checked on the prompt box
      model.set("vary", v);
      save();
    },
    (v) => modes.find((option) => option.value === v)?.text ?? String(v),
    signal,
  );
  const most = limits.concurrency.max;
  const concurrency = numberField({ hook: "concurrency", min: 1, max: most }, signal);
  concurrency.addEventListener(
    "change",
    () => {
      const n = clampWhole(concurrency.value, 1, most);
      concurrency.value = String(n);
      model.set("concurrency", n);
      save();
    },
    on,
  );
  const varyNote = h("div", { class: "fk-note", "data-fk": "vary-note" });

  /** @type {Record<string, HTMLElement>} */
  const slots = {
    prompt: h("div", { class: "fk-msgs", "data-fk-field": "prompt" }),
    negative_prompt: h("div", { class: "fk-msgs", "data-fk-field": "negative_prompt" }),
    resolution: h("div", { class: "fk-msgs", "data-fk-field": "resolution" }),
    aspect_ratio: h("div", { class: "fk-msgs", "data-fk-field": "aspect_ratio" }),
    duration: h("div", { class: "fk-msgs", "data-fk-field": "duration" }),
    voice_ids: h("div", { class: "fk-msgs", "data-fk-field": "voice_ids" }),
    vary: h("div", { class: "fk-msgs", "data-fk-field": "vary" }),
  };

  const el = h(
    "div",
    { class: "fk-controls" },
    h(
      "div",
      { class: "fk-field" },
      promptLabel,
      h("div", { class: "fk-row fk-between" }, h("div", { class: "fk-row" }, ...tokenButtons), count),
      slots.prompt,
    ),
    h("div", { class: "fk-field" }, negativeLabel, slots.negative_prompt),
    h(
      "div",
      { class: "fk-grid" },
      h(
        "div",
        { class: "fk-field" },
        h("span", { class: "fk-label", text: "Resolution" }),
        resolution,
        tierNote,
        slots.resolution,
      ),
      h(
        "div",
        { class: "fk-field" },
        h("span", { class: "fk-label", text: "Aspect ratio" }),
        aspect,
        slots.aspect_ratio,
      ),
      h("div", { class: "fk-field" }, h("span", { class: "fk-label", text: "Duration" }), duration, slots.duration),
      h(
        "div",
        { class: "fk-field" },
        h("label", { class: "fk-check" }, audio, h("span", { text: "Audio" })),
        slots.voice_ids,
      ),
    ),
    h(
      "div",
      { class: "fk-field" },
      h("span", { class: "fk-label", text: "Variations" }),
      h(
        "div",
        { class: "fk-row" },
        vary,
        // One label around the words and the box: its name reads "Run at most 2 at a time".
        h(
          "label",
          { class: "fk-row fk-note", "data-fk": "concurrency-label", title: "How many of a batch's clips run at once" },
          h("span", { text: "Run at most" }),
          concurrency,
          h("span", { text: "at a time" }),
        ),
      ),
      varyNote,
      slots.vary,
    ),
  );

  // The key guard belongs on the whole studio (the generate row and the task cards too), so it
  // goes on the root this element sits in, found at the first update: the entry point mounts
  // the root before it first updates the controls. guardKeys is idempotent, so the entry point
  // may also install it on the root itself.
  /** @type {(() => void) | null} */
  let unguard = null;
  function update() {
    if (!unguard) unguard = guardKeys(/** @type {HTMLElement} */ (el.closest(".fk-root")) ?? el);
    const editing = typing.pending();
    if (!editing && document.activeElement !== prompt && prompt.value !== model.get("prompt"))
      prompt.value = model.get("prompt");
    if (!editing && document.activeElement !== negative && negative.value !== model.get("negative_prompt")) {
      negative.value = model.get("negative_prompt");
    }
    showCount();
    markPressed(resolution, model.get("resolution"));
    markPressed(aspect, model.get("aspect_ratio"));
    markPressed(duration, String(model.get("duration")));
    tierNote.hidden = model.get("resolution") !== "4k";
    audio.checked = model.get("generate_audio");
    const ids = model.get("voice_ids") ?? [];
    const names = new Map((model.get("_voices") ?? []).map((v) => [v.voice_id, v.name]));
    tokenButtons.forEach((button, i) => {
      button.hidden = !ids[i];
      button.textContent = ids[i] ? `+ <<<voice_${i + 1}>>> ${names.get(ids[i]) ?? ids[i]}` : "";
      button.title = ids[i] ? `Insert the token for ${names.get(ids[i]) ?? ids[i]} at the cursor` : "";
    });
    const mode = model.get("vary") ?? "";
    markPressed(vary, mode);
    if (document.activeElement !== concurrency)
      concurrency.value = String(model.get("concurrency") ?? limits.concurrency.default);
    const labels = model.get("_variations") ?? [];
    varyNote.textContent = mode === "prompts" ? "One clip per line of the prompt box." : "";
    if (labels.length)
      varyNote.textContent += `${varyNote.textContent ? " " : ""}Generate starts ${labels.length}: ${labels.join(" · ")}.`;
  }

  /** @param {import("./protocol.js").ProblemState[]} problems the ones to show (see problemsToShow) */
  function showProblems(problems) {
    for (const [field, slot] of Object.entries(slots)) {
      const mine = problems.filter((p) => p.field === field || (field === "voice_ids" && p.field === "generate_audio"));
      slot.replaceChildren(...mine.map((p) => h("div", { class: `fk-msg fk-msg-${p.level}`, text: p.message })));
      const control = field === "prompt" ? prompt : field === "negative_prompt" ? negative : null;
      if (control) control.setAttribute("aria-invalid", String(mine.some((p) => p.level === "error")));
    }
  }

  function dispose() {
    typing.cancel();
    unguard?.();
    unguard = null;
  }

  signal.addEventListener("abort", dispose, { once: true });
  return {
    el,
    update,
    showProblems,
    flush: () => typing.flush(),
    pending: () => typing.pending(),
    dispose,
    prompt,
    fields: CONTROL_FIELDS,
  };
}

/** The problem fields the controls show (the rest go to the studio's general message). */
export const CONTROL_FIELDS = Object.freeze([
  "prompt",
  "negative_prompt",
  "resolution",
  "aspect_ratio",
  "duration",
  "voice_ids",
  "generate_audio",
  "vary",
]);
