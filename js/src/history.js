// The studio's history: older finished cards (and batches) folded into small poster tiles, so the
// studio stays small however many clips it holds. A tile is a disclosure button: it unfolds its
// card or gallery in place, and folds it again. "Clear finished" asks the kernel to drop them.

import { h } from "./dom.js";
import { cardDate, clip, failedStatus, inFlight, plural, withVoiceNames } from "./format.js";
import { posterOf } from "./task-card.js";
import { isSafePoster } from "./video.js";

/** @typedef {import("./protocol.js").TaskCard} TaskCard */
/**
 * One top-level item of the studio's list: a lone card, or a batch's gallery (`key`: the card id
 * or the batch id), with what its tile shows.
 * @typedef {{key: string, el: HTMLElement, cards: TaskCard[], poster: string, date: string, text: string, title: string}} HistoryItem
 */

/** A failure stays unfolded this long after it happened: it needs reading before it folds away. */
export const RECENT_FAILURE_MS = 15 * 60_000;

/**
 * Whether a card needs attention, so it stays unfolded: still running, an unknown outcome (the
 * submit may have been billed), a stop the user may want to resume, a recent failure.
 * @param {TaskCard} card @param {number} now ms since epoch
 * @param {import("./format.js").StatusGroups} [groups] the kernel's (`options(model).statuses`)
 */
export function needsAttention(card, now, groups) {
  if (inFlight(card.status, groups) || card.status === "uncertain" || card.resumable) return true;
  return failedStatus(card.status, groups) && now - (card.finished_at ?? now) < RECENT_FAILURE_MS;
}

/**
 * Which items fold into the history: all but the newest item, the newest video item (a voice
 * card made after a clip does not fold the clip away) and those needing attention.
 * @param {{key: string, cards: TaskCard[]}[]} items newest first @param {number} now
 * @param {import("./format.js").StatusGroups} [groups] the kernel's (`options(model).statuses`)
 * @returns {Set<string>} the folded items' keys
 */
export function foldedKeys(items, now, groups) {
  const newestVideo = items.find((item) => item.cards.some((c) => c.kind !== "voice"));
  const folded = new Set();
  items.forEach((item, index) => {
    if (index === 0 || item === newestVideo || item.cards.some((c) => needsAttention(c, now, groups))) return;
    folded.add(item.key);
  });
  return folded;
}

/**
 * The text a tile shows for a card: its prompt (the shots' prompts when it has none), voice
 * names where it says <<<voice_N>>>; a voice card's name.
 * @param {{get: (name: any) => any}} model @param {TaskCard} card
 */
function promptOf(model, card) {
  if (card.kind === "voice") return `Voice “${card.voice?.name ?? ""}”`;
  const request = card.request ?? {};
  const shots = Array.isArray(request.multi_prompt) ? request.multi_prompt.map((s) => s?.prompt ?? "") : [];
  const text = typeof request.prompt === "string" && request.prompt ? request.prompt : shots.join(" / ");
  return withVoiceNames(text || card.summary, request.voice_ids, model.get("_voices"));
}

/**
 * What an item's tile shows: a poster (the first member's that has one), the date, the prompt's
 * start (a batch's with its count), and the whole summary as its title.
 * @param {{get: (name: any) => any}} model @param {{key: string, el: HTMLElement, cards: TaskCard[]}} item
 * @returns {HistoryItem}
 */
export function tileOf(model, item) {
  const first = item.cards[0];
  const poster = item.cards.map((c) => posterOf(model, c)).find(Boolean) ?? "";
  // The batch's size, as its gallery says it (members never sent are counted there too).
  const count = first.batch ? `${plural(Math.max(item.cards.length, first.batch.count), "variation")} · ` : "";
  const title = withVoiceNames(first.summary, first.request?.voice_ids, model.get("_voices"));
  return { ...item, poster, date: cardDate(first), text: count + clip(promptOf(model, first), 60), title };
}

/**
 * @param {{clear: () => void, toggled: (key: string, open: boolean) => void}} actions
 * @param {AbortSignal} signal
 */
