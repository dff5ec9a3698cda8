// Pure segment (shot) maths for the multi-shot timeline. No DOM: tests import this directly.
// Durations are whole seconds and every operation keeps them >= 1.

/** @typedef {import("./protocol.js").SegmentState} SegmentState */

/** @param {SegmentState[]} segments */
export function total(segments) {
  return segments.reduce((sum, s) => sum + (Number.isFinite(s.duration) ? s.duration : 0), 0);
}

/**
 * Split `seconds` into `count` whole-second parts as equal as possible, larger parts first
 * (10 over 3 -> [4, 3, 3]).
 * @param {number} seconds @param {number} count @returns {number[]}
 */
export function evenSplit(seconds, count) {
  if (count <= 0) return [];
  const base = Math.floor(seconds / count);
  const extra = seconds - base * count;
  return Array.from({ length: count }, (_, i) => base + (i < extra ? 1 : 0));
}

/** Give every segment an even share of `seconds` (keeps prompts). @param {SegmentState[]} segments @param {number} seconds */
export function evenOut(segments, seconds) {
  const parts = evenSplit(seconds, segments.length);
  return segments.map((s, i) => ({ ...s, duration: Math.max(1, parts[i]) }));
}

/** Default shots when multi-shot is switched on. @param {number} seconds */
export function defaultSegments(seconds) {
  return evenSplit(seconds, 2).map((duration) => ({ prompt: "", duration }));
}

/**
 * Add a shot at the end, taking a second from the longest shot when the clip is full.
 * @param {SegmentState[]} segments @param {number} seconds
 */
export function addSegment(segments, seconds) {
  const next = segments.map((s) => ({ ...s }));
  const free = seconds - total(next);
  if (free >= 1) return [...next, { prompt: "", duration: free }];
  // No free second: the new shot takes one from the longest shot (when it can spare it).
  const longest = next.reduce((best, s, i) => (s.duration > next[best].duration ? i : best), 0);
  if (next.length && next[longest].duration > 1) next[longest].duration -= 1;
  return [...next, { prompt: "", duration: 1 }];
}

/**
 * Remove a shot; its seconds go to the shot before it (the next one when it was the first), so
 * the clip keeps its length: the mirror of {@link addSegment}, which takes a second to make room.
 * @param {SegmentState[]} segments @param {number} index
 */
export function removeSegment(segments, index) {
  const removed = segments[index];
  const rest = segments.filter((_, i) => i !== index).map((s) => ({ ...s }));
  const heir = rest[Math.max(0, index - 1)];
  if (removed && heir && Number.isFinite(removed.duration)) heir.duration += removed.duration;
  return rest;
}

/** Move a shot one place left (-1) or right (+1). @param {SegmentState[]} segments @param {number} index @param {number} delta */
export function moveSegment(segments, index, delta) {
  const target = index + delta;
  if (target < 0 || target >= segments.length) return segments.slice();
  const next = segments.slice();
  [next[index], next[target]] = [next[target], next[index]];
  return next;
}

/** Split a shot in two whole-second halves (same prompt); a 1 s shot cannot be split. @param {SegmentState[]} segments @param {number} index */
export function splitSegment(segments, index) {
  const shot = segments[index];
  if (!shot || shot.duration < 2) return segments.slice();
  const [a, b] = evenSplit(shot.duration, 2);
  return [
    ...segments.slice(0, index),
    { ...shot, duration: a },
    { ...shot, duration: b },
    ...segments.slice(index + 1),
  ];
}

/** @param {SegmentState[]} segments @param {number} index @param {Partial<SegmentState>} patch */
export function updateSegment(segments, index, patch) {
  return segments.map((s, i) => (i === index ? { ...s, ...patch } : s));
}

/** Whole seconds from an input's text, or NaN. @param {string} text */
export function parseSeconds(text) {
  return /^\s*\d+\s*$/.test(text) ? Number.parseInt(text, 10) : Number.NaN;
}

/** Flex weights (percent of the clip) for drawing blocks proportional to duration. @param {SegmentState[]} segments */
export function widths(segments) {
  const sum = total(segments) || 1;
  return segments.map((s) => (Math.max(0, s.duration || 0) / sum) * 100);
}

/**
 * Move the boundary after shot `index` by `delta` whole seconds (positive: later), taking the
 * seconds from the shot after it; both shots keep at least 1 s, so the total never changes.
 * @param {SegmentState[]} segments @param {number} index @param {number} delta
 */
export function moveBoundary(segments, index, delta) {
  const a = segments[index];
  const b = segments[index + 1];
  if (!a || !b || !Number.isFinite(a.duration) || !Number.isFinite(b.duration)) return segments.slice();
  const pair = a.duration + b.duration;
  const first = Math.max(1, Math.min(pair - 1, Math.round(a.duration + delta)));
  if (first === a.duration || pair < 2) return segments.slice();
  return segments.map((s, i) =>
    i === index ? { ...s, duration: first } : i === index + 1 ? { ...s, duration: pair - first } : s,
  );
}

/**
 * Put the boundary after shot `index` at `at` seconds from the clip's start (rounded to whole
 * seconds and kept inside the two shots it separates, each at least 1 s).
 * @param {SegmentState[]} segments @param {number} index @param {number} at
 */
export function setBoundary(segments, index, at) {
  return moveBoundary(segments, index, Math.round(at) - boundaryAt(segments, index));
}

/** Seconds from the clip's start to the end of shot `index`. @param {SegmentState[]} segments @param {number} index */
export function boundaryAt(segments, index) {
  return total(segments.slice(0, index + 1));
}
