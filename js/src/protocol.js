// Wire names shared with the kernel. Keep in sync with foxkling_widgets/_widget.py and
// docs/widget-protocol.md: traits carry state, messages carry one-shot commands and video bytes.

/** @typedef {{prompt: string, duration: number}} SegmentState */
/** @typedef {{field: string, message: string, level: "error" | "warning"}} ProblemState */
/**
 * @typedef {{
 *   id: string, status: string, status_text: string, progress: number, created: number | null,
 *   submitted_at: number, finished_at: number | null, estimated_time: number | null,
 *   credits_reserved: number | null, request: Record<string, unknown>, summary: string,
 *   error: {code: string | null, message: string, hint: string} | null,
 *   video: {name: string, size: number, mime: string} | null, poster: string, watching: boolean,
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
 *   _voices: {voice_id: string, name: string}[], _voice_problems: ProblemState[]
 * }} Model
 */

export const KIND = Object.freeze({
  generate: "generate",
  stopWatching: "stop-watching",
  videoRequest: "video-request",
  setKey: "set-key",
  clearKey: "clear-key",
  loadTask: "load-task",
  createVoice: "create-voice",
});

export const RESOLUTIONS = ["720p", "1080p", "4k"];
export const ASPECTS = ["16:9", "9:16", "1:1"];
export const DURATIONS = [5, 10];
export const MAX_PROMPT = 2500;
export const MAX_VOICES = 2;
export const MAX_SEGMENTS = 6;
/** Grid modes (the `vary` trait) and their button text. */
export const VARY = [
  { value: "", text: "One clip" },
  { value: "aspect_ratio", text: "Each aspect ratio" },
  { value: "duration", text: "5 s and 10 s" },
  { value: "prompts", text: "One per prompt line" },
];

let counter = 0;
/** A request id unique within this page. */
export function nextId() {
  counter += 1;
  return `fk-${Date.now().toString(36)}-${counter}`;
}
