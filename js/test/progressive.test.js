// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { canStream, KEEP_BEHIND_S, openStream } from "../src/progressive.js";
import { loadVideo } from "../src/transport.js";
import { fakeModel } from "./fake-model.js";

// This page's player plays AAC (as Chromium's does), so the loader asks for the file's own audio.
beforeEach(() => {
  vi.spyOn(HTMLMediaElement.prototype, "canPlayType").mockReturnValue("probably");
});
afterEach(() => vi.restoreAllMocks());

const bytesOf = async (blob) => new Uint8Array(await blob.arrayBuffer());
const MIME = 'video/mp4; codecs="avc1.42c033, mp4a.40.2"';

/** A stream kernel: header with `container: "fmp4"` (no total), then the given chunks in `order`. */
function streamKernel(model, parts, order = parts.map((_, i) => i)) {
  const request = model.sent.find((m) => m.kind === "video-request");
  model.deliver({ id: request.id, kind: "video-response", ok: true, container: "fmp4", mime: MIME, estimate: 99 }, []);
  let offset = 0;
  const offsets = parts.map((p) => {
    const at = offset;
    offset += p.length;
    return at;
  });
  for (const index of order) {
    const last = index === parts.length - 1;
    const content = { id: request.id, kind: "video-chunk", index, offset: offsets[index], size: parts[index].length };
    model.deliver({ ...content, total: last ? offset : null, encoding: "binary", last }, [parts[index]]);
  }
  return request;
}

/** A Stream whose appends finish only when the test says (`finish()`), as a SourceBuffer's do. */
function fakeStream() {
  const appended = [];
  const waiting = [];
  let broken = false;
  return {
    url: "blob:media-1",
    appended,
    append(bytes, done) {
      if (broken) return done();
      appended.push([...bytes]);
      waiting.push(done);
    },
    end: vi.fn(),
    failed: () => broken,
    finish: () => {
      for (const done of waiting.splice(0)) done();
    },
    breakNow: () => {
      broken = true;
    },
  };
}

describe("loadVideo with a progressive stream", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("asks for fmp4, appends in order, acks only what the stream took, and ends with both URLs", async () => {
    const model = fakeModel();
    const stream = fakeStream();
    const onStream = vi.fn();
    const onDone = vi.fn();
    const progress = [];
    loadVideo(model, "t", {
      container: "fmp4",
      stream: (mime) => (mime === MIME ? stream : null),
      onStream,
      onDone,
      onFail: vi.fn(),
      onProgress: (r, t) => progress.push([r, t]),
    });
    expect(model.sent[0]).toMatchObject({ kind: "video-request", container: "fmp4" });
    const parts = [Uint8Array.of(1, 2), Uint8Array.of(3), Uint8Array.of(4, 5, 6)];
    streamKernel(model, parts, [1]); // chunk 1 before chunk 0: it must wait
    expect(onStream).toHaveBeenCalledWith({ mediaUrl: "blob:media-1", name: "t.mp4", mime: MIME });
    expect(stream.appended).toEqual([]);
    expect(model.sent.filter((m) => m.kind === "video-ack")).toEqual([]);
    const request = model.sent[0];
    model.deliver(
      { id: request.id, kind: "video-chunk", index: 0, offset: 0, size: 2, total: null, encoding: "binary" },
      [parts[0]],
    );
    expect(stream.appended).toEqual([[1, 2], [3]]);
    expect(model.sent.filter((m) => m.kind === "video-ack")).toEqual([]); // not appended yet
    stream.finish();
    expect(model.sent.filter((m) => m.kind === "video-ack").map((m) => m.index)).toEqual([0, 1]);
    model.deliver(
      { id: request.id, kind: "video-chunk", index: 2, offset: 3, size: 3, total: 6, encoding: "binary", last: true },
      [parts[2]],
    );
    expect(onDone).toHaveBeenCalledTimes(1);
    const loaded = onDone.mock.calls[0][0];
    expect(loaded.mediaUrl).toBe("blob:media-1");
    expect(await bytesOf(loaded.blob)).toEqual(Uint8Array.of(1, 2, 3, 4, 5, 6));
    // The last chunk is acknowledged at the end even before the stream took it: the kernel may finish.
    expect(model.sent.filter((m) => m.kind === "video-ack").map((m) => m.index)).toEqual([0, 1, 2]);
    stream.finish(); // no second ack
    expect(model.sent.filter((m) => m.kind === "video-ack")).toHaveLength(3);
    expect(stream.end).toHaveBeenCalledTimes(1);
    expect(progress[0]).toEqual([0, 99]); // the estimate until the last chunk's total
    expect(progress.at(-1)).toEqual([6, 6]);
  });

  it("falls back to the Blob alone when the stream fails on the way, without asking again", async () => {
    const model = fakeModel();
    const stream = fakeStream();
    const onDone = vi.fn();
    loadVideo(model, "t", { container: "fmp4", stream: () => stream, onDone, onFail: vi.fn() });
    const parts = [Uint8Array.of(9), Uint8Array.of(8)];
    stream.breakNow();
    streamKernel(model, parts);
    const loaded = onDone.mock.calls[0][0];
    expect(loaded.mediaUrl).toBeUndefined();
    expect(await bytesOf(loaded.blob)).toEqual(Uint8Array.of(9, 8));
    expect(model.sent.filter((m) => m.kind === "video-request")).toHaveLength(1);
  });

  it("does not ask for fmp4 with MP3 audio or without a stream, and plays the Blob when none opens", () => {
    const model = fakeModel();
    loadVideo(model, "a", { container: "fmp4", audio: "mp3", stream: () => null, onDone: vi.fn(), onFail: vi.fn() });
    loadVideo(model, "b", { container: "fmp4", onDone: vi.fn(), onFail: vi.fn() });
    expect(model.sent.filter((m) => "container" in m)).toEqual([]);
    const other = fakeModel();
    const onStream = vi.fn();
    const onDone = vi.fn();
    loadVideo(other, "c", { container: "fmp4", stream: () => null, onStream, onDone, onFail: vi.fn() });
    streamKernel(other, [Uint8Array.of(1)]);
    expect(onStream).not.toHaveBeenCalled();
    expect(onDone.mock.calls[0][0].mediaUrl).toBeUndefined();
    expect(other.sent.filter((m) => m.kind === "video-ack")).toHaveLength(1);
  });
});

