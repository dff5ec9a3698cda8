// One task card: status, progress, timing, credits, errors, and the finished video.

import { h } from "./dom.js";
import {
  credits,
  emulatorNote,
  failureText,
  inFlight,
  safeFileName,
  statusLabel,
  timing,
  withVoiceNames,
} from "./format.js";
import { options } from "./protocol.js";
import { loadingText } from "./transport.js";
import { blobUrl, isDirectVideoUrl, isSafePoster, playedWithoutAudio, setSafeSrc } from "./video.js";

/** @typedef {import("./protocol.js").TaskCard} TaskCard */
/** @typedef {import("./transport.js").LoadedVideo} LoadedVideo */

/** A stopped card that can be followed again says how: with its Resume button, here. Its status
 * already says "Not watching": the note does not say it again. */
const RESUMABLE_NOTE =
  "The provider may keep running and billing it (FoxAPI has no cancel). Resume follows it again here.";

/** How long "Copied" stays on the button before it reads "Copy as code" again. */
const COPIED_MS = 2_000;

/**
 * A card's poster: sent once in `_posters` by card id; an older kernel put it on the card.
 * @param {{get: (name: any) => any}} model @param {TaskCard} card
 */
export function posterOf(model, card) {
  const posters = model.get("_posters");
  const sent = posters && typeof posters === "object" ? posters[card.id] : undefined;
  return typeof sent === "string" && sent ? sent : card.poster;
}

/**
 * `requestVideo(id, direct)` starts loading the card's video (`direct`: a provider URL may be
 * played as is). The card asks for its video once by itself, when the card first says it is
 * ready; after a failure only the Retry button asks again, so a failing load never repeats on
 * every task update. `save(id)`: Download of a progressive clip, which fetches the original file
 * and hands it to `setDownload`.
 * @param {{stopWatching: (id: string) => void, resume: (id: string) => void, requestVideo: (id: string, direct: boolean) => void, load: (id: string) => void, save: (id: string) => void}} actions
 * @param {{get: (name: any) => any}} model the studio's model: posters (`_posters`) and voice names (`_voices`)
 */
