// Video transport: pull a clip from the kernel in acknowledged chunks and hand back a Blob.
// Pure logic over a model's send/on/off (no DOM): tests drive it with a fake model.
// Keep the message shapes in sync with foxkling_widgets/_transport.py and docs/widget-protocol.md.
//
// Why chunks (not one buffer per clip): one buffer cost the Jupyter server 3-4x the file, VS Code's
// extension forwards a binary frame as a JSON array of numbers (~3.4x the bytes), and Colab's
// widget manager drops binary buffers (googlecolab/colab-cdn-widget-manager#33). Each chunk is a
// few MB, the kernel sends at most a window of them ahead of our acks, and each one becomes a
// small Blob at once, so the JS heap never holds the clip: the final Blob is made of those parts.

import { INCOMING, KIND, nextId, request, TIMEOUT_MS, VIDEO_IDLE_MS } from "./protocol.js";
import { preferredAudio } from "./video.js";

/** @typedef {import("./protocol.js").MessageModel} MessageModel */
/** @typedef {"binary" | "base64"} Encoding */
/** The probe's known buffer (`PROBE_BYTES` in _transport.py). */
export const PROBE_BYTES = Object.freeze([0x46, 0x4b, 0x00, 0xff]);

/**
 * Bytes of one binary buffer, whatever shape the host delivered it in: a `DataView` (JupyterLab,
 * Notebook 7), an `ArrayBuffer`, any typed array, or a plain JSON array of byte values (VS Code's
 * Jupyter extension). `null` for anything else, or for a missing buffer (Colab drops them).
 * Views share the buffer's memory (no copy); only a JSON array is copied.
 * @param {unknown} buffer
 * @returns {Uint8Array | null}
 */
export function toBytes(buffer) {
  if (buffer == null) return null;
  if (buffer instanceof Uint8Array) return buffer;
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  if (Array.isArray(buffer)) {
    if (!buffer.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) return null;
    return Uint8Array.from(buffer);
  }
  // An ArrayBuffer from another realm (an iframe, a webview bridge) fails instanceof.
  if (Object.prototype.toString.call(buffer) === "[object ArrayBuffer]")
    return new Uint8Array(/** @type {ArrayBuffer} */ (buffer));
  return null;
}

