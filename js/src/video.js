// Video sources: Blob URLs made from bytes the kernel sends, and a guard on every src we set.

/** Only http(s) and blob URLs may become a media src (never javascript:, data:, file:). @param {unknown} url */
export function isSafeVideoSrc(url) {
  if (typeof url !== "string") return false;
  try {
    const parsed = new URL(url, "http://invalid.invalid/");
    return ["http:", "https:", "blob:"].includes(parsed.protocol) && /^(https?:|blob:)/i.test(url.trim());
  } catch {
    return false;
  }
}

/** Poster images: only the kernel's JPEG data URLs. @param {unknown} url */
export function isSafePoster(url) {
  return (
    typeof url === "string" && url.startsWith("data:image/jpeg;base64,") && /^[A-Za-z0-9+/=]*$/.test(url.slice(23))
  );
}

/**
 * Set a media element's src only when it passes the guard.
 * @param {HTMLVideoElement | HTMLAnchorElement} el @param {string} url
 */
export function setSafeSrc(el, url) {
  if (!isSafeVideoSrc(url)) return false;
  if (el instanceof HTMLAnchorElement) el.href = url;
  else el.src = url;
  return true;
}

/**
 * A Blob URL for a video: a Blob (the chunked transport's, made of parts) is used as is; bytes
 * are wrapped in one.
 * @param {Blob | DataView | ArrayBuffer | Uint8Array} data
 */
export function blobUrl(data, type = "video/mp4") {
  const blob = data instanceof Blob ? data : new Blob([/** @type {BlobPart} */ (data)], { type });
  return URL.createObjectURL(blob);
}

/**
 * Whether a URL from the kernel may be played directly: https only (a provider's CDN), never a
 * loopback or private host (the emulator's URLs are not reachable from a browser elsewhere).
 * The kernel applies the same rule (`direct_play_url` in _transport.py); this is the guard on
 * what the page accepts.
 * @param {unknown} url
 */
export function isDirectVideoUrl(url) {
  if (!isSafeVideoSrc(url)) return false;
  const parsed = new URL(/** @type {string} */ (url));
  const host = parsed.hostname.toLowerCase().replace(/^\[|\]$/g, "");
  if (parsed.protocol !== "https:" || !host) return false;
  if (host === "localhost" || host.endsWith(".localhost") || host === "::1" || host === "0.0.0.0") return false;
  return (
    !/^(127\.|10\.|192\.168\.|169\.254\.|172\.(1[6-9]|2\d|3[01])\.)/.test(host) &&
    !(host.includes(":") && /^(f[cd]|fe80:)/.test(host))
  );
}

/**
 * Whether a video that played for a while decoded no audio (VS Code's webview lacks AAC:
 * microsoft/vscode#156558). Unknown is false: only a clear "no audio" counts.
 * @param {HTMLVideoElement & {webkitAudioDecodedByteCount?: number, mozHasAudio?: boolean, audioTracks?: {length: number}}} video
 */
export function playedWithoutAudio(video) {
  if (video.currentTime < 1) return false;
  if (typeof video.mozHasAudio === "boolean") return !video.mozHasAudio;
  if (video.audioTracks && typeof video.audioTracks.length === "number") return video.audioTracks.length === 0;
  if (typeof video.webkitAudioDecodedByteCount === "number") return video.webkitAudioDecodedByteCount === 0;
  return false;
}

/** What `canPlayType` is asked: AAC-LC audio in MP4, the audio of every clip the provider makes. */
export const AAC_TYPE = 'audio/mp4; codecs="mp4a.40.2"';

/**
 * Which audio a view should ask the kernel for, from its player's `canPlayType`: "mp3" when the
 * player says it cannot play AAC at all ("", as VS Code's desktop build does, which plays H.264
 * and MP3 but has no AAC decoder: microsoft/vscode#162062), else `undefined` (the file as it is).
 * "maybe" and "probably" both count as yes; so does a missing or throwing `canPlayType` (unknown
 * is not a clear no, and the original is what every other host plays).
 * @param {((type: string) => string) | undefined} canPlayType
 * @returns {"mp3" | undefined}
 */
export function audioFor(canPlayType) {
  if (typeof canPlayType !== "function") return undefined;
  try {
    return canPlayType(AAC_TYPE) === "" ? "mp3" : undefined;
  } catch {
    return undefined;
  }
}

/** `audioFor` this page's `<video>` (`undefined` without a DOM). */
export function preferredAudio() {
  if (typeof document === "undefined") return undefined;
  const video = document.createElement("video");
  return audioFor((type) => video.canPlayType(type));
}