export function createTaskCard(actions, model) {
  const status = h("span", { class: "fk-status" });
  const label = h("span", { class: "fk-variation", "data-fk": "variation-label" });
  const summary = h("span", { class: "fk-summary" });
  const idEl = h("code", { class: "fk-id" });
  const bar = h("div", { class: "fk-bar-fill" });
  const progress = h(
    "div",
    { class: "fk-bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-label": "Progress" },
    bar,
  );
  const meta = h("div", { class: "fk-meta" });
  const errorText = h("span", { "data-fk": "error-text" });
  const errorHint = h("span", { "data-fk": "error-hint" });
  const errorCode = h("code", { class: "fk-id", "data-fk": "error-code" });
  const error = h("div", { class: "fk-msg fk-msg-error", role: "alert" }, errorText, " ", errorHint, " ", errorCode);
  const note = h("div", { class: "fk-note" });
  const emulated = h("div", { class: "fk-note", "data-fk": "emulator-note" });
  const poster = h("img", { class: "fk-poster", alt: "" });
  const video = /** @type {HTMLVideoElement} */ (
    h("video", { class: "fk-video", controls: true, playsinline: true, preload: "metadata", "data-fk": "video" })
  );
  const audioNote = h("div", {
    class: "fk-note",
    "data-fk": "audio-note",
    text: "This player did not decode the audio track; use Download to play the file with sound.",
  });
  const download = h("a", { class: "fk-button", "data-fk": "download", text: "Download" });
  const loading = h("div", { class: "fk-note", "data-fk": "video-loading", "aria-live": "polite" });
  const failText = h("span", { "data-fk": "video-error-text" });
  const retry = h("button", { type: "button", class: "fk-button", "data-fk": "video-retry", text: "Retry" });
  const failure = h(
    "div",
    { class: "fk-msg fk-msg-error", role: "alert", "data-fk": "video-error" },
    failText,
    " ",
    retry,
  );
  const stop = h("button", {
    type: "button",
    class: "fk-button",
    "data-fk": "stop-watching",
    text: "Stop watching",
    title: "FoxAPI has no cancel: the provider may keep running and billing this task.",
  });
  const copy = h("button", { type: "button", class: "fk-button", "data-fk": "copy-code", text: "Copy as code" });
  const resume = h("button", {
    type: "button",
    class: "fk-button",
    "data-fk": "resume",
    text: "Resume",
    title: "Follow it again; nothing is submitted again",
  });
  // It refills the form only (nothing is sent): the name says so. The hook keeps its old name.
  const rerun = h("button", {
    type: "button",
    class: "fk-button",
    "data-fk": "edit-rerun",
    text: "Edit settings",
    title: "Load its settings into the form",
  });
  const codeBox = h("textarea", {
    class: "fk-code",
    readonly: true,
    rows: 6,
    "aria-label": "Python code for this request",
  });
  const media = h("div", { class: "fk-media" }, poster, video);
  const el = h(
    "article",
    { class: "fk-task", "data-fk": "task" },
    h("header", { class: "fk-row fk-between" }, h("div", { class: "fk-row" }, label, status, summary), idEl),
    progress,
    meta,
    error,
    note,
    emulated,
    media,
    loading,
    failure,
    audioNote,
    h("div", { class: "fk-row fk-actions" }, stop, resume, download, copy, rerun),
    codeBox,
  );
  /** @type {TaskCard | null} */
  let card = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let copiedTimer;
  /** @type {string | null} */
  let url = null;
  let requested = false;
  let direct = true; // a provider URL may be tried; false once one failed to play here
  /** @type {"blob" | "direct" | "media" | null} */
  let source = null;
  /** @type {Blob | null} a progressive clip's bytes, once all came: what plays if the stream fails */
  let whole = null;
  /** @type {string | null} a progressive clip's original file, fetched when Download is first pressed */
  let saved = null;

  stop.addEventListener("click", () => card && actions.stopWatching(card.id));
  resume.addEventListener("click", () => card && actions.resume(card.id));
  rerun.addEventListener("click", () => card && actions.load(card.id));
  copy.addEventListener("click", async () => {
    if (!card) return;
    codeBox.hidden = false;
    codeBox.value = card.code;
    try {
      await navigator.clipboard.writeText(card.code);
      copy.textContent = "Copied";
      clearTimeout(copiedTimer);
      copiedTimer = setTimeout(() => {
        copy.textContent = "Copy as code";
      }, COPIED_MS);
    } catch {
      // Clipboard access can be denied (iframes, http): leave the code selected to copy by hand.
      codeBox.select();
      copy.textContent = "Select and copy";
    }
  });
  video.addEventListener("loadeddata", () => {
    poster.hidden = true;
  });
  retry.addEventListener("click", () => {
    if (!card) return;
    failure.hidden = true;
    actions.requestVideo(card.id, direct);
  });
  download.addEventListener("click", (event) => {
    // A stream plays a remuxed copy: Download saves the kernel's original, pulled when pressed.
    if (source !== "media" || saved || !card) return;
    event.preventDefault();
    actions.save(card.id);
  });
  video.addEventListener("error", () => {
    if (!card || !url) return;
    if (source === "media") {
      // The MediaSource failed after its last byte came: the same bytes as a Blob, once (before, the loader switches).
      if (whole) setVideo({ blob: whole, name: download.getAttribute("download") ?? "", mime: whole.type });
      return;
    }
    if (source === "direct") {
      // The provider URL did not play here (expired early, blocked by a proxy...): the kernel
      // has the file, so fetch it the usual way, once.
      direct = false;
      forget();
      actions.requestVideo(card.id, false);
      return;
    }
    showFailure("This browser could not play the video. Use Download to save it and play it in another player.", false);
  });
  video.addEventListener("timeupdate", () => {
    if (card?.audio_requested && playedWithoutAudio(video)) audioNote.hidden = false;
  });

  /** @param {TaskCard} next @param {number} now */
  function update(next, now) {
    card = next;
    el.setAttribute("data-status", next.status);
    el.setAttribute("data-task-id", next.id);
    status.textContent = statusLabel(next.status);
    // A status is one word (the kernel's TaskStatus): what else a server sends adds no class of its own.
    status.className = `fk-status fk-status-${String(next.status).replace(/\W/g, "")}`;
    const text = withVoiceNames(next.summary, next.request?.voice_ids, model.get("_voices"));
    summary.textContent = text;
    summary.title = text; // the full text where the gallery clamps it to two lines
    idEl.textContent = next.id;
    showProgress(next.progress);
    progress.hidden = !inFlight(next.status, options(model).statuses) && next.status !== "completed";
    tick(now);
    error.hidden = !next.error;
    const failed = next.error ? failureText(next.error, next.task_id) : { message: "", hint: "", code: "" };
    errorText.textContent = failed.message;
    errorHint.textContent = failed.hint;
    errorCode.textContent = failed.code;
    label.hidden = !next.batch;
    label.textContent = next.batch ? next.batch.label : "";
    el.classList.toggle("fk-in-gallery", Boolean(next.batch));
    const voiceReady = next.kind === "voice" && next.status === "completed" && next.voice?.voice_id;
    const noteText = voiceReady
      ? `Voice ready: attach “${next.voice?.name}” under Voices (${next.voice?.voice_id}).`
      : next.resumable
        ? RESUMABLE_NOTE
        : next.note;
    note.hidden = !noteText;
    note.textContent = noteText ?? "";
    rerun.hidden = next.kind === "voice";
    // The kernel says whether it was an emulator task (`emulated`): `_mode` changes with a key.
    emulated.hidden = !next.emulated || next.kind === "voice";
    emulated.textContent = emulated.hidden ? "" : emulatorNote(next.request ?? {});
    stop.hidden = !next.watching;
    resume.hidden = !next.resumable;
    // The button just pressed hides once the kernel acts on it: its counterpart, shown in its
    // place, takes the keyboard's focus rather than dropping it to the page's start.
    const focused = document.activeElement;
    if (focused === stop && stop.hidden) resume.focus(); // a hidden one takes no focus
    if (focused === resume && resume.hidden) stop.focus();
    const ready = Boolean(next.video);
    const image = posterOf(model, next);
    if (isSafePoster(image) && !url) {
      poster.src = image;
      poster.hidden = false;
    } else if (!url) poster.hidden = true;
    media.hidden = !ready && !isSafePoster(image);
    video.hidden = !url;
    download.hidden = !url;
    if (ready && !url && !requested) {
      requested = true; // never reset: after a failure only Retry asks again
      actions.requestVideo(next.id, direct);
    }
  }

  /** @param {number} value 0-100 */
  function showProgress(value) {
    const shown = Math.max(0, Math.min(100, value));
    el.setAttribute("data-progress", String(Math.round(shown)));
    bar.style.width = `${shown}%`;
    progress.setAttribute("aria-valuenow", String(Math.round(shown)));
  }

  /**
   * A progress-only update (`cards-progress`): the bar, its number and the ETA move; nothing is
   * rebuilt, so a playing video or a focused button stays as it is.
   * @param {number} value @param {string} statusText @param {number} now
   */
  function setProgress(value, statusText, now) {
    // The kernel sends ticks for running cards only; one that comes late (or from a hostile
    // server) must not pull a finished card's bar back. (Number.isFinite is false for a non-number.)
    if (!card || !Number.isFinite(value) || !inFlight(card.status, options(model).statuses)) return;
    card = { ...card, progress: value, status_text: String(statusText ?? card.status_text) };
    showProgress(value);
    tick(now);
  }

  /** @param {number} now */
  function tick(now) {
    if (!card) return;
    meta.textContent = [timing(card, now), credits(card.credits_reserved)].filter(Boolean).join(" · ");
  }

  /** Show a loaded video: Blob bytes from the kernel, or a provider URL. @param {LoadedVideo} loaded */
  function setVideo(loaded) {
    if (loaded.mediaUrl && loaded.mediaUrl === url) {
      whole = loaded.blob ?? null; // a progressive clip's last byte
      loading.hidden = Boolean(whole);
      return;
    }
    forget();
    const name = safeFileName(loaded.name);
    if (loaded.mediaUrl) {
      url = loaded.mediaUrl; // a MediaSource (progressive.js): plays while the bytes arrive
      source = "media";
      download.setAttribute("download", name);
      download.setAttribute("href", "#"); // focusable; the click handler fetches the file
      download.removeAttribute("target");
    } else if (loaded.blob) {
      url = blobUrl(loaded.blob);
      source = "blob";
      download.setAttribute("download", name);
      download.removeAttribute("target");
    } else if (loaded.url && isDirectVideoUrl(loaded.url)) {
      url = loaded.url;
      source = "direct";
      // A cross-origin link ignores `download`: open it in a new tab rather than leave the notebook.
      download.setAttribute("download", name);
      download.setAttribute("target", "_blank");
      download.setAttribute("rel", "noopener noreferrer");
    } else {
      direct = false;
      if (card) actions.requestVideo(card.id, false);
      return;
    }
    setSafeSrc(video, url);
    if (source !== "media") setSafeSrc(download, url);
    if (source !== "media") loading.hidden = true; // a stream's progress stays until its last byte
    failure.hidden = true;
    video.hidden = false;
    download.hidden = false;
    media.hidden = false;
  }

  /** The original file a progressive clip's Download asked for: saved now. @param {Blob} blob */
  function setDownload(blob) {
    if (source !== "media") return;
    saved = blobUrl(blob);
    setSafeSrc(download, saved);
    download.click();
  }

  /** @param {number} received @param {number} total */
  function videoProgress(received, total) {
    failure.hidden = true;
    loading.hidden = false;
    loading.textContent = loadingText(received, total);
  }

  /** The one message a failed load shows, with Retry (and Download, when the bytes are here). @param {string} message */
  function videoFailed(message) {
    showFailure(message, true);
  }

  /** @param {string} message @param {boolean} canRetry */
  function showFailure(message, canRetry) {
    loading.hidden = true;
    failure.hidden = false;
    failText.textContent = message;
    retry.hidden = !canRetry;
    download.hidden = !url;
  }

  function forget() {
    if (url && (source === "blob" || source === "media")) URL.revokeObjectURL(url);
    if (saved) URL.revokeObjectURL(saved);
    whole = saved = null;
    url = null;
    source = null;
  }

  function dispose() {
    clearTimeout(copiedTimer);
    forget();
    video.removeAttribute("src");
  }

  audioNote.hidden = true;
  codeBox.hidden = true;
  loading.hidden = true;
  failure.hidden = true;
  return {
    el,
    video,
    hasVideo: () => Boolean(url),
    card: () => card,
    update,
    setProgress,
    tick,
    setVideo,
    setDownload,
    videoProgress,
    videoFailed,
    dispose,
  };
}