/** Bytes of a base64 string (the text fallback), or `null` when it is not base64. @param {unknown} text */
export function decodeBase64(text) {
  if (typeof text !== "string") return null;
  let binary;
  try {
    binary = atob(text);
  } catch {
    return null;
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Whether a probe answer's buffers carry the known bytes. @param {unknown[] | undefined} buffers */
export function probeSurvived(buffers) {
  const bytes = toBytes(buffers?.[0]);
  return Boolean(bytes && bytes.length === PROBE_BYTES.length && PROBE_BYTES.every((b, i) => bytes[i] === b));
}

/**
 * Which encoding a view should ask for, from the probe answer's buffers: "binary" when the known
 * bytes arrived as bytes; "base64" when they came missing, empty or mangled (Colab), and also
 * when they came as a plain JSON array of numbers: that host (VS Code's Jupyter extension)
 * turns every byte into up to four characters of JSON (~3.4x), where base64 costs 1.33x.
 * @param {unknown[] | undefined} buffers
 * @returns {Encoding}
 */
export function encodingFor(buffers) {
  return probeSurvived(buffers) && !Array.isArray(buffers?.[0]) ? "binary" : "base64";
}

/**
 * Ask the kernel for the probe and report which encoding this view should ask for
 * (`encodingFor`), or "base64" when no answer came (base64 works in every host).
 * @param {MessageModel} model
 * @param {(encoding: Encoding) => void} onResult
 * @param {{signal?: AbortSignal, timeoutMs?: number}} [options]
 */
export function probeEncoding(model, onResult, options = {}) {
  request(model, /** @type {{kind: string}} */ ({ kind: KIND.videoProbe }), {
    signal: options.signal,
    timeoutMs: options.timeoutMs ?? TIMEOUT_MS[KIND.videoProbe],
    onReply: (reply, buffers) => onResult(reply.ok ? encodingFor(buffers) : "base64"),
    onTimeout: () => onResult("base64"),
  });
}

/**
 * What a failed load says: one sentence of what happened and what to do.
 * @param {string} reason
 */
export function failureText(reason) {
  const why = reason.replace(/[.\s]+$/, "");
  return `The video could not be loaded: ${why}. Press Retry; if it keeps failing, restart the kernel and reload the page.`;
}

/** @typedef {import("./progressive.js").Stream} Stream */
/**
 * @typedef {{
 *   blob?: Blob, url?: string, mediaUrl?: string, name: string, mime: string,
 * }} LoadedVideo `blob` for bytes from the kernel, `url` for a provider URL the browser plays itself,
 * `mediaUrl` for a MediaSource that plays while the bytes arrive (with `blob` once they all have)
 */

/**
 * Pull one task's video from the kernel.
 *
 * Sends `video-request {task_id, encoding, direct, audio?}` (`audio: "mp3"` when this page's
 * player cannot play AAC: `preferredAudio()` in video.js, unless `options.audio` says). The kernel answers `video-response`: either
 * `{ok, url}` (a provider URL to play directly; only when `direct` is true) or a header
 * `{ok, total, chunks, chunk_size, window, encoding, name, mime}`, followed by `video-chunk`s with
 * this request's id. Each chunk is acknowledged (`video-ack {transfer, index}`); duplicates are
 * acknowledged again and dropped; chunks may come in any order. Ends in exactly one of `onDone` /
 * `onFail`, or in neither when cancelled (the kernel is told: `video-cancel`).
 *
 * `onFail(message, reason)`: `reason` is "buffers-dropped" when binary chunks came without their
 * bytes (the caller should ask again in base64), "refused", "timeout", "error" or "bad-chunk".
 *
 * Progressive playback: with `container: "fmp4"` and a `stream` factory (progressive.js's
 * `openStream`), the request asks for fragmented MP4 (not with `audio: "mp3"`). When the header
 * says `container: "fmp4"` (no `total` or `chunks`: the last chunk says; `estimate` for progress)
 * and `stream(mime)` gives a Stream, `onStream({mediaUrl})` is called at once and each chunk is
 * appended in order and acknowledged only once appended. The Blob is built as always;
 * `onDone` gets `mediaUrl` too unless the stream failed on the way (then the Blob alone: the
 * fallback, without asking again).
 *
 * @param {MessageModel} model
 * @param {string} taskId
 * @param {{
 *   encoding?: Encoding, direct?: boolean, audio?: "mp3", signal?: AbortSignal,
 *   container?: "fmp4", stream?: (mime: string) => Stream | null, onStream?: (video: LoadedVideo) => void,
 *   onProgress?: (received: number, total: number) => void,
 *   onDone: (video: LoadedVideo) => void,
 *   onFail: (message: string, reason: string) => void,
 *   idleMs?: number,
 * }} options
 * @returns {{id: string, cancel: () => void}}
 */
export function loadVideo(model, taskId, options) {
  const { encoding = "binary", direct = false, audio = preferredAudio(), signal, onProgress, onDone, onFail } = options;
  const idleMs = options.idleMs ?? VIDEO_IDLE_MS;
  const container = options.stream && !audio ? options.container : undefined;
  const id = nextId();
  /** @type {Map<number, Blob>} */
  const parts = new Map();
  let received = 0;
  let total = -1;
  let count = -1; // chunks expected, once the header (or the last chunk) says
  let mime = "video/mp4";
  let name = `${taskId}.mp4`;
  let answered = false; // the header came
  let estimate = -1; // a stream's expected size, for progress until its last chunk gives the total
  /** @type {Stream | null} */
  let stream = null;
  /** @type {Map<number, Uint8Array>} chunks that came before their turn to be appended */
  const early = new Map();
  let appendNext = 0; // the next chunk the stream takes
  /** @type {Set<number>} */
  const unacked = new Set(); // received chunks still waiting for the stream: acknowledged at the end
  let over = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;

  const cleanup = () => {
    over = true;
    clearTimeout(timer);
    model.off("msg:custom", handler);
    signal?.removeEventListener("abort", cancel);
  };
  // The request went out, so the kernel may be sending (it handles messages in order, so a
  // cancel sent before its header arrived still finds the transfer).
  function cancel() {
    if (over) return;
    cleanup();
    model.send({ kind: KIND.videoCancel, id: nextId(), transfer: id });
  }
  /** @param {string} message @param {string} reason */
  const fail = (message, reason) => {
    if (over) return;
    cleanup();
    // Tell the kernel to stop, unless it has stopped already (it refused, or said it gave up).
    if (reason !== "refused" && reason !== "error") model.send({ kind: KIND.videoCancel, id: nextId(), transfer: id });
    onFail(failureText(message), reason);
  };
  const arm = (/** @type {number} */ ms) => {
    clearTimeout(timer);
    timer = setTimeout(
      () =>
        fail(`no part of it arrived for ${Math.round(ms / 1000)} s (the kernel may be busy or restarted)`, "timeout"),
      ms,
    );
  };

  function complete() {
    const ordered = [];
    for (let i = 0; i < count; i += 1) ordered.push(/** @type {Blob} */ (parts.get(i)));
    cleanup();
    for (const index of unacked) ack(index); // the kernel can end the transfer; the stream still has them
    stream?.end();
    const mediaUrl = stream && !stream.failed() ? stream.url : undefined;
    // A Blob of Blobs: the parts are referenced, not copied into one big ArrayBuffer.
    onDone({ blob: new Blob(ordered, { type: mime }), name, mime, ...(mediaUrl ? { mediaUrl } : {}) });
  }

  /** Hand chunks to the stream in order; each is acknowledged once the stream has taken it. */
  function feed() {
    while (stream && early.has(appendNext)) {
      const index = appendNext;
      const bytes = /** @type {Uint8Array} */ (early.get(index));
      early.delete(index);
      appendNext += 1;
      stream.append(bytes, () => {
        if (!unacked.delete(index) || over) return;
        ack(index);
      });
    }
  }

  const shownTotal = () => (total >= 0 ? total : estimate);

  /** @param {any} reply @param {unknown[] | undefined} buffers */
  function handler(reply, buffers) {
    if (over || !reply || typeof reply !== "object" || reply.id !== id) return;
    arm(idleMs);
    if (reply.kind === "video-response") {
      if (answered) return;
      answered = true;
      if (!reply.ok) {
        fail(String(reply.error ?? "the kernel refused"), "refused");
        return;
      }
      if (typeof reply.name === "string" && reply.name) name = reply.name;
      if (typeof reply.mime === "string" && reply.mime) mime = reply.mime;
      if (typeof reply.url === "string") {
        cleanup();
        onDone({ url: reply.url, name, mime });
        return;
      }
      if (Number.isInteger(reply.total) && reply.total >= 0) total = reply.total;
      if (Number.isInteger(reply.chunks) && reply.chunks > 0) count = reply.chunks;
      if (Number.isInteger(reply.estimate) && reply.estimate > 0) estimate = reply.estimate;
      if (reply.container === "fmp4" && options.stream && parts.size === 0) {
        stream = options.stream(mime);
        if (stream) options.onStream?.({ mediaUrl: stream.url, name, mime });
      }
      onProgress?.(received, shownTotal());
      if (count > 0 && parts.size >= count) complete();
      return;
    }
    if (reply.kind === INCOMING.videoError) {
      fail(String(reply.error ?? "the kernel stopped sending it"), "error");
      return;
    }
    if (reply.kind !== INCOMING.videoChunk) return;
    const index = reply.index;
    if (!Number.isInteger(index) || index < 0 || (count > 0 && index >= count)) {
      fail(`a part had an impossible number (${String(index)})`, "bad-chunk");
      return;
    }
    if (parts.has(index)) {
      ack(index); // a duplicate: the kernel may not have seen our first ack
      return;
    }
    const bytes = reply.encoding === "base64" ? decodeBase64(reply.data) : toBytes(buffers?.[0]);
    const size = Number.isInteger(reply.size) ? reply.size : -1;
    if (!bytes || bytes.length !== size) {
      if (reply.encoding !== "base64" && size > 0 && (!bytes || bytes.length === 0)) {
        fail("this page dropped the binary parts", "buffers-dropped");
      } else {
        fail(`part ${index} arrived damaged`, "bad-chunk");
      }
      return;
    }
    parts.set(index, new Blob([/** @type {BlobPart} */ (bytes)])); // the chunk's ArrayBuffer can go now
    received += size;
    if (Number.isInteger(reply.total) && total < 0) total = reply.total;
    if (reply.last === true && count < 0) count = index + 1;
    if (stream) {
      unacked.add(index);
      early.set(index, bytes);
      feed();
    } else ack(index);
    if (over) return; // the ack's own answers may have ended the load meanwhile (a re-entrant host)
    onProgress?.(received, shownTotal());
    if (count > 0 && parts.size >= count) complete();
  }

  /** @param {number} index */
  const ack = (index) => model.send({ kind: KIND.videoAck, id: nextId(), transfer: id, index });

  if (signal?.aborted) return { id, cancel: () => {} };
  model.on("msg:custom", handler);
  signal?.addEventListener("abort", cancel);
  arm(TIMEOUT_MS[KIND.videoRequest]);
  model.send({
    kind: KIND.videoRequest,
    id,
    task_id: taskId,
    encoding,
    direct,
    ...(audio ? { audio } : {}),
    ...(container ? { container } : {}),
  });
  return { id, cancel };
}

/** "Loading video 42 %" (or without a figure before the size is known). @param {number} received @param {number} total */
export function loadingText(received, total) {
  if (!(total > 0)) return "Loading video…";
  return `Loading video ${Math.min(100, Math.floor((100 * received) / total))} %`;
}
