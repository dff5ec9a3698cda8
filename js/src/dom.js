// A tiny element builder. Text goes in through textContent only: data is never parsed as HTML.

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs]
 * @param {(Node | string | null | undefined | false)[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = String(value);
    else if (name === "text") el.textContent = String(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

/** Call `fn` at most once per `ms`, after the last call; `flush()` runs a pending call now.
 * @param {() => void} fn @param {number} ms */
export function debounce(fn, ms) {
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  const run = () => {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
      fn();
    }
  };
  return {
    call() {
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(run, ms);
    },
    flush: run,
    pending: () => timer !== null,
    cancel() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}

/** @param {string} message @param {string} [level] */
export function messageEl(message, level = "error") {
  return h("div", { class: `fk-msg fk-msg-${level}`, role: level === "error" ? "alert" : null, text: message });
}

/**
 * A number field the mouse wheel cannot change by accident: scrolling the page over a focused
 * field would otherwise step its value (Chromium) while the page scrolls. The wheel leaves the
 * field instead; arrow keys still step it.
 * @param {HTMLInputElement} input @param {AbortSignal} [signal] removes the listener
 * @returns {HTMLInputElement}
 */
export function wheelSafe(input, signal) {
  const leave = () => {
    if (document.activeElement === input) input.blur();
  };
  input.addEventListener("wheel", leave, { passive: true, signal });
  return input;
}

/**
 * `model.on(event, fn)` until `signal` aborts (then `model.off`): anywidget's
 * `observe(model, name, {signal})` pattern, so a view's listeners all end with the view.
 * @param {{on: (event: any, fn: any) => void, off: (event: any, fn: any) => void}} model
 * @param {string} event @param {(...args: any[]) => void} fn @param {AbortSignal} signal
 */
export function listen(model, event, fn, signal) {
  if (signal.aborted) return;
  model.on(event, fn);
  signal.addEventListener("abort", () => model.off(event, fn), { once: true });
}
