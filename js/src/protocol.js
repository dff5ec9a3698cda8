// Wire names shared with the kernel. Keep in sync with foxkling_widgets/_messages.py (kinds and message
// shapes), foxkling_widgets/_widget.py (traits) and
// docs/widget-protocol.md: traits carry state, messages carry one-shot commands and video bytes.

/** @typedef {{prompt: string, duration: number}} SegmentState */
/** @typedef {{field: string, message: string, level: "error" | "warning"}} ProblemState */
/**
 * A task card. `id` is the generation's stable key for its whole life; `task_id` the provider's id
 * (null until the submit is answered; absent from an older kernel: use `card.task_id ?? card.id`).
 * `poster` is "" from a current kernel: posters are in the `_posters` trait, by card id.
 * `resumable`, `stopped_at`, `playable` and `emulated` are absent from an older kernel. `emulated`:
 * the generation went to an emulator (a storyboard preview), told by the kernel, not by `_mode`.
 * @typedef {{
 *   id: string, task_id?: string | null, status: string, status_text: string, progress: number,
 *   created: number | null, submitted_at: number, finished_at: number | null, estimated_time: number | null,
 *   credits_reserved: number | null, request: Record<string, unknown>, summary: string,
 *   error: {code: string | null, message: string, hint: string} | null,
 *   video: {name: string, size: number, mime: string} | null, poster: string, watching: boolean,
 *   resumable?: boolean, stopped_at?: number | null, playable?: boolean, emulated?: boolean,
 *   code: string, audio_requested: boolean, note: string, kind?: "video" | "voice",
 *   batch?: {id: string, index: number, count: number, label: string} | null,
 *   voice?: {url: string, name: string, voice_id: string | null} | null
 * }} TaskCard
 */
/**
 * @typedef {{
 *   prompt: string, negative_prompt: string, resolution: string, aspect_ratio: string,
 *   duration: number, generate_audio: boolean, voice_ids: string[], multishot: boolean,
 *   segments: SegmentState[], _mode: string, _problems: ProblemState[], _tasks: TaskCard[],
 *   _has_key: boolean, _credits: {estimate?: number | null, session?: number, journal?: number | null},
 *   vary: string, concurrency: number, voice_url: string, voice_name: string, _variations: string[],
 *   _voices: {voice_id: string, name: string}[], _voice_problems: ProblemState[],
 *   _budget?: {cap: number | null, reserved: number, left: number | null, refused: string}, _classroom?: boolean,
 *   _posters?: Record<string, string>, _tasks_total?: number
 * }} Model
 */

// Message shapes (the kernel's TypedDicts in foxkling_widgets/_messages.py). Requests carry the
// card `id` in `task_id`; the kernel accepts the provider id too.
/** @typedef {{id: string, kind: "generate"}} GenerateRequest */
/** @typedef {{id: string | null, kind: "generate-response", ok: boolean, task_id?: string, error?: string, field?: string | null}} GenerateResponse */
/** @typedef {{id: string, kind: "create-voice"}} CreateVoiceRequest */
/** @typedef {{id: string | null, kind: "create-voice-response", ok: boolean, task_id?: string, error?: string, field?: string | null}} CreateVoiceResponse */
/** @typedef {{id: string, kind: "set-key", key: string}} SetKeyRequest */
/** @typedef {{id: string, kind: "clear-key"}} ClearKeyRequest */
/** @typedef {{id: string | null, kind: "set-key-response" | "clear-key-response", ok: boolean, mode: string, error?: string, field?: string}} KeyResponse */
/** @typedef {{id: string, kind: "stop-watching", task_id: string}} StopWatchingRequest */
/** @typedef {{id: string, kind: "resume", task_id: string}} ResumeRequest */
/** @typedef {{id: string | null, kind: "resume-response", ok: boolean, error?: string}} ResumeResponse */
/** @typedef {{id: string, kind: "load-task", task_id: string}} LoadTaskRequest */
/** @typedef {{id: string, kind: "clear-finished"}} ClearFinishedRequest */
/** @typedef {{id: string | null, kind: "clear-finished-response", ok: boolean, cleared: number}} ClearFinishedResponse */
/** @typedef {{id: string, kind: "video-request", task_id: string, encoding?: "binary" | "base64", direct?: boolean, audio?: "mp3", container?: "fmp4"}} VideoRequestMessage */
/**
 * A stream's header (`container: "fmp4"`) has no `total` or `chunks` (its last chunk says) but an `estimate`.
 * @typedef {{
 *   id: string | null, kind: "video-response", ok: boolean, task_id?: string, mime?: string, name?: string,
 *   url?: string, total?: number, chunks?: number, chunk_size?: number, window?: number,
 *   encoding?: "binary" | "base64", container?: "fmp4", estimate?: number, error?: string
 * }} VideoResponse
 */
