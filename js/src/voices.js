// The voices panel: create a voice from an audio URL, and attach up to two named voices.
// Creating one starts a task whose card shows among the others; the kernel validates the URL.

import { debounce, h, messageEl } from "./dom.js";
import { MAX_VOICES } from "./protocol.js";

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
 * The attached ids after toggling `id`; `error` when a third would be attached.
 * @param {string[]} attached @param {string} id
 */
export function toggleVoice(attached, id) {
  if (attached.includes(id)) return { ids: attached.filter((v) => v !== id), error: "" };
  if (attached.length >= MAX_VOICES)
    return { ids: attached, error: `At most ${MAX_VOICES} voices per clip: detach one first.` };
  return { ids: [...attached, id], error: "" };
}

/**
 * @param {AnyModel} model
 * @param {{create: (done: (error: string) => void) => void}} actions
 */
export function createVoicesPanel(model, actions) {
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
    maxlength: 40,
  }); // the kernel's MAX_VOICE_NAME
  const create = h("button", { type: "button", class: "fk-button", "data-fk": "create-voice", text: "Create voice" });
  const urlMsgs = h("div", { class: "fk-msgs", "data-fk-field": "voice_url" });
  const chips = h("div", {
    class: "fk-row fk-chips",
    "data-fk": "voice-chips",
    role: "group",
    "aria-label": "Voices: press to attach",
  });
  const note = h("div", { class: "fk-note", "data-fk": "voice-note", "aria-live": "polite" });
  const el = h(
    "details",
    { class: "fk-voices", "data-fk": "voices" },
    h("summary", { text: "Voices" }),
    h("div", {
      class: "fk-note",
      text: "Paste a link to a clean recording of one speaker (mp3, ogg, wav, m4a or aac) to make a voice. Attach up to two; the prompt names them <<<voice_1>>> and <<<voice_2>>>.",
    }),
    h("div", { class: "fk-row" }, url, name, create),
    urlMsgs,
    chips,
    note,
  );

  const typing = debounce(() => {
    model.set("voice_url", url.value);
    model.set("voice_name", name.value);
    model.save_changes();
  }, 250);
  for (const input of [url, name]) {
    input.addEventListener("input", () => typing.call());
    input.addEventListener("blur", () => typing.flush());
  }
  let busy = false;
  create.addEventListener("click", () => {
    typing.flush();
    if (create.disabled) return;
    busy = true;
    update();
    actions.create((error) => {
      busy = false;
      urlMsgs.replaceChildren(...(error ? [messageEl(error)] : []));
      if (!error) {
        url.value = "";
        name.value = "";
        note.textContent = "Creating the voice: its card is below. It shows up here when it is ready.";
      }
      update();
    });
  });

  /** @param {string} id */
  function toggle(id) {
    const { ids, error } = toggleVoice(model.get("voice_ids") ?? [], id);
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
        chip.addEventListener("click", () => toggle(voice.voice_id));
        return chip;
      }),
    );
    if (!choices.length) chips.append(h("span", { class: "fk-note", text: "No voices yet." }));
    if (focused)
      /** @type {HTMLElement[]} */ ([...chips.children])
        .find((c) => c.getAttribute("data-voice-id") === focused)
        ?.focus();
    if (choices.length && !el.open && attached.length) el.open = true;
  }

  /** @param {import("./protocol.js").ProblemState[]} problems */
  function showProblems(problems) {
    urlMsgs.replaceChildren(...problems.map((p) => messageEl(p.message, p.level)));
    url.setAttribute("aria-invalid", String(problems.some((p) => p.field === "voice_url" && p.level === "error")));
    update();
  }

  return { el, update, showProblems, flush: () => typing.flush(), dispose: () => typing.cancel() };
}
