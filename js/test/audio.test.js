// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from "vitest";
import { loadVideo } from "../src/transport.js";
import { AAC_TYPE, audioFor, preferredAudio } from "../src/video.js";
import { fakeModel } from "./fake-model.js";

describe("audioFor: which audio to ask the kernel for", () => {
  it("asks for MP3 only when the player clearly cannot play AAC", () => {
    /** @type {string[]} */
    const asked = [];
    const answer = (/** @type {string} */ reply) => (/** @type {string} */ type) => {
      asked.push(type);
      return reply;
    };
    expect(audioFor(answer(""))).toBe("mp3"); // VS Code's desktop build
    expect(audioFor(answer("maybe"))).toBeUndefined();
    expect(audioFor(answer("probably"))).toBeUndefined();
    expect(asked).toEqual([AAC_TYPE, AAC_TYPE, AAC_TYPE]);
    expect(AAC_TYPE).toBe('audio/mp4; codecs="mp4a.40.2"');
  });

  it("treats an unknown answer as yes (the original file)", () => {
    expect(audioFor(undefined)).toBeUndefined();
    expect(
      audioFor(() => {
        throw new Error("no media stack");
      }),
    ).toBeUndefined();
  });
});

describe("the video-request's audio field", () => {
  afterEach(() => vi.restoreAllMocks());

  it("carries audio: mp3 where the page's <video> says no to AAC, and nothing where it says yes", () => {
    const spy = vi.spyOn(HTMLMediaElement.prototype, "canPlayType");
    spy.mockReturnValue("");
    expect(preferredAudio()).toBe("mp3");
    const model = fakeModel();
    loadVideo(model, "t1", { onDone: () => {}, onFail: () => {} }).cancel();
    spy.mockReturnValue("probably");
    expect(preferredAudio()).toBeUndefined();
    loadVideo(model, "t2", { onDone: () => {}, onFail: () => {} }).cancel();
    const asks = model.sent.filter((/** @type {any} */ m) => m.kind === "video-request");
    expect(asks.map((/** @type {any} */ m) => [m.task_id, m.audio])).toEqual([
      ["t1", "mp3"],
      ["t2", undefined],
    ]);
    expect("audio" in asks[1]).toBe(false); // an older kernel sees the message it always saw
  });

  it("lets the caller say which audio", () => {
    vi.spyOn(HTMLMediaElement.prototype, "canPlayType").mockReturnValue("probably");
    const model = fakeModel();
    loadVideo(model, "t", { audio: "mp3", onDone: () => {}, onFail: () => {} }).cancel();
    expect(model.sent[0]).toMatchObject({ kind: "video-request", task_id: "t", audio: "mp3" });
  });
});
