// Pure formatting helpers (no DOM).

import { FALLBACK_OPTIONS } from "./protocol.js";

/**
 * The length of `text` as the kernel counts it (Python's `len`: code points), not UTF-16 code
 * units (`text.length`): an emoji is one character, not two. Use it for every count shown next
 * to a limit the kernel enforces (the prompt's 2500).
 * @param {string} text
 */
export function charCount(text) {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

/**
 * What to say when the kernel did not answer a request in time.
 * @param {number} ms the timeout @param {string} [action] the button, when pressing it again could start billed work
 * @param {string} [what] what that work is ("the clip")
 */
export function timeoutText(ms, action = "", what = "it") {
  const base = `The kernel did not answer within ${Math.round(ms / 1000)} s. If it is busy, wait; if it restarted, run the cell again.`;
  return action ? `${base} Check the task cards before pressing ${action} again: ${what} may have started.` : base;
}

/** "1:05" style duration from seconds. @param {number} seconds */
export function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * Elapsed and ETA text for a card. A stopped card's clock ends when watching stopped
 * (`stopped_at`), as a finished card's ends at `finished_at`; neither has an ETA.
 * @param {{submitted_at: number, finished_at: number | null, stopped_at?: number | null, estimated_time: number | null, progress: number}} card
 * @param {number} now ms since epoch
 */
export function timing(card, now) {
  const ended = card.finished_at ?? card.stopped_at ?? null;
  const elapsed = Math.max(0, ((ended ?? now) - card.submitted_at) / 1000);
  let text = `elapsed ${clock(elapsed)}`;
  if (ended == null) {
    let remaining = null;
    if (card.progress > 2 && card.progress < 100) remaining = (elapsed * (100 - card.progress)) / card.progress;
    else if (card.estimated_time) remaining = card.estimated_time - elapsed;
    if (remaining != null) text += remaining > 0 ? ` · about ${clock(remaining)} left` : " · any moment now";
  }
  return text;
}

/**
 * "1 credit", "2 credits": a count and its noun (regular plurals). Use it wherever a count
 * meets a noun. `shown` is the count as written, when not `String(n)` ("1.50").
 * @param {number} n @param {string} noun @param {string} [shown]
 */
export function plural(n, noun, shown = String(n)) {
  return `${shown} ${n === 1 ? noun : `${noun}s`}`;
}

/** @param {number | null} credits */
export function credits(credits) {
  if (credits == null) return "";
  return `${plural(credits, "credit", Number.isInteger(credits) ? String(credits) : credits.toFixed(2))} reserved`;
}

/**
 * Prompt text with each `<<<voice_N>>>` shown as the name of the voice attached in that place
 * (`voiceIds[N - 1]`, named in `voices`); a token whose name is unknown stays as it is.
 * @param {string} text @param {unknown} voiceIds the request's voice ids
 * @param {{voice_id: string, name: string}[] | undefined} voices the `_voices` trait
 */
export function withVoiceNames(text, voiceIds, voices) {
  if (!Array.isArray(voiceIds) || !voiceIds.length || !voices?.length) return text;
  const names = new Map(voices.map((v) => [v.voice_id, v.name]));
  return text.replace(/<<<voice_(\d+)>>>/g, (token, n) => {
    const name = names.get(String(voiceIds[Number(n) - 1]));
    return name ? `“${name}”` : token;
  });
}

/**
 * When a card's generation was made, short ("2 Dec, 14:05"), in the viewer's locale and zone.
 * @param {{created: number | null, submitted_at: number}} card
 */
export function cardDate(card) {
  const ms = card.created ? card.created * 1000 : card.submitted_at;
  if (!Number.isFinite(ms) || ms <= 0) return "";
  return new Date(ms).toLocaleString(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

/** The start of `text` on one line, at most `max` characters. @param {string} text @param {number} max */
export function clip(text, max) {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** What a wire payload leaves out because it is the provider's default (keep in sync with
 * `_DEFAULTS` in foxkling_widgets/_types.py). */
const PAYLOAD_DEFAULTS = Object.freeze({ resolution: "720p", aspect_ratio: "16:9", duration: 5 });

/** The short side of each resolution tier, in pixels (the long side is 16:9 of it). */
const SHORT_SIDE = /** @type {Record<string, number>} */ ({ "720p": 720, "1080p": 1080, "4k": 2160 });

/**
 * What an emulator card says: its video is a storyboard, and what the live tier would return
 * (from the card's own request, not the studio's current controls).
 * @param {Record<string, unknown>} request the card's wire payload
 */
export function emulatorNote(request) {
  const { resolution, aspect_ratio, duration } = { ...PAYLOAD_DEFAULTS, ...request };
  const short = SHORT_SIDE[String(resolution)];
  const [w, h] = String(aspect_ratio).split(":").map(Number);
  const head = "Emulator storyboard (small preview).";
  if (!short || !w || !h) return head;
  const long = Math.round((short * Math.max(w, h)) / Math.min(w, h));
  const size = w >= h ? `${long}×${short}` : `${short}×${long}`;
  const length = Number(duration) ? ` of ${duration} s` : "";
  return `${head} The live API returns a ${size} clip${length}.`;
}

// One word per state, the same in cards, gallery summaries and the announcer: "Waiting" is the
// studio's own queue (nothing sent yet, one of the `concurrency` slots to come free), "Queued" is
// the provider's (sent, not started).
const LABELS = /** @type {Record<string, string>} */ ({
  queued: "Waiting",
  submitting: "Submitting",
  pending: "Queued",
  processing: "Generating",
  completed: "Done",
  downloading: "Downloading",
  failed: "Failed",
  cancelled: "Cancelled",
  expired: "Expired",
  stopped: "Not watching",
  uncertain: "Outcome unknown",
  unknown: "Working",
});

/**
 * What a failed card says, each thing once: the kernel's message starts "Task <id> <status>: ",
 * which the card's header already says (its status, its id), so that goes; the code is shown
 * apart (small), unless the message already has it.
 * @param {{code: string | null, message: string, hint: string}} error @param {string | null | undefined} taskId
 */
export function failureText(error, taskId) {
  let message = String(error.message ?? "");
  const prefix = /^Task (\S+) [a-z_]+: /.exec(message);
  if (prefix && (!taskId || prefix[1] === taskId)) message = message.slice(prefix[0].length);
  const code = error.code && !message.includes(error.code) ? error.code : "";
  const hint = error.hint && error.hint !== message ? error.hint : "";
  return { message, hint, code };
}

/** @param {string} status */
export function statusLabel(status) {
  return LABELS[status] ?? status;
}

/** @typedef {import("./protocol.js").Options["statuses"]} StatusGroups */

/**
 * Whether a card may still change. The groups are the kernel's (`options(model).statuses`, from
 * TaskStatus in foxkling_widgets/_status.py); the default is only for callers with no model.
 * @param {string} status @param {StatusGroups} [groups]
 */
export function inFlight(status, groups = FALLBACK_OPTIONS.statuses) {
  return groups.active.includes(status);
}

/** Whether a card ended without its video (failed, cancelled, expired, or maybe billed). @param {string} status @param {StatusGroups} [groups] */
export function failedStatus(status, groups = FALLBACK_OPTIONS.statuses) {
  return groups.failed.includes(status);
}

/** A safe download name: only [A-Za-z0-9._-]. @param {string} name */
export function safeFileName(name) {
  const cleaned = name
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/^[.\-_]+/, "")
    .slice(0, 120);
  return cleaned || "video.mp4";
}

/**
 * The credits line next to Generate: an estimate labelled as one, and the running totals.
 * @param {{estimate?: number | null, session?: number, journal?: number | null} | undefined} c
 */
export function creditsLine(c) {
  if (!c) return "";
  const n = (/** @type {number} */ v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
  const parts = [
    c.estimate == null
      ? "cost unknown (no past task of this tier)"
      : `≈ ${plural(c.estimate, "credit", n(c.estimate))} (estimate from past tasks)`,
  ];
  if (c.session) parts.push(`this session ${n(c.session)}`);
  if (c.journal) parts.push(`all recorded ${n(c.journal)}`);
  return parts.join(" · ");
}
