// A batch's gallery: its cards side by side, with one play/pause and one scrub bar for all.
// Inside it the clips have no native controls (they covered a 16:9 clip: issue 11): the gallery
// drives them, adds a play-alone and a sound-from button under each, and keeps one clip audible.

import { h } from "./dom.js";
import { clock, failedStatus, plural } from "./format.js";
import { createSyncGroup, muteAllBut, soundSource } from "./sync.js";

/** @typedef {import("./protocol.js").TaskCard} TaskCard */
/** @typedef {{el: HTMLElement, video: HTMLVideoElement, hasVideo: () => boolean}} MemberView */
/** @typedef {{bar: HTMLElement, one: HTMLButtonElement, sound: HTMLButtonElement}} ClipBar */

/** A clip's width over its height, from an aspect ratio like "16:9" (16:9 when unreadable). @param {unknown} aspect */
export function aspectValue(aspect) {
  const [wide, high] = String(aspect).split(":").map(Number);
  return wide > 0 && high > 0 ? wide / high : 16 / 9;
}

/** The most clips a row takes, so rows come out even (up to 5 in one row; 6: 3 + 3; 8: 4 + 4). @param {number} n */
export const perRow = (n) => Math.ceil(n / Math.ceil(n / 5)) || 1;

/** @param {string} batchId */
export function createGallery(batchId) {
  const title = h("strong", { class: "fk-gallery-title" });
  const summary = h("span", { class: "fk-note", "data-fk": "gallery-summary" });
  const playAll = h("button", { type: "button", class: "fk-button", "data-fk": "play-all", text: "▶ Play all" });
  const scrub = /** @type {HTMLInputElement} */ (
    h("input", {
      type: "range",
      class: "fk-scrub",
      "data-fk": "scrub",
      min: 0,
      max: 0,
      step: 0.05,
      value: 0,
      "aria-label": "Position of all videos",
    })
  );
  const time = h("span", { class: "fk-note fk-time", "data-fk": "scrub-time", text: "0:00" });
  // The shared prompt, said once here: the cards' summaries, which repeat it, are hidden (CSS).
  const about = h("div", { class: "fk-note fk-gallery-about", "data-fk": "gallery-about" });
  const grid = h("div", { class: "fk-gallery-grid", "data-fk": "gallery-grid" });
  const el = h(
    "section",
    { class: "fk-gallery", "data-fk": "gallery", "data-batch": batchId, "aria-label": "Variations" },
    h(
      "header",
      { class: "fk-row fk-between" },
      h("div", { class: "fk-row" }, title, summary),
      h("div", { class: "fk-row fk-sync" }, playAll, scrub, time),
    ),
    about,
    grid,
  );

  /** @type {MemberView[]} */
  let members = [];
  /** @type {TaskCard[]} */
  let memberCards = [];
  /** @type {string | null} the user's pick, or the default as Play all found it */
  let picked = null;
  /** @type {string | null} the card heard now */
  let heard = null;
  let dragging = false;
  const ready = () => members.filter((m) => m.hasVideo()).map((m) => m.video);
  const group = createSyncGroup(ready);
  /** @type {WeakMap<HTMLVideoElement, ClipBar>} */
  const bars = new WeakMap();

  // Before a pick the default follows batch order: the member that happened to finish first
  // does not keep the sound, but once playing, a member finishing does not take it either.
  function applySound() {
    heard = soundSource(memberCards, picked);
    muteAllBut(
      members.map((m) => m.video),
      memberCards.findIndex((c) => c.id === heard),
    );
  }

  function toggleAll() {
    applySound();
    picked = heard;
    if (group.playing()) group.pause();
    else void group.play();
    refreshControls();
  }

  function refreshControls() {
    const videos = ready();
    const canSync = videos.length >= 2;
    playAll.disabled = !canSync;
    scrub.disabled = !canSync;
    playAll.title = canSync ? "Play or pause every finished variation together" : "Needs two finished videos";
    playAll.textContent = group.playing() ? "❚❚ Pause all" : "▶ Play all";
    playAll.setAttribute("aria-pressed", String(group.playing()));
    scrub.max = String(group.length());
    if (!dragging) scrub.value = String(group.position());
    time.textContent = `${clock(group.position())} / ${clock(group.length())}`;
    applySound();
    members.forEach((m, i) => {
      const clip = bars.get(m.video);
      if (!clip) return;
      clip.bar.hidden = !m.hasVideo();
      const label = memberCards[i]?.batch?.label ?? "";
      clip.sound.hidden = !memberCards[i]?.audio_requested;
      // Names that tell the cards apart for a screen reader (each card has the same buttons).
      clip.sound.setAttribute("aria-label", `Sound from ${label}`);
      // Its name follows its icon: while the clip plays, the button pauses it.
      clip.one.setAttribute("aria-label", m.video.paused ? `Play ${label} alone` : `Pause ${label}`);
      clip.sound.setAttribute("aria-pressed", String(memberCards[i]?.id === heard));
      clip.one.textContent = m.video.paused ? "▶" : "❚❚";
    });
  }

  /** The gallery's own controls under a member's clip (the card's native ones are off here). @param {HTMLVideoElement} video */
  function wire(video) {
    if (bars.has(video)) return;
    video.controls = false;
    const one = h("button", {
      type: "button",
      class: "fk-icon",
      "data-fk": "play-one",
    });
    const sound = h("button", {
      type: "button",
      class: "fk-icon",
      "data-fk": "sound-from",
      text: "♪ Sound",
    });
    const bar = h("div", { class: "fk-row fk-clip-bar" }, one, sound);
    bars.set(video, { bar, one, sound });
    video.after(bar);
    const id = () => memberCards[members.findIndex((m) => m.video === video)]?.id ?? null;
    sound.addEventListener("click", () => {
      picked = id();
      refreshControls();
    });
    one.addEventListener("click", () => {
      if (!video.paused) video.pause();
      else {
        for (const m of members) if (m.video !== video) m.video.pause();
        if (!sound.hidden) picked = id(); // alone, it is heard (when it has sound)
        applySound();
        video.play().catch(() => {}); // a pause or a new source cut it short: nothing to report
      }
    });
    video.addEventListener("click", toggleAll); // a click on a clip plays or pauses the group
    video.addEventListener("timeupdate", () => {
      if (video !== group.leader()) return;
      group.correctDrift();
      refreshControls();
    });
    for (const event of ["play", "pause", "ended", "loadedmetadata"]) video.addEventListener(event, refreshControls);
  }

  playAll.addEventListener("click", toggleAll);
  scrub.addEventListener("input", () => {
    dragging = true;
    group.seek(Number(scrub.value));
    time.textContent = `${clock(Number(scrub.value))} / ${clock(group.length())}`;
  });
  scrub.addEventListener("change", () => {
    dragging = false;
    refreshControls();
  });

  /**
   * Show these cards, in batch order, and describe the batch.
   * @param {MemberView[]} views @param {TaskCard[]} cards same order as views @param {number} concurrency
   * @param {import("./format.js").StatusGroups} [groups] the kernel's status groups (`options(model).statuses`)
   */
  function setMembers(views, cards, concurrency, groups) {
    members = views;
    memberCards = cards;
    const prompts = new Set(cards.map((c) => c.request?.prompt));
    about.textContent = about.title = prompts.size === 1 ? String(cards[0]?.request?.prompt ?? "") : "";
    about.hidden = !about.textContent;
    const shapes = cards.map((c) => aspectValue(c.request?.aspect_ratio));
    // Cards grow in proportion to their clip's shape, so a row's clips share one height (CSS);
    // a batch of one shape also gets even rows.
    grid.toggleAttribute("data-even", new Set(shapes).size === 1);
    grid.style.setProperty("--fk-k", String(perRow(cards.length)));
    views.forEach((view, index) => {
      view.el.style.setProperty("--fk-ar", String(shapes[index]));
      if (grid.children[index] !== view.el) grid.insertBefore(view.el, grid.children[index] ?? null);
      wire(view.video);
    });
    const done = cards.filter((c) => c.status === "completed").length;
    const queued = cards.filter((c) => c.status === "queued").length;
    const failed = cards.filter((c) => failedStatus(c.status, groups)).length;
    const count = Math.max(cards.length, cards[0]?.batch?.count ?? 0);
    title.textContent = plural(count, "variation"); // generate_batch takes a single request too
    const parts = [`${done} of ${count} done`];
    if (failed) parts.push(`${failed} failed`);
    // After a restart: members still queued when the kernel stopped were never sent (nor billed).
    if (count > cards.length)
      parts.push(`${count - cards.length} not here: never sent, or older than what was restored`);
    if (queued) parts.push(`${queued} waiting (${concurrency} at a time)`);
    summary.textContent = parts.join(" · ");
    refreshControls();
  }

  return { el, grid, setMembers, refresh: refreshControls, members: () => members, group };
}
