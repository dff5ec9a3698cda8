import { vi } from "vitest";
import { PROBE_BYTES } from "../src/transport.js";

/**
 * A fake anywidget model: get/set/on/off/save_changes/send, and a way to deliver custom messages.
 * `fakeModel({noKernel: true})` leaves the liveness probe unanswered (a saved copy).
 */
export function fakeModel(initial = {}) {
  const state = {
    prompt: "",
    negative_prompt: "",
    resolution: "720p",
    aspect_ratio: "16:9",
    duration: 5,
    generate_audio: false,
    voice_ids: [],
    multishot: false,
    segments: [],
    vary: "",
    concurrency: 2,
    voice_url: "",
    voice_name: "",
    _variations: [],
    _voices: [],
    _voice_problems: [],
    _mode: "emulator",
    _problems: [],
    _tasks: [],
    _has_key: false,
    ...initial,
  };
  const handlers = new Map();
  const sent = [];
  return {
    state,
    sent,
    get: (k) => state[k],
    set(k, v) {
      state[k] = v;
      for (const cb of handlers.get(`change:${k}`) ?? []) cb();
    },
    on(event, cb) {
      if (!handlers.has(event)) handlers.set(event, new Set());
      handlers.get(event).add(cb);
    },
    off(event, cb) {
      handlers.get(event)?.delete(cb);
    },
    save_changes: vi.fn(),
    send(content) {
      // A live kernel answers the liveness probe at once (liveness.js); tests see the rest.
      if (content?.kind === "ping" && !initial.noKernel) {
        for (const cb of handlers.get("msg:custom") ?? []) cb({ id: content.id, kind: "ping-response", ok: false }, []);
        return;
      }
      sent.push(content);
    },
    /** Fire `event` as Backbone does: each listener called with `context` as `this`. */
    trigger(event, context = undefined) {
      for (const cb of handlers.get(event) ?? []) cb.call(context);
    },
    deliver(content, buffers = []) {
      for (const cb of handlers.get("msg:custom") ?? []) cb(content, buffers);
    },
    listeners: () => [...handlers.values()].reduce((n, s) => n + s.size, 0),
  };
}

/**
 * A task card as the kernel sends it (docs/widget-protocol.md), running at 40 %: one shape for
 * every test, each overriding what it is about.
 * @param {Record<string, unknown>} [over]
 */
export function fakeCard(over = {}) {
  return {
    id: "task-unified-1-abcdefgh",
    status: "processing",
    status_text: "processing",
    progress: 40,
    created: 1,
    submitted_at: Date.now() - 5000,
    finished_at: null,
    estimated_time: 10,
    credits_reserved: 5,
    request: {},
    summary: "16:9 · 5 s · 720p — a fox",
    error: null,
    video: null,
    poster: "",
    watching: true,
    code: "print(1)",
    audio_requested: false,
    note: "",
    ...over,
  };
}

/** Answer the view's probe: with the known buffer (binary) or without it (a Colab-like host). */
export function answerProbe(model, binary = true) {
  const probe = model.sent.find((m) => m.kind === "video-probe");
  model.deliver(
    { id: probe.id, kind: "video-probe-response", ok: true, size: 4 },
    binary ? [new DataView(new Uint8Array(PROBE_BYTES).buffer)] : [],
  );
}

/** Answer a video-request with a header and one chunk of `size` bytes. */
export function sendVideo(model, request, size = 8, name = "a.mp4") {
  model.deliver({
    id: request.id,
    kind: "video-response",
    ok: true,
    name,
    mime: "video/mp4",
    total: size,
    chunks: 1,
    chunk_size: size,
    window: 3,
    encoding: "binary",
  });
  model.deliver(
    {
      id: request.id,
      kind: "video-chunk",
      task_id: request.task_id,
      index: 0,
      offset: 0,
      size,
      total: size,
      encoding: "binary",
      last: true,
    },
    [new DataView(new ArrayBuffer(size))],
  );
}
