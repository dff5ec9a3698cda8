import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TIMEOUT_MS, VIDEO_IDLE_MS } from "../src/protocol.js";
import {
  decodeBase64,
  encodingFor,
  failureText,
  loadingText,
  loadVideo,
  PROBE_BYTES,
  probeEncoding,
  probeSurvived,
  toBytes,
} from "../src/transport.js";
import { fakeModel } from "./fake-model.js";

const bytesOf = async (blob) => new Uint8Array(await blob.arrayBuffer());
const pattern = (n, seed = 7) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) % 256);

/**
 * A kernel stand-in that follows the protocol: it answers the request with a header, then sends
 * chunks, never more than `window` unacknowledged, and more only as acks arrive.
 */
function fakeKernel(model, data, { chunkSize = 4, window = 2, encoding = "binary" } = {}) {
  const chunks = Math.max(1, Math.ceil(data.length / chunkSize));
  let request = null;
  let next = 0;
  const acked = new Set();
  let maxInFlight = 0;
  const inFlight = () => next - acked.size;
  const chunk = (index) => {
    const offset = index * chunkSize;
    const slice = data.slice(offset, offset + chunkSize);
    const content = {
      id: request.id,
      kind: "video-chunk",
      task_id: request.task_id,
      index,
      offset,
      size: slice.length,
      total: data.length,
      encoding,
      last: index === chunks - 1,
    };
    if (encoding === "base64") model.deliver({ ...content, data: btoa(String.fromCharCode(...slice)) }, []);
    else model.deliver(content, [new DataView(slice.buffer)]);
  };
  const pump = () => {
    while (next < chunks && inFlight() < window) {
      next += 1;
      maxInFlight = Math.max(maxInFlight, inFlight());
      chunk(next - 1);
    }
  };
  // Acks wait in a queue, as they would on the wire: the kernel sees them only between its sends.
  const acks = [];
  const originalSend = model.send.bind(model);
  model.send = (content) => {
    originalSend(content);
    if (content.kind === "video-request") request = content;
    else if (content.kind === "video-ack" && request && content.transfer === request.id) acks.push(content.index);
  };
  /** Answer the request, then alternate: send what the window allows, read the acks that came. */
  const run = () => {
    model.deliver({
      id: request.id,
      kind: "video-response",
      ok: true,
      task_id: request.task_id,
      name: "clip.mp4",
      mime: "video/mp4",
      total: data.length,
      chunks,
      chunk_size: chunkSize,
      window,
      encoding,
    });
    while (acked.size < chunks) {
      pump();
      if (!acks.length) throw new Error("stalled: the window is full and no ack came");
      for (const index of acks.splice(0)) acked.add(index);
    }
  };
  return { maxInFlight: () => maxInFlight, chunks, run };
}

describe("toBytes: one function for every buffer shape a host delivers", () => {
  const want = [1, 2, 254, 255];
  it.each([
    ["DataView", () => new DataView(Uint8Array.from(want).buffer)],
    ["DataView over part of a buffer", () => new DataView(Uint8Array.from([9, ...want, 9]).buffer, 1, 4)],
    ["ArrayBuffer", () => Uint8Array.from(want).buffer],
    ["Uint8Array", () => Uint8Array.from(want)],
    ["Int8Array", () => Int8Array.from([1, 2, -2, -1])],
    ["Uint8ClampedArray", () => Uint8ClampedArray.from(want)],
    ["JSON array of numbers (VS Code)", () => [...want]],
  ])("%s", (_name, make) => {
    expect([...toBytes(make())]).toEqual(want);
  });
  it("is null for what carries no bytes", () => {
    for (const value of [undefined, null, "abc", 5, {}, [1, 300], [1.5], ["a"]]) expect(toBytes(value)).toBeNull();
  });
  it("reads a multi-byte typed array as its bytes", () => {
    expect([...toBytes(Uint16Array.from([0x0201]))]).toEqual([1, 2]);
  });
});

