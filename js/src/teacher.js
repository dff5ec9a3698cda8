// The teacher's controls in the studio: the budget line (what a KlingWidget(budget=...) has left)
// and the classroom badge. The kernel decides everything (the `_budget` and `_classroom` traits,
// both kernel-owned); this module only shows it. Mounted by widget.js with one call.

import { h, listen } from "./dom.js";
import { plural } from "./format.js";

/** @typedef {{cap: number | null, reserved: number, left: number | null, refused: string}} BudgetState */
/** @typedef {import("@anywidget/types").AnyModel<import("./protocol.js").Model>} AnyModel */

/** @param {number} v */
const n = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

/**
 * The budget line's text: empty without a cap.
 * @param {BudgetState | undefined | null} b
 * @returns {string}
 */
export function budgetLine(b) {
  if (!b || b.cap == null) return "";
  const left = b.left ?? 0;
  const head = `Budget: ${n(left)} of ${plural(b.cap, "credit", n(b.cap))} left`;
  return b.refused ? `${head} · Generate is refused: ${b.refused}` : head;
}

/**
 * Show the budget line right after `anchor` (the credits line) and mark the root in classroom
 * mode. Everything is removed when `signal` aborts (the view goes away).
 * @param {AnyModel} model @param {HTMLElement} anchor @param {AbortSignal} signal
 */
export function mountTeacher(model, anchor, signal) {
  const line = h("div", { class: "fk-note", "data-fk": "budget", "aria-live": "polite", hidden: true });
  anchor.after(line);
  const render = () => {
    const b = /** @type {BudgetState | undefined} */ (model.get("_budget"));
    line.textContent = budgetLine(b);
    line.hidden = !line.textContent;
    line.classList.toggle("fk-msg-warning", Boolean(b?.refused));
    const root = anchor.closest('[data-fk="root"]');
    if (root) root.toggleAttribute("data-classroom", Boolean(model.get("_classroom")));
  };
  listen(model, "change:_budget", render, signal);
  listen(model, "change:_classroom", render, signal);
  render();
  signal.addEventListener("abort", () => line.remove(), { once: true });
  return line;
}
