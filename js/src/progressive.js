// Progressive playback: a clip's fragmented-MP4 chunks appended to a MediaSource as they arrive,
// so the card's <video> plays from the first fragment instead of after the last byte.
// The kernel makes the fragments while it sends them (foxkling_widgets/_fragment.py); the loader
// (transport.js) hands them over in order and acknowledges each one only once it is appended, so
// the kernel's window paces the SourceBuffer too. See docs/widget-protocol.md, "Progressive playback".
//
// What this file promises the loader: every chunk given to `append` gets its `done` call exactly
// once (appended, or dropped after a failure), so a failure never stalls the transfer; after a
// failure `failed()` is true and the loader ends on the Blob path instead (once: no new request).

/** How much played video stays buffered behind the playhead when the quota forces a trim (s). */
export const KEEP_BEHIND_S = 10;

/**
 * @typedef {{
 *   url: string,
 *   append: (bytes: Uint8Array, done: () => void) => void,
 *   end: () => void,
 *   failed: () => boolean,
 * }} Stream a MediaSource being filled: `url` is its blob: URL for the <video>
 */

/** Whether this page has Media Source Extensions at all (VS Code's webview, old Safari: maybe not). */
export function canStream() {
  return typeof MediaSource !== "undefined" && typeof MediaSource.isTypeSupported === "function";
}

/**
 * A MediaSource for a clip of type `mime` (with codecs), or `null` when this page cannot play it so.
 * `currentTime` is the playhead of the <video> it plays in: a full SourceBuffer
 * (`QuotaExceededError`) drops what is more than `KEEP_BEHIND_S` behind it and tries again; with
 * nothing played to drop, the stream gives up and the loader's Blob takes over.
 * @param {string} mime @param {() => number} currentTime
 * @returns {Stream | null}
 */
export function openStream(mime, currentTime) {
  if (!canStream() || !MediaSource.isTypeSupported(mime)) return null;
  const source = new MediaSource();
  const url = URL.createObjectURL(source);
  /** @type {SourceBuffer | null} */
  let buffer = null;
  /** @type {{bytes: Uint8Array, done: () => void}[]} */
  const queue = [];
  let broken = false;
  let ended = false;

  const fail = () => {
    if (broken) return;
    broken = true;
    for (const item of queue.splice(0)) item.done(); // the loader keeps every chunk as a Blob anyway
  };

  /** Drop what was played long ago; false when there is nothing to drop. */
  const trim = () => {
    if (!buffer || buffer.buffered.length === 0) return false;
    const start = buffer.buffered.start(0);
    const until = currentTime() - KEEP_BEHIND_S;
    if (!(until > start)) return false;
    buffer.remove(start, until); // its updateend pumps again
    return true;
  };

  const pump = () => {
    if (broken || !buffer || buffer.updating) return;
    const next = queue[0];
    if (!next) {
      if (ended && source.readyState === "open") {
        try {
          source.endOfStream(); // duration = what was appended; `ended` can fire at the last frame
        } catch {
          // closed meanwhile: nothing more to say to it
        }
      }
      return;
    }
    try {
      buffer.appendBuffer(/** @type {BufferSource} */ (next.bytes));
    } catch (error) {
      if (error instanceof DOMException && error.name === "QuotaExceededError" && trim()) return;
      fail();
      return;
    }
    queue.shift();
    next.done(); // appendBuffer has taken the bytes: the next chunk may come
  };

  source.addEventListener(
    "sourceopen",
    () => {
      try {
        buffer = source.addSourceBuffer(mime);
      } catch {
        fail();
        return;
      }
      buffer.addEventListener("updateend", pump);
      buffer.addEventListener("error", fail);
      pump();
    },
    { once: true },
  );
  // The <video> failed to decode it, or let it go: the Blob path takes over (the loader asks).
  source.addEventListener("sourceclose", () => {
    if (!ended || queue.length > 0) fail();
  });

  return {
    url,
    append(bytes, done) {
      if (broken) {
        done();
        return;
      }
      queue.push({ bytes, done });
      pump();
    },
    end() {
      ended = true;
      pump();
    },
    failed: () => broken,
  };
}