/** Just enough MediaSource and SourceBuffer: appends finish on `tick()`; a quota in bytes. */
class FakeSourceBuffer extends EventTarget {
  constructor(quota) {
    super();
    this.updating = false;
    this.quota = quota;
    this.held = 0;
    this.ranges = [];
    this.removed = [];
    this.buffered = {
      get length() {
        return 1;
      },
      start: () => 0,
      end: () => 30,
    };
  }
  appendBuffer(bytes) {
    if (this.held + bytes.byteLength > this.quota) throw new DOMException("full", "QuotaExceededError");
    this.held += bytes.byteLength;
    this.updating = true;
  }
  remove(start, end) {
    this.removed.push([start, end]);
    this.held = 0;
    this.updating = true;
  }
  tick() {
    this.updating = false;
    this.dispatchEvent(new Event("updateend"));
  }
}
class FakeMediaSource extends EventTarget {
  static supported = true;
  static isTypeSupported = () => FakeMediaSource.supported;
  static quota = 100;
  constructor() {
    super();
    this.readyState = "open";
    this.ended = 0;
    FakeMediaSource.last = this;
  }
  addSourceBuffer() {
    this.buffer = new FakeSourceBuffer(FakeMediaSource.quota);
    return this.buffer;
  }
  endOfStream() {
    this.ended += 1;
  }
}

describe("openStream", () => {
  beforeEach(() => {
    vi.stubGlobal("MediaSource", FakeMediaSource);
    URL.createObjectURL = vi.fn(() => "blob:ms");
    FakeMediaSource.supported = true;
  });
  afterEach(() => vi.unstubAllGlobals());

  it("is null without MSE or for codecs this page cannot play", () => {
    FakeMediaSource.supported = false;
    expect(openStream(MIME, () => 0)).toBeNull();
    vi.stubGlobal("MediaSource", undefined);
    expect(canStream()).toBe(false);
    expect(openStream(MIME, () => 0)).toBeNull();
  });

  it("appends one at a time (respecting updating), each done once, then ends the stream", () => {
    const stream = openStream(MIME, () => 0);
    const done = [vi.fn(), vi.fn()];
    stream.append(Uint8Array.of(1), done[0]); // before sourceopen: queued
    expect(done[0]).not.toHaveBeenCalled();
    const source = FakeMediaSource.last;
    source.dispatchEvent(new Event("sourceopen"));
    expect(done[0]).toHaveBeenCalledTimes(1);
    stream.append(Uint8Array.of(2), done[1]);
    expect(done[1]).not.toHaveBeenCalled(); // the buffer is updating
    stream.end();
    source.buffer.tick();
    expect(done[1]).toHaveBeenCalledTimes(1);
    expect(source.ended).toBe(0); // the second append is still updating
    source.buffer.tick();
    expect(source.ended).toBe(1);
    expect(stream.failed()).toBe(false);
  });

  it("on a full buffer drops what was played long ago, and gives up when nothing was played", () => {
    FakeMediaSource.quota = 10;
    let time = 25;
    const stream = openStream(MIME, () => time);
    const source = FakeMediaSource.last;
    source.dispatchEvent(new Event("sourceopen"));
    const done = vi.fn();
    stream.append(new Uint8Array(8), done);
    source.buffer.tick();
    stream.append(new Uint8Array(8), done); // over the quota: trim [0, 25 - KEEP_BEHIND_S]
    expect(source.buffer.removed).toEqual([[0, 25 - KEEP_BEHIND_S]]);
    expect(done).toHaveBeenCalledTimes(1);
    source.buffer.tick(); // the removal is done: the append goes in
    expect(done).toHaveBeenCalledTimes(2);
    source.buffer.tick();
    time = 0; // nothing played: the stream fails, and every chunk still gets its done
    stream.append(new Uint8Array(8), done);
    stream.append(new Uint8Array(9), done);
    expect(stream.failed()).toBe(true);
    expect(done).toHaveBeenCalledTimes(4);
    FakeMediaSource.quota = 100;
  });

  it("fails when the media element lets the source go before its end", () => {
    const stream = openStream(MIME, () => 0);
    FakeMediaSource.last.dispatchEvent(new Event("sourceclose"));
    expect(stream.failed()).toBe(true);
    const done = vi.fn();
    stream.append(Uint8Array.of(1), done);
    expect(done).toHaveBeenCalledTimes(1);
  });
});