/** @typedef {{id: string, kind: "video-ack", transfer: string, index: number}} VideoAckRequest */
/** @typedef {{id: string, kind: "video-cancel", transfer: string}} VideoCancelRequest */
/** @typedef {{id: string, kind: "video-probe"}} VideoProbeRequest */
/** @typedef {{id: string | null, kind: "video-probe-response", ok: boolean, size: number}} VideoProbeResponse */
/** @typedef {{id: string | null, kind: string, ok: boolean, error?: string}} OkResponse */
/** @typedef {{id: string, progress: number, status_text: string}} CardProgress */
/** Unsolicited, to every view, with no request id: apply to the cards shown without rebuilding them. */
/** @typedef {{kind: "cards-progress", cards: CardProgress[]}} CardsProgress */

export const KIND = Object.freeze({
  generate: "generate",
  stopWatching: "stop-watching",
  resume: "resume",
  clearFinished: "clear-finished",
  videoRequest: "video-request",
  setKey: "set-key",
  clearKey: "clear-key",
  loadTask: "load-task",
  createVoice: "create-voice",
  // The video transport (transport.js, foxkling_widgets/_transport.py).
  videoAck: "video-ack",
  videoCancel: "video-cancel",
  videoProbe: "video-probe",
});

/**
 * Kernel -> front end messages that are not answers to a request of their own kind: the video ones
 * carry a video-request's id; `cards-progress` carries none (it goes to every view, see CardsProgress).
 */
export const INCOMING = Object.freeze({
  videoChunk: "video-chunk",
  videoError: "video-error",
  cardsProgress: "cards-progress",
});

/**
 * @typedef {{
 *   resolutions: string[], aspect_ratios: string[], durations: number[], max_prompt: number,
 *   max_negative_prompt: number, max_voices: number, max_segments: number,
 *   segment_prompt_soft_limit: number, max_voice_name: number, vary_modes: {value: string, text: string}[],
 *   max_batch: number, concurrency: {default: number, max: number}, audio_extensions: string[],
 *   controls: string[], statuses: {active: string[], finished: string[], failed: string[]}
 * }} Options
 * The limits and choices the kernel validates against (the `_options` trait, built once in
 * foxkling_widgets/_options.py). The front end reads them through {@link options} only.
 * `controls` are the traits whose change redraws the form (the request's controls, then the
 * studio's own: `FORM_TRAITS` in foxkling_widgets/_options.py).
 */

/**
 * What the studio uses when the kernel sends no `_options` (a kernel older than the trait).
 * Kept as plain JSON (double-quoted keys, no trailing commas): a Python test parses this literal
 * out of this file and checks it equals the kernel's `front_end_options()`.
 * @type {Readonly<Options>}
 */
// biome-ignore format: JSON-compatible on purpose (parsed by a Python test)
export const FALLBACK_OPTIONS = deepFreeze({
  "resolutions": ["720p", "1080p", "4k"],
  "aspect_ratios": ["16:9", "9:16", "1:1"],
  "durations": [5, 10],
  "max_prompt": 2500,
  "max_negative_prompt": 2500,
  "max_voices": 2,
  "max_segments": 6,
  "segment_prompt_soft_limit": 512,
  "max_voice_name": 40,
  "vary_modes": [
    {"value": "", "text": "One clip"},
    {"value": "aspect_ratio", "text": "Each aspect ratio"},
    {"value": "duration", "text": "5 s and 10 s"},
    {"value": "prompts", "text": "One per prompt line"}
  ],
  "max_batch": 8,
  "concurrency": {"default": 2, "max": 8},
  "audio_extensions": ["mp3", "ogg", "wav", "m4a", "aac"],
  "controls": [
    "prompt", "negative_prompt", "resolution", "aspect_ratio", "duration", "generate_audio", "voice_ids",
    "multishot", "segments", "vary", "concurrency", "voice_url", "voice_name", "_voices", "_variations"
  ],
  "statuses": {
    "active": ["queued", "submitting", "pending", "processing", "unknown", "downloading"],
    "finished": ["completed", "failed", "cancelled", "expired"],
    "failed": ["failed", "cancelled", "uncertain", "expired"]
  }
});

