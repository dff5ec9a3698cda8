// Keyboard isolation: one listener on the studio root decides which key presses are the studio's
// and keeps those from reaching the notebook host.
//
// Why this is needed: hosts act on keydown events that bubble out of an output. JupyterLab's
// notebook shortcuts take Enter in command mode (so a plain Enter in a widget textarea inserts no
// newline: the bug ipywidgets fixed by stopping keydown in text inputs), and VS Code's webview
// forwards every keydown that reaches its window to the workbench, where Shift+Enter and
// Ctrl+Enter run cells, and Notebook 7 runs its shortcuts before the key even reaches the widget
// (see watchWindow). Stopping propagation and suppressing Lumino's shortcuts (never cancelling
// the default action) keeps the browser's own editing behaviour and hides the key from the host.
//
// The rule is "a key belongs to whoever can use it":
// - In a text field (textarea, text-like input, number input, select, contenteditable) every key
//   is the field's, with three exceptions that go on to the host:
//   * Escape: the keyboard user's way out of the widget (Lab leaves the field for command mode,
//     VS Code returns focus to the notebook); no studio field uses it.
//   * function keys (F1 is VS Code's command palette, F11 full screen, ...).
//   * command chords a text field does not use: the platform's command modifier (⌘ on macOS,
//     Ctrl elsewhere) with a key outside the editing set below, so Ctrl/⌘+S still saves the
//     notebook and Ctrl/⌘+Shift+P still opens the palette while the prompt has focus. Ctrl+Alt
//     off macOS is AltGr (it types @, € on many layouts) and macOS Ctrl+letter chords are text
//     editing (Ctrl+A/E/K), so both stay with the field.
//   Keys typed while an IME composes text always stay with the field.
// - On other controls (buttons, checkboxes, the disclosure summaries, sliders, videos) only the
//   keys the control itself acts on are stopped: Enter and Space (activation; Lab would
//   otherwise take Enter and cancel the click) and, on sliders, timeline separators and media, the arrows,
//   Home/End and Page Up/Down. Everything else goes on, so Shift+Enter or Ctrl+Enter pressed
//   while a button has focus runs the cell as the user expects. Those chords must not also press
//   the button: Chromium clicks a focused button on Shift+Enter, which in VS Code (whose host
//   does not cancel the key) would start a billed Generate as well. So the keypress that would
//   activate the control is cancelled; the keydown, which the hosts listen to, is left alone.

const EDITING_KEYS = new Set([
  "a",
  "c",
  "v",
  "x",
  "z",
  "y", // select all, clipboard, undo/redo
  "Enter",
  "Backspace",
  "Delete", // Ctrl/⌘+Enter is a host's "run cell": never from a field
  "ArrowLeft",
  "ArrowRight",
  "ArrowUp",
  "ArrowDown",
  "Home",
  "End", // word and line moves
]);
const NAVIGATION_KEYS = new Set([
  "ArrowLeft",
  "ArrowRight",
  "ArrowUp",
  "ArrowDown",
  "Home",
  "End",
  "PageUp",
  "PageDown",
]);
// How far a key moves a slider-like control (a timeline boundary, segment-editor.js), as a
// native range input moves: a step back with Left/Down, forward with Right/Up, to the very end
// with Home/End (the control clamps the infinite step into its bounds).
const STEPS = new Map([
  ["ArrowLeft", -1],
  ["ArrowDown", -1],
  ["ArrowRight", 1],
  ["ArrowUp", 1],
  ["Home", -Infinity],
  ["End", Infinity],
]);
// A modifier pressed on its own stays with a text field: JupyterLab watches the target of every
// keydown it sees until that key is released and cancels a line break typed meanwhile, so a
// Shift keydown reaching it would swallow the newline of Shift+Enter.
const MODIFIERS = new Set(["Control", "Shift", "Alt", "Meta", "AltGraph", "CapsLock", "OS"]);
const NON_TEXT_INPUTS = new Set([
  "button",
  "checkbox",
  "radio",
  "range",
  "color",
  "file",
  "submit",
  "reset",
  "image",
  "hidden",
]);

/** @type {WeakSet<Element>} */
const guarded = new WeakSet();

const isMac = () => typeof navigator !== "undefined" && /Mac|iPhone|iPad|iPod/.test(navigator.platform ?? "");

/**
 * True for elements that take typed text: the user's keys are theirs.
 * @param {EventTarget | null} target
 * @returns {boolean}
 */
export function isTextField(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) return !NON_TEXT_INPUTS.has(target.type);
  return target.isContentEditable;
}

/**
 * Should this keydown stay inside the studio (not reach the host)?
 * @param {KeyboardEvent} event
 * @param {boolean} [mac] the platform's command modifier is ⌘ (default: detected)
 * @returns {boolean}
 */
