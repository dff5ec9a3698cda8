// Whether a kernel answers this view. An exported HTML page (the html-manager renders the saved
// widget state with no kernel behind it) or a view whose kernel is gone would otherwise go quiet:
// Generate would wait for an answer that can never come, then come back with a vague timeout.
//
// One probe message at render decides. The kernel answers every message, an unknown kind too
// (docs/widget-protocol.md), so any kernel version answers the probe, and nothing is done for
// it. No answer within PROBE_TIMEOUT_MS: the view says it has no kernel. Any message from the
// kernel later (a busy kernel answers the probe once its cell ends) brings the view back.

import { request } from "./protocol.js";

/** @typedef {import("./protocol.js").MessageModel} MessageModel */

export const PROBE_KIND = "ping";
/** An idle kernel answers within milliseconds; a busy one answers after its cell (see above). */
export const PROBE_TIMEOUT_MS = 5_000;
export const SAVED_COPY = "This is a saved copy: run the notebook with a kernel to generate.";

/**
 * @typedef {{readonly alive: boolean, readonly reason: string}} Liveness
 * `alive` is true until the probe goes unanswered (a live kernel must not flash a notice), and
 * true again once the kernel is heard from; `reason` is "" or the text to show instead.
 */

/**
 * Probe the kernel once and keep listening for it.
 *
 * @param {MessageModel} model
 * @param {{onChange: () => void, signal?: AbortSignal, timeoutMs?: number}} options
 *   `onChange` runs each time `alive` flips; `signal` ends the watch (the view went away).
 * @returns {Liveness}
 */
export function watchKernel(model, { onChange, signal, timeoutMs = PROBE_TIMEOUT_MS }) {
  let alive = true;
  /** @param {boolean} value */
  const set = (value) => {
    if (value === alive || signal?.aborted) return;
    alive = value;
    onChange();
  };
  const heard = () => set(true);
  if (!signal?.aborted) {
    model.on("msg:custom", heard);
    signal?.addEventListener("abort", () => model.off("msg:custom", heard), { once: true });
  }
  request(model, { kind: PROBE_KIND }, { onReply: heard, onTimeout: () => set(false), signal, timeoutMs });
  return {
    get alive() {
      return alive;
    },
    get reason() {
      return alive ? "" : SAVED_COPY;
    },
  };
}