export function createHistory(actions, signal) {
  const title = h("strong", { class: "fk-history-title" });
  const older = h("span", { class: "fk-note", "data-fk": "older" });
  const clear = h("button", {
    type: "button",
    class: "fk-button",
    "data-fk": "clear",
    text: "Clear finished",
    title: "The task journal keeps them",
  });
  // Not a live region: the studio's announcer says what Clear finished did (a note shown only
  // once it has text is missed by screen readers); both would say it twice.
  const note = h("div", { class: "fk-note", "data-fk": "history-note", tabindex: -1 });
  const grid = h("div", { class: "fk-history-grid", "data-fk": "history-grid" });
  const el = h(
    "section",
    { class: "fk-tasks", "data-fk": "history", "aria-label": "History" },
    h("header", { class: "fk-row fk-between" }, h("div", { class: "fk-row" }, title, older), clear),
    note,
    grid,
  );
  /** @type {Map<string, {tile: HTMLButtonElement, img: HTMLImageElement, date: HTMLElement, text: HTMLElement, wrap: HTMLElement}>} */
  const entries = new Map();
  /** @type {Set<string>} */
  const open = new Set();
  /** @type {HistoryItem[]} */
  let shown = [];
  let state = { older: 0, clearable: false };
  // Clear finished had the focus when it hid (nothing left to clear): the focus goes to what it
  // says, once said, rather than to the top of the page.
  let focusNote = false;

  clear.addEventListener(
    "click",
    () => {
      clear.disabled = true; // until the kernel answers (say)
      actions.clear();
    },
    { signal },
  );

  /** @param {string} key */
  function entry(key) {
    const known = entries.get(key);
    if (known) return known;
    const img = h("img", { class: "fk-tile-poster", alt: "" });
    const date = h("span", { class: "fk-note", "data-fk": "tile-date" });
    const text = h("span", { class: "fk-tile-text" });
    const tile = h(
      "button",
      { type: "button", class: "fk-tile", "data-fk": "history-tile", "data-key": key, "aria-expanded": "false" },
      img,
      date,
      text,
    );
    // A button: Enter and Space click it too.
    tile.addEventListener(
      "click",
      () => {
        const unfold = !open.has(key);
        if (unfold) open.add(key);
        else open.delete(key);
        layout();
        actions.toggled(key, unfold);
      },
      { signal },
    );
    const wrap = h("div", { class: "fk-history-item", "data-fk": "history-item", hidden: true });
    const made = { tile, img, date, text, wrap };
    entries.set(key, made);
    return made;
  }

  function layout() {
    let index = 0;
    /** @type {HTMLButtonElement | null} */
    let heir = null;
    /** @param {Element} node */
    const place = (node) => {
      if (grid.children[index] !== node) grid.insertBefore(node, grid.children[index] ?? null);
      index += 1;
    };
    for (const item of shown) {
      const { tile, wrap } = entry(item.key);
      const unfolded = open.has(item.key);
      tile.setAttribute("aria-expanded", String(unfolded));
      tile.title = `${unfolded ? "Fold" : "Show"}: ${item.title}`;
      place(tile);
      // Folded, the card stays in the page, hidden under its tile (its state, its video's place,
      // a search of the page by its text); moved there once, so a playing video is not re-parented.
      if (item.el.parentElement !== wrap) {
        // A card folding under the keyboard's focus (a newer clip came) would drop it to the
        // page's start: its tile takes it, once the grid is shown.
        if (!unfolded && item.el.contains(document.activeElement)) heir = tile;
        wrap.replaceChildren(item.el);
      }
      wrap.hidden = !unfolded;
      place(wrap);
    }
    while (grid.children.length > index) grid.lastElementChild?.remove();
    title.textContent = shown.length ? `History (${shown.length})` : "History";
    grid.hidden = !shown.length;
    older.textContent = state.older
      ? `${plural(state.older, "older generation")} not shown (w.generations has them all)`
      : "";
    if (!state.clearable && document.activeElement === clear) focusNote = true;
    clear.hidden = !state.clearable;
    note.hidden = !note.textContent;
    el.hidden = !shown.length && !state.older && !state.clearable && !note.textContent;
    heir?.focus();
    if (focusNote && !el.hidden && !note.hidden) {
      focusNote = false;
      note.focus();
    }
  }

  /**
   * Show these folded items (newest first), the count of generations the kernel did not send and
   * whether any shown card is finished (Clear finished has something to do).
   * @param {HistoryItem[]} items @param {{older: number, clearable: boolean}} next
   */
  function set(items, next) {
    shown = items;
    state = next;
    const keys = new Set(items.map((item) => item.key));
    for (const key of [...entries.keys()]) {
      if (keys.has(key)) continue;
      // Its tile goes too, here: left for layout() to trim, the tiles after it would be moved
      // past it, and a moved element loses the keyboard's focus.
      entries.get(key)?.tile.remove();
      entries.get(key)?.wrap.remove();
      entries.delete(key);
      open.delete(key);
    }
    for (const item of items) {
      const { img, date, text } = entry(item.key);
      img.hidden = !isSafePoster(item.poster);
      if (!img.hidden && img.getAttribute("src") !== item.poster) img.src = item.poster;
      date.textContent = item.date;
      text.textContent = item.text;
    }
    layout();
  }

  /** What Clear finished did (or why not); the button comes back. @param {string} text */
  function say(text) {
    clear.disabled = false;
    note.textContent = text;
    layout();
  }

  return { el, set, say, isOpen: (/** @type {string} */ key) => open.has(key) };
}
