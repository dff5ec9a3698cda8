// The voices panel: create a voice from an audio URL, and attach up to two named voices.
// Creating one starts a task whose card shows among the others; the kernel validates the URL.

import { debounce, h, messageEl } from "./dom.js";
import { plural } from "./format.js";
import { FALLBACK_OPTIONS, options } from "./protocol.js";

/** @typedef {import("@anywidget/types").AnyModel<import("./protocol.js").Model>} AnyModel */

/**
 * Names by voice id: known voices, then attached ids nobody named (shown as the id).
 * @param {{voice_id: string, name: string}[]} known @param {string[]} attached
 */
export function voiceChoices(known, attached) {
  const seen = new Set(known.map((v) => v.voice_id));
  return [...known, ...attached.filter((id) => !seen.has(id)).map((id) => ({ voice_id: id, name: id }))];
}

/**
 * The attached ids after toggling `id`; `error` when one more than `most` would be attached.
 * @param {string[]} attached @param {string} id @param {number} [most]
 */
export function toggleVoice(attached, id, most = FALLBACK_OPTIONS.max_voices) {
  if (attached.includes(id)) return { ids: attached.filter((v) => v !== id), error: "" };
  if (attached.length >= most)
    return { ids: attached, error: `A clip takes at most ${plural(most, "voice")}: detach one first.` };
  return { ids: [...attached, id], error: "" };
}

/** @param {string[]} words @returns {string} "a, b or c" */
const orList = (words) => (words.length < 2 ? words.join("") : `${words.slice(0, -1).join(", ")} or ${words.at(-1)}`);

/**
 * @param {AnyModel} model
 * @param {{create: (done: (error: string) => void) => void} & import("./protocol.js").FormHooks} actions
 */