/** @type {WeakMap<object, Readonly<Options>>} */
const merged = new WeakMap();

/**
 * The kernel's limits and choices (`_options`), key by key falling back to {@link FALLBACK_OPTIONS}
 * where the kernel sends none (an older kernel, or a key it does not know yet).
 * @param {{get: (name: any) => any}} model
 * @returns {Readonly<Options>}
 */
export function options(model) {
  const sent = model.get("_options");
  if (!sent || typeof sent !== "object" || Array.isArray(sent)) return FALLBACK_OPTIONS;
  const known = merged.get(sent);
  if (known) return known;
  /** @type {Readonly<Options>} */
  const made = deepFreeze({ ...FALLBACK_OPTIONS, ...structuredClone(sent) }); // a copy: the trait stays as sent
  merged.set(sent, made);
  return made;
}

/**
 * @typedef {{touch: (...fields: string[]) => void, edited: (...fields: string[]) => void, signal: AbortSignal}} FormHooks
 * What the form's parts get from the studio: `touch` says the user acted on those fields, so
 * their problems show now; `edited` says the user changed their text, so their problems show
 * once the kernel has judged the new text (not the stale verdict on the old one); `signal` ends
 * every listener with the view.
 */

/**
 * @template T
 * @param {T} value
 * @returns {T}
 */
function deepFreeze(value) {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * How long the front end waits for each kind's answer, in ms: the one place these are set.
 * Commands are answered at once by an idle kernel; a kernel busy running a cell answers only
 * after the cell, and a restarted one never does. A video's bytes can take a while to arrive.
 */
export const TIMEOUT_MS = Object.freeze({
  [KIND.generate]: 30_000,
  [KIND.createVoice]: 30_000,
  [KIND.setKey]: 30_000,
  [KIND.clearKey]: 30_000,
  [KIND.stopWatching]: 30_000,
  [KIND.resume]: 30_000,
  [KIND.clearFinished]: 30_000,
  [KIND.loadTask]: 30_000,
  // The header of a video: chunks follow, each within VIDEO_IDLE_MS of the one before.
  [KIND.videoRequest]: 120_000,
  [KIND.videoProbe]: 30_000,
  // Acks and cancels are answered, but nothing waits for those answers.
  [KIND.videoAck]: 30_000,
  [KIND.videoCancel]: 30_000,
});
/** A video load gives up when no chunk arrives for this long (the kernel's own limit is 60 s). */
export const VIDEO_IDLE_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 30_000;

/** @typedef {{send: (content: any, callbacks?: any, buffers?: any) => void, on: (event: any, cb: any) => void, off: (event: any, cb: any) => void}} MessageModel */

/**
 * Send one request and wait for its answer, as anywidget's `invoke(model, name, msg, {signal})`
 * does: a handler of its own listens for the reply with this request's id, and is removed when
 * the reply comes, when the timeout passes, or when `signal` aborts (the view went away).
 * Exactly one of `onReply`/`onTimeout` runs, at most once: a reply after the timeout is ignored.
 *
 * @param {MessageModel} model
 * @param {{kind: string} & Record<string, unknown>} content
 * @param {{
 *   onReply?: (reply: any, buffers: DataView[]) => void,
 *   onTimeout?: (ms: number) => void,
 *   signal?: AbortSignal,
 *   timeoutMs?: number,
 * }} [options]
 * @returns {string} the request's id
 */
export function request(model, content, options = {}) {
  const { onReply, onTimeout, signal } = options;
  const ms =
    options.timeoutMs ?? /** @type {Record<string, number>} */ (TIMEOUT_MS)[content.kind] ?? DEFAULT_TIMEOUT_MS;
  const id = nextId();
  if (signal?.aborted) return id;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const finish = () => {
    clearTimeout(timer);
    model.off("msg:custom", handler);
    signal?.removeEventListener("abort", finish);
  };
  /** @param {any} reply @param {DataView[]} buffers */
  function handler(reply, buffers) {
    if (!reply || typeof reply !== "object" || reply.id !== id) return;
    finish();
    onReply?.(reply, buffers);
  }
  model.on("msg:custom", handler);
  signal?.addEventListener("abort", finish);
  timer = setTimeout(() => {
    finish();
    onTimeout?.(ms);
  }, ms);
  model.send({ ...content, id });
  return id;
}

let counter = 0;
/** A request id unique within this page. */
export function nextId() {
  counter += 1;
  return `fk-${Date.now().toString(36)}-${counter}`;
}