describe("a card playing a stream", () => {
  let el;
  beforeEach(() => {
    vi.stubGlobal("MediaSource", FakeMediaSource);
    FakeMediaSource.supported = true;
    let n = 0;
    URL.createObjectURL = vi.fn((thing) =>
      thing instanceof FakeMediaSource ? "blob:http://localhost/ms" : `blob:http://localhost/b${++n}`,
    );
    URL.revokeObjectURL = vi.fn();
    el = document.createElement("div");
    document.body.append(el);
  });
  afterEach(() => {
    el.remove();
    vi.unstubAllGlobals();
  });

  it("plays the MediaSource at once, downloads the original, and falls back to the Blob once on an error", async () => {
    const { default: widget } = await import("../src/widget.js");
    const task = {
      id: "gen-1",
      task_id: "task-1",
      status: "completed",
      status_text: "completed",
      progress: 100,
      created: 1,
      submitted_at: Date.now() - 5000,
      finished_at: Date.now() - 1000,
      request: {},
      summary: "a fox",
      video: { name: "1.mp4", size: 3, mime: "video/mp4" },
      poster: "",
      watching: false,
      code: "",
      audio_requested: false,
      note: "",
    };
    const model = fakeModel({ _tasks: [task] });
    widget.render({ model, el });
    const probe = model.sent.find((m) => m.kind === "video-probe");
    model.deliver({ id: probe.id, kind: "video-probe-response", ok: true, size: 4 }, [
      new DataView(new Uint8Array([0x46, 0x4b, 0x00, 0xff]).buffer),
    ]);
    const request = model.sent.find((m) => m.kind === "video-request");
    expect(request.container).toBe("fmp4");
    const video = el.querySelector('video[data-fk="video"]');
    const download = el.querySelector('[data-fk="download"]');
    model.deliver({ id: request.id, kind: "video-response", ok: true, container: "fmp4", mime: MIME, name: "1.mp4" });
    expect(video.src).toBe("blob:http://localhost/ms");
    const chunk = { id: request.id, kind: "video-chunk", index: 0, offset: 0, size: 3, encoding: "binary" };
    model.deliver({ ...chunk, total: 3, last: true }, [Uint8Array.of(1, 2, 3)]);
    expect(video.src).toBe("blob:http://localhost/ms"); // still playing the stream
    // Download saves the original file: pulled the Blob way (no container) when first pressed.
    expect(download.hidden).toBe(false);
    const clicks = vi.fn();
    download.addEventListener("click", (event) => clicks(event.defaultPrevented));
    download.click();
    const save = model.sent.filter((m) => m.kind === "video-request")[1];
    expect(save.container).toBeUndefined();
    model.deliver({ id: save.id, kind: "video-response", ok: true, name: "1.mp4", total: 4, chunks: 1 });
    model.deliver({ ...chunk, id: save.id, size: 4, total: 4, last: true }, [Uint8Array.of(0, 0, 0, 4)]);
    expect(download.href).toBe("blob:http://localhost/b1");
    expect(clicks.mock.calls).toEqual([[true], [false]]); // the second click saves it
    video.dispatchEvent(new Event("error"));
    expect(video.src).toBe("blob:http://localhost/b2"); // the stream's own bytes, as a Blob
    video.dispatchEvent(new Event("error")); // the Blob fails too: a message, no third try
    expect(video.src).toBe("blob:http://localhost/b2");
    expect(el.querySelector('[data-fk="video-error"]').hidden).toBe(false);
    expect(model.sent.filter((m) => m.kind === "video-request")).toHaveLength(2);
  });
});
