// Whether a kernel answers this view. An exported HTML page (the html-manager renders the saved
// widget state with no kernel behind it) or a view whose kernel is gone would otherwise go quiet:
// Generate would wait for an answer that can never come, then come back with a vague timeout.
//
// One probe message at render decides whether there is a kernel at all. The kernel answers every
// message, an unknown kind too (docs/widget-protocol.md), so any kernel version answers the probe,
// and nothing is done for it. No answer within PROBE_TIMEOUT_MS: the view says it has no kernel.
// Any message from the kernel later (a busy kernel answers the probe once its cell ends) brings
// the view back.
//
// A kernel that answered and then went away (restarted, shut down) is noticed two ways:
// - ipywidgets' widget manager sets the model's `comm_live` to false when its kernel restarts
//   (it "disconnects" every model) and fires `comm_live_update`. anywidget's model proxy forwards
//   `on("comm_live_update")` but does not expose `comm_live`; Backbone calls the listener with the
//   view as `this`, whose `model` is the real WidgetModel. Where neither tells, the event only
//   starts a probe.
// - A request that timed out (widget.js calls `check()`), followed by a probe nobody answers.

import { request } from "./protocol.js";

/** @typedef {import("./protocol.js").MessageModel} MessageModel */

export const PROBE_KIND = "ping";
/** An idle kernel answers within milliseconds; a busy one answers after its cell (see above). */
export const PROBE_TIMEOUT_MS = 5_000;
export const SAVED_COPY = "This is a saved copy: run the notebook with a kernel to generate.";
export const KERNEL_LOST = "The kernel restarted or stopped: run the cell again.";

/**
 * @typedef {{readonly alive: boolean, readonly reason: string, check: () => void, lose: () => void}} Liveness
 * `alive` is true until the kernel is found missing (a live kernel must not flash a notice), and
 * true again once it is heard from; `reason` is "" or the text to show instead. `check()` probes
 * again (after a request timed out); `lose()` says the kernel is gone (a send that threw).
 */

/**
 * `comm_live` where the host tells it: on the model, or on the real model behind anywidget's proxy.
 * @param {unknown} model @param {unknown} context the listener's `this` (Backbone: the view)
 * @returns {boolean | undefined}
 */
export function commLive(model, context) {
  for (const candidate of [model, /** @type {any} */ (context)?.model]) {
    const live = /** @type {any} */ (candidate)?.comm_live;
    if (typeof live === "boolean") return live;
  }
  return undefined;
}

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
  let heardOnce = false; // a kernel answered this view: losing it now is a restart, not a saved copy
  let gone = false; // the comm closed for good (comm_live false): no message can bring it back
  let probing = false;
  /** @param {boolean} value */
  const set = (value) => {
    if (value === alive || signal?.aborted) return;
    alive = value;
    onChange();
  };
  const heard = () => {
    if (gone) return;
    heardOnce = true;
    set(true);
  };
  const lose = () => {
    heardOnce = true; // something was sent over a comm that worked before
    set(false);
  };
  const probe = () => {
    if (probing || signal?.aborted) return;
    probing = true;
    const done = () => {
      probing = false;
    };
    try {
      request(
        model,
        { kind: PROBE_KIND },
        {
          onReply: () => {
            done();
            heard();
          },
          onTimeout: () => {
            done();
            set(false);
          },
          signal,
          timeoutMs,
        },
      );
    } catch {
      done(); // the host could not even send it: the comm is gone
      lose();
    }
  };
  /** @this {unknown} */
  function onLive() {
    const live = commLive(model, this);
    if (live === false) {
      gone = true;
      lose();
    } else if (live === true) {
      gone = false;
      probe();
    } else probe();
  }
  if (!signal?.aborted) {
    model.on("msg:custom", heard);
    model.on("comm_live_update", onLive);
    signal?.addEventListener(
      "abort",
      () => {
        model.off("msg:custom", heard);
        model.off("comm_live_update", onLive);
      },
      { once: true },
    );
  }
  probe();
  return {
    get alive() {
      return alive;
    },
    get reason() {
      if (alive) return "";
      return heardOnce ? KERNEL_LOST : SAVED_COPY;
    },
    check: () => {
      if (alive && !gone) probe();
    },
    lose,
  };
}
