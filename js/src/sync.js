// Synced playback for a gallery: one play/pause and one scrub position for several videos, so
// variations can be compared shot by shot. Works on anything video-like (tested with fakes).

/**
 * @typedef {{
 *   currentTime: number, duration: number, paused: boolean, ended?: boolean,
 *   play: () => Promise<void> | void, pause: () => void,
 * }} Playable
 */

/** Drift (seconds) past which a follower is snapped back to the leader while playing. */
export const MAX_DRIFT = 0.25;

/** A time clamped into a video's length (NaN durations, before metadata, count as 0). @param {number} t @param {Playable} v */
export function clampTime(t, v) {
  const end = Number.isFinite(v.duration) ? v.duration : 0;
  return Math.max(0, Math.min(t, end));
}

/** The longest duration among the videos: the scrub bar's range. @param {Playable[]} videos */
export function longest(videos) {
  return videos.reduce((m, v) => (Number.isFinite(v.duration) ? Math.max(m, v.duration) : m), 0);
}

/**
 * Group controls over a changing list of videos. The leader is the longest video, so the
 * shared clock keeps running while shorter clips have ended.
 * @param {() => Playable[]} videos the current members (read on every call)
 */
export function createSyncGroup(videos) {
  /** @returns {Playable | undefined} */
  const leader = () =>
    videos().reduce(
      (/** @type {Playable | undefined} */ best, v) => (!best || (v.duration || 0) > (best.duration || 0) ? v : best),
      undefined,
    );

  /** Move every video to `t` (each clamped to its own length). @param {number} t */
  function seek(t) {
    for (const v of videos()) v.currentTime = clampTime(t, v);
  }

  /** Start all together from the leader's position (from the start if the leader had ended). */
  async function play() {
    const lead = leader();
    if (!lead) return;
    const at = lead.ended || lead.currentTime >= (lead.duration || 0) - 0.05 ? 0 : lead.currentTime;
    seek(at);
    await Promise.allSettled(
      videos().map((v) => (v.currentTime < (v.duration || 0) || at === 0 ? v.play() : undefined)),
    );
  }

  function pause() {
    for (const v of videos()) v.pause();
  }

  /** Whether the group counts as playing: any member is. */
  const playing = () => videos().some((v) => !v.paused && !v.ended);

  /** Snap followers that drifted from the leader; call on the leader's timeupdate. */
  function correctDrift() {
    const lead = leader();
    if (!lead || lead.paused) return 0;
    let fixed = 0;
    for (const v of videos()) {
      if (v === lead || v.paused || v.ended) continue;
      const target = clampTime(lead.currentTime, v);
      if (Math.abs(v.currentTime - target) > MAX_DRIFT) {
        v.currentTime = target;
        fixed += 1;
      }
    }
    return fixed;
  }

  return {
    seek,
    play,
    pause,
    playing,
    correctDrift,
    leader,
    position: () => leader()?.currentTime ?? 0,
    length: () => longest(videos()),
  };
}

/**
 * The member a gallery lets be heard (its card id; null: all stay muted), so Play all never plays
 * several soundtracks at once (issue 11). The chosen one while it can be heard, else the first
 * finished one, in batch order, whose audio was requested.
 * @param {{id: string, status: string, audio_requested: boolean}[]} cards @param {string | null} chosen
 */
export function soundSource(cards, chosen) {
  const audible = cards.filter((c) => c.audio_requested && c.status === "completed");
  return (audible.find((c) => c.id === chosen) ?? audible[0])?.id ?? null;
}

/** Mute every video but the one at `heard` (-1: all). @param {{muted: boolean}[]} videos @param {number} heard */
export function muteAllBut(videos, heard) {
  videos.forEach((v, i) => {
    if (v.muted !== (i !== heard)) v.muted = i !== heard; // unchanged: no volumechange event
  });
}
