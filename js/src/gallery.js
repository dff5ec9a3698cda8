// A batch's gallery: its cards side by side, with one play/pause and one scrub bar for all.

import { h } from "./dom.js";
import { clock } from "./format.js";
import { createSyncGroup } from "./sync.js";

/** @typedef {import("./protocol.js").TaskCard} TaskCard */
/** @typedef {{el: HTMLElement, video: HTMLVideoElement, hasVideo: () => boolean}} MemberView */

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
    grid,
  );

  /** @type {MemberView[]} */
  let members = [];
  let dragging = false;
  const ready = () => members.filter((m) => m.hasVideo()).map((m) => m.video);
  const group = createSyncGroup(ready);
  /** @type {WeakSet<HTMLVideoElement>} */
  const wired = new WeakSet();

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
  }

  /** @param {HTMLVideoElement} video */
  function wire(video) {
    if (wired.has(video)) return;
    wired.add(video);
    video.addEventListener("timeupdate", () => {
      if (video !== group.leader()) return;
      group.correctDrift();
      refreshControls();
    });
    for (const event of ["play", "pause", "ended", "loadedmetadata"]) video.addEventListener(event, refreshControls);
  }

  playAll.addEventListener("click", () => {
    if (group.playing()) group.pause();
    else void group.play();
    refreshControls();
  });
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
   */
  function setMembers(views, cards, concurrency) {
    members = views;
    views.forEach((view, index) => {
      if (grid.children[index] !== view.el) grid.insertBefore(view.el, grid.children[index] ?? null);
      wire(view.video);
    });
    const done = cards.filter((c) => c.status === "completed").length;
    const queued = cards.filter((c) => c.status === "queued").length;
    const failed = cards.filter((c) => ["failed", "cancelled", "uncertain"].includes(c.status)).length;
    const count = Math.max(cards.length, cards[0]?.batch?.count ?? 0);
    title.textContent = `${count} variations`;
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
