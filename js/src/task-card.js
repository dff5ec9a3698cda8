// One task card: status, progress, timing, credits, errors, and the finished video.

import { h } from "./dom.js";
import { credits, inFlight, safeFileName, statusLabel, timing } from "./format.js";
import { blobUrl, isSafePoster, playedWithoutAudio, setSafeSrc } from "./video.js";

/** @typedef {import("./protocol.js").TaskCard} TaskCard */

/**
 * @param {{stopWatching: (id: string) => void, requestVideo: (id: string) => void, load: (id: string) => void}} actions
 */
export function createTaskCard(actions) {
  const status = h("span", { class: "fk-status" });
  const label = h("span", { class: "fk-variation", "data-fk": "variation-label" });
  const summary = h("span", { class: "fk-summary" });
  const idEl = h("code", { class: "fk-id" });
  const bar = h("div", { class: "fk-bar-fill" });
  const progress = h("div", { class: "fk-bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-label": "Progress" }, bar);
  const meta = h("div", { class: "fk-meta" });
  const error = h("div", { class: "fk-msg fk-msg-error", role: "alert" });
  const note = h("div", { class: "fk-note" });
  const poster = h("img", { class: "fk-poster", alt: "" });
  const video = /** @type {HTMLVideoElement} */ (h("video", { class: "fk-video", controls: true, playsinline: true, preload: "metadata", "data-fk": "video" }));
  const audioNote = h("div", { class: "fk-note", "data-fk": "audio-note", text: "This player did not decode the audio track; use Download to play the file with sound." });
  const download = h("a", { class: "fk-button", "data-fk": "download", text: "Download" });
  const stop = h("button", { type: "button", class: "fk-button", "data-fk": "stop-watching", text: "Stop watching", title: "FoxAPI has no cancel: the provider may keep running and billing this task." });
  const copy = h("button", { type: "button", class: "fk-button", "data-fk": "copy-code", text: "Copy as code" });
  const rerun = h("button", { type: "button", class: "fk-button", "data-fk": "edit-rerun", text: "Edit and re-run" });
  const codeBox = h("textarea", { class: "fk-code", readonly: true, rows: 6, "aria-label": "Python code for this request" });
  const media = h("div", { class: "fk-media" }, poster, video);
  const el = h(
    "article",
    { class: "fk-task", "data-fk": "task" },
    h("header", { class: "fk-row fk-between" }, h("div", { class: "fk-row" }, label, status, summary), idEl),
    progress,
    meta,
    error,
    note,
    media,
    audioNote,
    h("div", { class: "fk-row fk-actions" }, stop, download, copy, rerun),
    codeBox,
  );
  /** @type {TaskCard | null} */
  let card = null;
  /** @type {string | null} */
  let url = null;
  let requested = false;

  stop.addEventListener("click", () => card && actions.stopWatching(card.id));
  rerun.addEventListener("click", () => card && actions.load(card.id));
  copy.addEventListener("click", async () => {
    if (!card) return;
    codeBox.hidden = false;
    codeBox.value = card.code;
    try {
      await navigator.clipboard.writeText(card.code);
      copy.textContent = "Copied";
    } catch {
      // Clipboard access can be denied (iframes, http): leave the code selected to copy by hand.
      codeBox.select();
      copy.textContent = "Select and copy";
    }
  });
  video.addEventListener("loadeddata", () => {
    poster.hidden = true;
  });
  video.addEventListener("timeupdate", () => {
    if (card?.audio_requested && playedWithoutAudio(video)) audioNote.hidden = false;
  });

  /** @param {TaskCard} next @param {number} now */
  function update(next, now) {
    card = next;
    el.setAttribute("data-status", next.status);
    el.setAttribute("data-progress", String(Math.round(next.progress)));
    el.setAttribute("data-task-id", next.id);
    status.textContent = statusLabel(next.status);
    status.className = `fk-status fk-status-${next.status}`;
    summary.textContent = next.summary;
    summary.title = next.summary; // the full text where the gallery clamps it to two lines
    idEl.textContent = next.id;
    bar.style.width = `${Math.max(0, Math.min(100, next.progress))}%`;
    progress.setAttribute("aria-valuenow", String(Math.round(next.progress)));
    progress.hidden = !inFlight(next.status) && next.status !== "completed";
    tick(now);
    error.hidden = !next.error;
    error.textContent = next.error ? [next.error.code, next.error.message, next.error.hint].filter(Boolean).join(" — ") : "";
    label.hidden = !next.batch;
    label.textContent = next.batch ? next.batch.label : "";
    el.classList.toggle("fk-in-gallery", Boolean(next.batch));
    const voiceReady = next.kind === "voice" && next.status === "completed" && next.voice?.voice_id;
    const text = voiceReady ? `Voice ready: attach “${next.voice?.name}” under Voices (${next.voice?.voice_id}).` : next.note;
    note.hidden = !text;
    note.textContent = text ?? "";
    rerun.hidden = next.kind === "voice";
    stop.hidden = !next.watching;
    const ready = Boolean(next.video);
    if (isSafePoster(next.poster) && !url) {
      poster.src = next.poster;
      poster.hidden = false;
    } else if (!url) poster.hidden = true;
    media.hidden = !ready && !isSafePoster(next.poster);
    video.hidden = !url;
    download.hidden = !url;
    if (ready && !url && !requested) {
      requested = true;
      actions.requestVideo(next.id);
    }
  }

  /** @param {number} now */
  function tick(now) {
    if (!card) return;
    meta.textContent = [timing(card, now), credits(card.credits_reserved)].filter(Boolean).join(" · ");
  }

  /** @param {DataView | ArrayBuffer} buffer @param {string} name */
  function setVideo(buffer, name) {
    if (url) URL.revokeObjectURL(url);
    url = blobUrl(buffer);
    setSafeSrc(video, url);
    setSafeSrc(download, url);
    download.setAttribute("download", safeFileName(name));
    video.hidden = false;
    download.hidden = false;
    media.hidden = false;
  }

  /** @param {string} message */
  function videoFailed(message) {
    requested = false;
    note.hidden = false;
    note.textContent = message;
  }

  function dispose() {
    if (url) URL.revokeObjectURL(url);
    url = null;
    video.removeAttribute("src");
  }

  audioNote.hidden = true;
  codeBox.hidden = true;
  return { el, video, hasVideo: () => Boolean(url), update, tick, setVideo, videoFailed, dispose };
}