describe("probe", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("says binary only when the known bytes arrive", () => {
    expect(probeSurvived([new DataView(Uint8Array.from(PROBE_BYTES).buffer)])).toBe(true);
    expect(probeSurvived([[...PROBE_BYTES]])).toBe(true); // VS Code's shape still counts as arrived
    expect(encodingFor([new DataView(Uint8Array.from(PROBE_BYTES).buffer)])).toBe("binary");
    expect(encodingFor([Uint8Array.from(PROBE_BYTES).buffer])).toBe("binary");
    // ...but a host that turns bytes into JSON numbers (~3.4x) is cheaper with base64 (1.33x).
    expect(encodingFor([[...PROBE_BYTES]])).toBe("base64");
    expect(encodingFor([])).toBe("base64");
    for (const dropped of [undefined, [], [null], [new ArrayBuffer(0)], [Uint8Array.from([1, 2, 3, 4])]])
      expect(probeSurvived(dropped)).toBe(false);
  });

  it.each([
    ["with the buffer", "binary", true],
    ["without it (Colab)", "base64", false],
  ])("an answer %s means %s", (_name, expected, withBuffer) => {
    const model = fakeModel();
    const before = model.listeners();
    const onResult = vi.fn();
    probeEncoding(model, onResult);
    const probe = model.sent[0];
    expect(probe.kind).toBe("video-probe");
    model.deliver(
      { id: probe.id, kind: "video-probe-response", ok: true },
      withBuffer ? [new DataView(Uint8Array.from(PROBE_BYTES).buffer)] : undefined,
    );
    expect(onResult).toHaveBeenCalledTimes(1);
    expect(onResult).toHaveBeenCalledWith(expected);
    expect(model.listeners()).toBe(before);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("no answer means base64, once", () => {
    const model = fakeModel();
    const onResult = vi.fn();
    probeEncoding(model, onResult);
    vi.advanceTimersByTime(TIMEOUT_MS["video-probe"]);
    const probe = model.sent[0];
    model.deliver({ id: probe.id, kind: "video-probe-response", ok: true }, [
      new DataView(Uint8Array.from(PROBE_BYTES).buffer),
    ]);
    expect(onResult.mock.calls).toEqual([["base64"]]);
  });
});

describe("loadVideo", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("assembles chunks in order into a Blob, acks each, and the kernel's window holds", async () => {
    const model = fakeModel();
    const before = model.listeners();
    const data = pattern(37);
    const kernel = fakeKernel(model, data, { chunkSize: 4, window: 3 });
    const onDone = vi.fn();
    const onFail = vi.fn();
    const progress = [];
    loadVideo(model, "task-1", { onDone, onFail, onProgress: (r, t) => progress.push([r, t]) });
    kernel.run();
    expect(onFail).not.toHaveBeenCalled();
    expect(onDone).toHaveBeenCalledTimes(1);
    const { blob, name, mime } = onDone.mock.calls[0][0];
    expect([name, mime, blob.type]).toEqual(["clip.mp4", "video/mp4", "video/mp4"]);
    expect(await bytesOf(blob)).toEqual(data);
    const acks = model.sent.filter((m) => m.kind === "video-ack");
    expect(acks.map((a) => a.index)).toEqual([...Array(kernel.chunks).keys()]);
    expect(new Set(acks.map((a) => a.id)).size).toBe(acks.length); // every message has its own id
    expect(kernel.maxInFlight()).toBe(3);
    expect(progress.at(-1)).toEqual([37, 37]);
    expect(progress.map(([r]) => r)).toEqual([...progress.map(([r]) => r)].sort((a, b) => a - b));
    expect(model.listeners()).toBe(before);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("takes chunks out of order and drops duplicates (acking them again)", async () => {
    const model = fakeModel();
    const onDone = vi.fn();
    const onFail = vi.fn();
    const { id } = loadVideo(model, "t", { onDone, onFail });
    const data = pattern(10);
    const piece = (index) => data.slice(index * 4, index * 4 + 4);
    const deliver = (index) =>
      model.deliver(
        {
          id,
          kind: "video-chunk",
          index,
          offset: index * 4,
          size: piece(index).length,
          total: 10,
          encoding: "binary",
          last: index === 2,
        },
        [new DataView(piece(index).buffer)],
      );
    model.deliver({
      id,
      kind: "video-response",
      ok: true,
      total: 10,
      chunks: 3,
      chunk_size: 4,
      window: 3,
      encoding: "binary",
    });
    deliver(2);
    deliver(0);
    deliver(0);
    expect(onDone).not.toHaveBeenCalled();
    deliver(1);
    expect(onFail).not.toHaveBeenCalled();
    expect(await bytesOf(onDone.mock.calls[0][0].blob)).toEqual(data);
    expect(model.sent.filter((m) => m.kind === "video-ack").map((a) => a.index)).toEqual([2, 0, 0, 1]);
  });

  it("finishes from the last chunk's flag when the header's count is missing", async () => {
    const model = fakeModel();
    const onDone = vi.fn();
    const { id } = loadVideo(model, "t", { onDone, onFail: vi.fn() });
    model.deliver({ id, kind: "video-response", ok: true, total: 4, encoding: "binary" });
    model.deliver({ id, kind: "video-chunk", index: 0, offset: 0, size: 4, total: 4, encoding: "binary", last: true }, [
      [1, 2, 3, 4],
    ]);
    expect(await bytesOf(onDone.mock.calls[0][0].blob)).toEqual(Uint8Array.from([1, 2, 3, 4]));
  });

  it("the base64 path", async () => {
    const model = fakeModel();
    const data = pattern(23, 3);
    const kernel = fakeKernel(model, data, { chunkSize: 5, window: 2, encoding: "base64" });
    const onDone = vi.fn();
    loadVideo(model, "t", { encoding: "base64", onDone, onFail: vi.fn() });
    kernel.run();
    expect(model.sent[0]).toMatchObject({ kind: "video-request", task_id: "t", encoding: "base64", direct: false });
    expect(await bytesOf(onDone.mock.calls[0][0].blob)).toEqual(data);
    expect(decodeBase64("not base64!")).toBeNull();
  });

  it("every buffer shape assembles to the same bytes", async () => {
    for (const shape of [(b) => new DataView(b.buffer), (b) => b.buffer, (b) => b, (b) => [...b]]) {
      const model = fakeModel();
      const onDone = vi.fn();
      const { id } = loadVideo(model, "t", { onDone, onFail: vi.fn() });
      const data = pattern(6);
      model.deliver({ id, kind: "video-response", ok: true, total: 6, chunks: 2, encoding: "binary" });
      model.deliver(
        { id, kind: "video-chunk", index: 1, offset: 3, size: 3, total: 6, encoding: "binary", last: true },
        [shape(data.slice(3))],
      );
      model.deliver(
        { id, kind: "video-chunk", index: 0, offset: 0, size: 3, total: 6, encoding: "binary", last: false },
        [shape(data.slice(0, 3))],
      );
      expect(await bytesOf(onDone.mock.calls[0][0].blob)).toEqual(data);
    }
  });

  it("a refusal fails once, with one clear message, and sends no cancel", () => {
    const model = fakeModel();
    const onFail = vi.fn();
    const { id } = loadVideo(model, "t", { onDone: vi.fn(), onFail });
    model.deliver({ id, kind: "video-response", ok: false, error: "no video for this task in this kernel" });
    model.deliver({ id, kind: "video-error", ok: false, error: "again" });
    vi.advanceTimersByTime(10 * VIDEO_IDLE_MS);
    expect(onFail.mock.calls).toEqual([[failureText("no video for this task in this kernel"), "refused"]]);
    expect(onFail.mock.calls[0][0]).toBe(
      "The video could not be loaded: no video for this task in this kernel. Press Retry; if it keeps failing, restart the kernel and reload the page.",
    );
    expect(model.sent.filter((m) => m.kind === "video-cancel")).toEqual([]);
  });

  it("a kernel that gives up mid-way fails the load once", () => {
    const model = fakeModel();
    const onFail = vi.fn();
    const { id } = loadVideo(model, "t", { onDone: vi.fn(), onFail });
    model.deliver({ id, kind: "video-response", ok: true, total: 8, chunks: 2, encoding: "binary" });
    model.deliver(
      { id, kind: "video-chunk", index: 0, offset: 0, size: 4, total: 8, encoding: "binary", last: false },
      [[1, 2, 3, 4]],
    );
    model.deliver({ id, kind: "video-error", ok: false, error: "The video stopped loading." });
    model.deliver({ id, kind: "video-chunk", index: 1, offset: 4, size: 4, total: 8, encoding: "binary", last: true }, [
      [1, 2, 3, 4],
    ]);
    expect(onFail).toHaveBeenCalledTimes(1);
    expect(onFail.mock.calls[0][1]).toBe("error");
  });

  it("times out when no chunk comes for VIDEO_IDLE_MS, tells the kernel to stop, and fails once", () => {
    const model = fakeModel();
    const before = model.listeners();
    const onFail = vi.fn();
    const { id } = loadVideo(model, "t", { onDone: vi.fn(), onFail });
    model.deliver({ id, kind: "video-response", ok: true, total: 8, chunks: 2, encoding: "binary" });
    vi.advanceTimersByTime(VIDEO_IDLE_MS - 1);
    model.deliver(
      { id, kind: "video-chunk", index: 0, offset: 0, size: 4, total: 8, encoding: "binary", last: false },
      [[1, 2, 3, 4]],
    );
    vi.advanceTimersByTime(VIDEO_IDLE_MS - 1);
    expect(onFail).not.toHaveBeenCalled(); // each chunk restarts the clock
    vi.advanceTimersByTime(1);
    expect(onFail).toHaveBeenCalledTimes(1);
    expect(onFail.mock.calls[0][1]).toBe("timeout");
    expect(onFail.mock.calls[0][0]).toMatch(/^The video could not be loaded: no part of it arrived for 60 s/);
    expect(model.sent.filter((m) => m.kind === "video-cancel").map((m) => m.transfer)).toEqual([id]);
    expect(model.listeners()).toBe(before);
    vi.advanceTimersByTime(10 * VIDEO_IDLE_MS);
    expect(onFail).toHaveBeenCalledTimes(1);
  });

  it("binary chunks without their bytes report buffers-dropped", () => {
    const model = fakeModel();
    const onFail = vi.fn();
    const { id } = loadVideo(model, "t", { onDone: vi.fn(), onFail });
    model.deliver({ id, kind: "video-response", ok: true, total: 8, chunks: 2, encoding: "binary" });
    model.deliver(
      { id, kind: "video-chunk", index: 0, offset: 0, size: 4, total: 8, encoding: "binary", last: false },
      undefined,
    );
    expect(onFail.mock.calls[0][1]).toBe("buffers-dropped");
  });

  it("a damaged or impossible chunk fails the load", () => {
    for (const [chunk, buffers] of [
      [{ index: 0, size: 4, encoding: "binary" }, [[1, 2]]],
      [{ index: 9, size: 4, encoding: "binary" }, [[1, 2, 3, 4]]],
      [{ index: -1, size: 4, encoding: "binary" }, [[1, 2, 3, 4]]],
      [{ index: 0, size: 4, encoding: "base64", data: "%%%" }, []],
    ]) {
      const model = fakeModel();
      const onFail = vi.fn();
      const onDone = vi.fn();
      const { id } = loadVideo(model, "t", { onDone, onFail });
      model.deliver({ id, kind: "video-response", ok: true, total: 8, chunks: 2, encoding: "binary" });
      model.deliver({ id, kind: "video-chunk", offset: 0, total: 8, last: false, ...chunk }, buffers);
      expect(onFail.mock.calls.map((c) => c[1])).toEqual(["bad-chunk"]);
      expect(onDone).not.toHaveBeenCalled();
    }
  });

  it("a direct URL answer ends the load with the URL", () => {
    const model = fakeModel();
    const onDone = vi.fn();
    const { id } = loadVideo(model, "t", { direct: true, onDone, onFail: vi.fn() });
    expect(model.sent[0].direct).toBe(true);
    model.deliver({
      id,
      kind: "video-response",
      ok: true,
      name: "a.mp4",
      mime: "video/mp4",
      url: "https://cdn.example.com/a.mp4",
    });
    expect(onDone).toHaveBeenCalledWith({ url: "https://cdn.example.com/a.mp4", name: "a.mp4", mime: "video/mp4" });
  });

  it("cancel and abort stop listening and tell the kernel; nothing fires later", () => {
    for (const how of ["cancel", "abort"]) {
      const model = fakeModel();
      const before = model.listeners();
      const life = new AbortController();
      const onDone = vi.fn();
      const onFail = vi.fn();
      const load = loadVideo(model, "t", { onDone, onFail, signal: life.signal });
      if (how === "cancel") load.cancel();
      else life.abort();
      expect(model.sent.map((m) => m.kind)).toEqual(["video-request", "video-cancel"]);
      expect(model.sent[1].transfer).toBe(load.id);
      expect(model.listeners()).toBe(before);
      model.deliver({ id: load.id, kind: "video-response", ok: true, total: 1, chunks: 1, encoding: "binary" });
      vi.advanceTimersByTime(10 * VIDEO_IDLE_MS);
      expect(onDone).not.toHaveBeenCalled();
      expect(onFail).not.toHaveBeenCalled();
    }
  });

  it("ignores other requests' messages", () => {
    const model = fakeModel();
    const onDone = vi.fn();
    loadVideo(model, "t", { onDone, onFail: vi.fn() });
    model.deliver({ id: "someone-else", kind: "video-chunk", index: 0, size: 1, encoding: "binary", last: true }, [
      [1],
    ]);
    model.deliver(null);
    model.deliver("text");
    expect(onDone).not.toHaveBeenCalled();
    expect(model.sent.filter((m) => m.kind === "video-ack")).toEqual([]);
  });
});

describe("loadingText", () => {
  it("says how far the load is", () => {
    expect(loadingText(0, -1)).toBe("Loading video…");
    expect(loadingText(0, 100)).toBe("Loading video 0 %");
    expect(loadingText(42_000, 100_000)).toBe("Loading video 42 %");
    expect(loadingText(100, 100)).toBe("Loading video 100 %");
  });
});
