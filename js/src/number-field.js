// Whole-number fields (the batch's concurrency, a shot's seconds): one way to build them and one
// way to keep a value inside their bounds, so both fields behave alike under the wheel, the
// arrow keys and out-of-range text.

import { h, wheelSafe } from "./dom.js";

/**
 * An `<input type="number">` for a whole number in `[min, max]`. The browser steps it by 1 with
 * the arrow keys and stops at the bounds; the wheel leaves the field instead of stepping it
 * (`wheelSafe`). Typed text can still be anything: read it with {@link clampWhole} (a setting
 * that is always valid) or `parseSeconds` in segments.js (a value the kernel's validator judges).
 * @param {{hook: string, min: number, max: number, label?: string}} spec
 * @param {AbortSignal} [signal] removes the field's listeners
 * @returns {HTMLInputElement}
 */
export function numberField({ hook, min, max, label }, signal) {
  const input = h("input", {
    class: "fk-input fk-seconds",
    type: "number",
    min,
    max,
    step: 1,
    "data-fk": hook,
    "aria-label": label,
  });
  return wheelSafe(input, signal);
}

/**
 * The field's text as a whole number inside `[min, max]`: rounded, pulled to the nearer bound,
 * and `min` for text that is no number (or 0) at all.
 * @param {string} text @param {number} min @param {number} max
 * @returns {number}
 */
export function clampWhole(text, min, max) {
  return Math.max(min, Math.min(max, Math.round(Number(text) || min)));
}