export function createVoicesPanel(model, actions) {
  const { signal, touch, edited } = actions;
  const on = { signal };
  const limits = options(model);
  const url = h("input", {
    class: "fk-input",
    type: "url",
    "data-fk": "voice-url",
    placeholder: "https://…/speaker.mp3",
    "aria-label": "Audio URL",
  });
  const name = h("input", {
    class: "fk-input fk-voice-name",
    type: "text",
    "data-fk": "voice-name",
    placeholder: "name, e.g. Narrator",
    "aria-label": "Voice name",
    maxlength: limits.max_voice_name,
  });
  const create = h("button", { type: "button", class: "fk-button", "data-fk": "create-voice", text: "Create voice" });
  const urlMsgs = h("div", { class: "fk-msgs", "data-fk-field": "voice_url" });
  const chips = h("div", {
    class: "fk-row fk-chips",
    "data-fk": "voice-chips",
    role: "group",
    "aria-label": "Voices: press one to attach it to the clip",
  });
  const tokens = Array.from({ length: limits.max_voices }, (_, i) => `<<<voice_${i + 1}>>>`);
  const note = h("div", { class: "fk-note", "data-fk": "voice-note", "aria-live": "polite" });
  const el = h(
    "details",
    { class: "fk-voices", "data-fk": "voices" },
    h("summary", { text: "Voices" }),
    h("div", {
      class: "fk-note",
      text: `Paste a link to a clean recording of one speaker (${orList(limits.audio_extensions)}) to make a voice.`,
    }),
    h("div", { class: "fk-row" }, url, name, create),
    urlMsgs,
    h("div", {
      class: "fk-note",
      "data-fk": "voice-hint",
      text: `Press a voice to attach it to the clip (press again to detach; up to ${limits.max_voices}). Attached voices get an insert button above the prompt, which puts their token (${orList(tokens)}) at the cursor.`,
    }),
    chips,
    note,
  );

  const typing = debounce(() => {
    model.set("voice_url", url.value);
    model.set("voice_name", name.value);
    model.save_changes();
  }, 250);
  for (const input of [url, name]) {
    const field = input === url ? "voice_url" : "voice_name";
    input.addEventListener(
      "input",
      () => {
        edited(field);
        if (input === url) urlError = ""; // a new URL: the old refusal is no longer about it
        typing.call();
      },
      on,
    );
    input.addEventListener(
      "blur",
      () => {
        (typing.pending() ? edited : touch)(field);
        typing.flush();
      },
      on,
    );
  }
  let busy = false;
  let urlError = ""; // a refusal of the last Create voice (shown with the URL's own problems)
  /** Voice ids known when the last creation started: a new one among `_voices` is that voice. */
  /** @type {Set<string> | null} */
  let waitingFor = null;
  create.addEventListener(
    "click",
    () => {
      typing.flush();
      touch("voice_url", "voice_name");
      if (create.disabled) return;
      busy = true;
      update();
      const known = new Set((model.get("_voices") ?? []).map((v) => v.voice_id));
      actions.create((error) => {
        busy = false;
        urlError = error;
        renderUrlProblems();
        if (!error) {
          url.value = "";
          name.value = "";
          waitingFor = known;
          note.textContent = "Creating the voice: its card is below. It shows up here when it is ready.";
        }
        update();
      });
    },
    on,
  );

  /** @param {string} id */
  function toggle(id) {
    touch("voice_ids", "generate_audio");
    const { ids, error } = toggleVoice(model.get("voice_ids") ?? [], id, limits.max_voices);
    if (error) {
      note.textContent = error;
      return;
    }
    const attaching = ids.length > (model.get("voice_ids") ?? []).length;
    model.set("voice_ids", ids);
    if (attaching && !model.get("generate_audio")) {
      model.set("generate_audio", true);
      note.textContent = "Audio turned on: voices speak through the clip's audio track.";
    } else note.textContent = "";
    model.save_changes();
  }

  function update() {
    if (!typing.pending()) {
      if (document.activeElement !== url && url.value !== model.get("voice_url"))
        url.value = model.get("voice_url") ?? "";
      if (document.activeElement !== name && name.value !== model.get("voice_name"))
        name.value = model.get("voice_name") ?? "";
    }
    const problems = model.get("_voice_problems") ?? [];
    create.disabled =
      busy || !url.value.trim() || problems.some((p) => p.level === "error") || model.get("_mode") === "none";
    const attached = model.get("voice_ids") ?? [];
    const choices = voiceChoices(model.get("_voices") ?? [], attached);
    // Chips are rebuilt; keep keyboard focus on the one that had it.
    const focused = chips.contains(document.activeElement)
      ? document.activeElement?.getAttribute("data-voice-id")
      : null;
    chips.replaceChildren(
      ...choices.map((voice) => {
        const slot = attached.indexOf(voice.voice_id);
        const chip = h("button", {
          type: "button",
          class: `fk-chip${slot >= 0 ? " fk-on" : ""}`,
          "data-fk": "voice-chip",
          "data-voice-id": voice.voice_id,
          "aria-pressed": String(slot >= 0),
          title: `${voice.voice_id}${slot >= 0 ? ` · <<<voice_${slot + 1}>>>` : ""}`,
          text: slot >= 0 ? `${voice.name} · voice_${slot + 1}` : voice.name,
        });
        chip.addEventListener("click", () => toggle(voice.voice_id), on);
        return chip;
      }),
    );
    if (!choices.length) chips.append(h("span", { class: "fk-note", text: "No voices yet." }));
    if (focused)
      /** @type {HTMLElement[]} */ ([...chips.children])
        .find((c) => c.getAttribute("data-voice-id") === focused)
        ?.focus();
    if (choices.length && !el.open && attached.length) el.open = true;
    // The voice being created arrived: the note that said "it shows up here" is out of date.
    if (waitingFor) {
      const known = waitingFor;
      const fresh = (model.get("_voices") ?? []).find((v) => !known.has(v.voice_id));
      if (fresh) {
        waitingFor = null;
        note.textContent = `The voice "${fresh.name}" is ready: press it to attach it to the clip.`;
      }
    }
  }

  /** @type {import("./protocol.js").ProblemState[]} */
  let shown = [];
  function renderUrlProblems() {
    urlMsgs.replaceChildren(
      ...shown.map((p) => messageEl(p.message, p.level)),
      ...(urlError ? [messageEl(urlError)] : []),
    );
  }

  /** @param {import("./protocol.js").ProblemState[]} problems the ones to show (see problemsToShow) */
  function showProblems(problems) {
    shown = problems;
    if (problems.length) urlError = "";
    renderUrlProblems();
    url.setAttribute("aria-invalid", String(problems.some((p) => p.field === "voice_url" && p.level === "error")));
    update();
  }

  signal.addEventListener("abort", () => typing.cancel(), { once: true });
  return { el, update, showProblems, flush: () => typing.flush(), dispose: () => typing.cancel() };
}