export function keepsKey(event, mac = isMac()) {
  const key = event.key ?? "";
  if (event.isComposing || key === "Process") return true;
  if (key === "Escape" || /^F\d{1,2}$/.test(key)) return false;
  const target = event.target;
  if (isTextField(target)) {
    if (MODIFIERS.has(key)) return true;
    const command = mac ? event.metaKey : event.ctrlKey && !event.altKey;
    if (!command) return true;
    return EDITING_KEYS.has(key.length === 1 ? key.toLowerCase() : key);
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return false;
  if (key === " ") return true;
  if (key === "Enter") return !event.shiftKey;
  // The timeline's boundaries (role="separator", segment-editor.js) move with the arrows, as sliders do.
  const adjustable =
    (target instanceof HTMLInputElement && target.type === "range") ||
    target instanceof HTMLMediaElement ||
    (target instanceof HTMLElement && target.getAttribute("role") === "separator");
  return adjustable && NAVIGATION_KEYS.has(key);
}

/**
 * The step a key moves a slider-like control by: -1 or 1 for the arrows, -Infinity or Infinity
 * for Home and End (clamp it into the control's bounds), undefined for a key that moves nothing.
 * keepsKey keeps every one of these keys from the host when such a control has focus.
 * @param {string} key a KeyboardEvent's `key`
 * @returns {number | undefined}
 */
export function stepFor(key) {
  return STEPS.get(key);
}

// Lumino, the toolkit of JupyterLab and Notebook 7, matches no shortcut for a key whose target
// sits inside an element with this attribute.
const SUPPRESS = "data-lm-suppress-shortcuts";

/** Guarded roots per window, for the one capture listener each window gets. */
/** @type {WeakMap<Window, {roots: Set<HTMLElement>, remove: () => void}>} */
const perWindow = new WeakMap();

/**
 * Stopping propagation at the root only helps against listeners that run after it: Lab and VS
 * Code listen in the bubble phase, but Notebook 7 runs its shortcuts in the *capture* phase on
 * the document, before the key reaches the studio at all. A capture listener on the window runs
 * before that one, and marks the root with Lumino's suppress attribute for exactly the keys the
 * studio keeps, while the key is dispatched; the root's own listener (or, should something stop
 * the key earlier, the next task) takes the mark off again. Stopping the key in the window's
 * capture phase instead would also keep it from the studio's own fields.
 * @param {Window} win @param {HTMLElement} root
 */
function watchWindow(win, root) {
  let entry = perWindow.get(win);
  if (!entry) {
    const roots = new Set();
    /** @param {KeyboardEvent} event */
    const onCapture = (event) => {
      const target = event.target;
      if (!(target instanceof Node)) return;
      for (const r of roots) {
        if (r.contains(target) && keepsKey(event)) {
          r.setAttribute(SUPPRESS, "");
          win.setTimeout(() => r.removeAttribute(SUPPRESS), 0);
        }
      }
    };
    win.addEventListener("keydown", onCapture, true);
    entry = { roots, remove: () => win.removeEventListener("keydown", onCapture, true) };
    perWindow.set(win, entry);
  }
  entry.roots.add(root);
  const mine = entry;
  return () => {
    mine.roots.delete(root);
    root.removeAttribute(SUPPRESS);
    if (!mine.roots.size) {
      mine.remove();
      perWindow.delete(win);
    }
  };
}

/**
 * Install the studio's key handling on `root` (once per element; later calls do nothing).
 * @param {HTMLElement} root
 * @returns {() => void} removes the listeners
 */
export function guardKeys(root) {
  if (guarded.has(root)) return () => {};
  guarded.add(root);
  /** @param {KeyboardEvent} event */
  const onKeydown = (event) => {
    root.removeAttribute(SUPPRESS);
    if (keepsKey(event)) event.stopPropagation();
  };
  /** @param {KeyboardEvent} event */
  const onKeypress = (event) => {
    // A host chord on a control (Shift/Ctrl/⌘+Enter on a button): the host has the keydown;
    // cancel the activation so the button is not pressed too.
    if (event.key === "Enter" && (event.shiftKey || event.ctrlKey || event.metaKey) && !isTextField(event.target)) {
      event.preventDefault();
    }
  };
  root.addEventListener("keydown", onKeydown);
  root.addEventListener("keypress", onKeypress);
  const win = root.ownerDocument.defaultView;
  const unwatch = win ? watchWindow(win, root) : () => {};
  return () => {
    root.removeEventListener("keydown", onKeydown);
    root.removeEventListener("keypress", onKeypress);
    unwatch();
    guarded.delete(root);
  };
}
