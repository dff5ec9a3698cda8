// API key entry: a password field whose value goes to the kernel once, in a message, and is
// cleared from the page at once. The key is never a trait and never in the DOM afterwards.

import { h } from "./dom.js";

/** @typedef {import("@anywidget/types").AnyModel<import("./protocol.js").Model>} AnyModel */

/**
 * @param {AnyModel} model @param {(key: string) => void} sendKey @param {() => void} clearKey
 * @param {AbortSignal} [signal] removes the listeners (the view went away)
 */
export function createKeyEntry(model, sendKey, clearKey, signal) {
  const input = h("input", {
    class: "fk-input",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    "data-fk": "api-key",
    "aria-label": "FoxAPI key",
    placeholder: "sk-...",
  });
  const use = h("button", { type: "button", class: "fk-button", "data-fk": "use-key", text: "Use key" });
  const forget = h("button", { type: "button", class: "fk-link", "data-fk": "clear-key", text: "Forget key" });
  const status = h("div", { class: "fk-note", "aria-live": "polite" });
  const msgs = h("div", { class: "fk-msgs", "data-fk-field": "api_key" });
  const details = h(
    "details",
    { class: "fk-key" },
    h("summary", { text: "API key" }),
    h("p", {
      class: "fk-note",
      text: "Generations with a key use the live API and are billed. The key stays in the Python kernel's memory: it is not saved in the notebook.",
    }),
    h("div", { class: "fk-row" }, input, use, forget),
    status,
    msgs,
  );
  const submit = () => {
    const key = input.value.trim();
    input.value = "";
    if (key) sendKey(key);
  };
  use.addEventListener("click", submit, { signal });
  input.addEventListener(
    "keydown",
    (event) => {
      if (event.key === "Enter") submit();
    },
    { signal },
  );
  forget.addEventListener("click", clearKey, { signal });

  function update() {
    // Classroom mode: no key field at all, so nobody pastes a key on a projector (the kernel
    // refuses one anyway).
    details.hidden = Boolean(model.get("_classroom"));
    const hasKey = model.get("_has_key");
    forget.hidden = !hasKey;
    status.textContent = hasKey ? "A key entered here is in use (kept in kernel memory only)." : "";
    if (model.get("_mode") === "none" && !details.hidden) details.open = true;
  }
  /** @param {string} message */
  function showError(message) {
    status.textContent = message;
  }
  /** @param {import("./protocol.js").ProblemState[]} problems */
  function showProblems(problems) {
    msgs.replaceChildren(
      ...problems
        .filter((p) => p.field === "api_key")
        .map((p) => h("div", { class: `fk-msg fk-msg-${p.level}`, text: p.message })),
    );
  }
  return { el: details, update, showError, showProblems };
}
