import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { charCount, timeoutText } from "../src/format.js";
import { FALLBACK_OPTIONS, KIND, request, TIMEOUT_MS } from "../src/protocol.js";

const MAX_PROMPT = FALLBACK_OPTIONS.max_prompt;

import { fakeModel } from "./fake-model.js";

describe("request", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("has one timeout per message kind", () => {
    for (const kind of Object.values(KIND)) expect(TIMEOUT_MS[kind], kind).toBeGreaterThan(0);
  });

  it("hands the reply with its id to onReply once and removes its handler", () => {
    const model = fakeModel();
    const before = model.listeners();
    const onReply = vi.fn();
    const onTimeout = vi.fn();
    const id = request(model, { kind: KIND.loadTask, task_id: "t" }, { onReply, onTimeout });
    expect(model.sent).toEqual([{ kind: "load-task", task_id: "t", id }]);
    model.deliver({ id: "someone-else", kind: "load-task-response", ok: true });
    model.deliver("not an object");
    model.deliver(null);
    expect(onReply).not.toHaveBeenCalled();
    model.deliver({ id, kind: "load-task-response", ok: true }, ["b"]);
    model.deliver({ id, kind: "load-task-response", ok: false });
    expect(onReply).toHaveBeenCalledTimes(1);
    expect(onReply).toHaveBeenCalledWith({ id, kind: "load-task-response", ok: true }, ["b"]);
    expect(model.listeners()).toBe(before);
    vi.advanceTimersByTime(10 * TIMEOUT_MS[KIND.loadTask]);
    expect(onTimeout).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("times out once, after its kind's timeout; a later reply does nothing", () => {
    const model = fakeModel();
    const before = model.listeners();
    const onReply = vi.fn();
    const onTimeout = vi.fn();
    const id = request(model, { kind: KIND.generate }, { onReply, onTimeout });
    vi.advanceTimersByTime(TIMEOUT_MS[KIND.generate] - 1);
    expect(onTimeout).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(onTimeout).toHaveBeenCalledTimes(1);
    expect(onTimeout).toHaveBeenCalledWith(TIMEOUT_MS[KIND.generate]);
    expect(model.listeners()).toBe(before);
    model.deliver({ id, kind: "generate-response", ok: true });
    expect(onReply).not.toHaveBeenCalled();
  });

  it("an abort removes the handler and the timer, and calls neither callback", () => {
    const model = fakeModel();
    const before = model.listeners();
    const life = new AbortController();
    const onReply = vi.fn();
    const onTimeout = vi.fn();
    const id = request(model, { kind: KIND.videoRequest, task_id: "t" }, { onReply, onTimeout, signal: life.signal });
    life.abort();
    expect(model.listeners()).toBe(before);
    expect(vi.getTimerCount()).toBe(0);
    model.deliver({ id, kind: "video-response", ok: true });
    vi.advanceTimersByTime(10 * TIMEOUT_MS[KIND.videoRequest]);
    expect(onReply).not.toHaveBeenCalled();
    expect(onTimeout).not.toHaveBeenCalled();
    request(model, { kind: KIND.clearKey }, { onReply, signal: life.signal }); // already aborted: not even sent
    expect(model.sent.length).toBe(1);
    expect(model.listeners()).toBe(before);
  });
});

describe("charCount", () => {
  it("counts code points, as the kernel's len() does", () => {
    expect(charCount("")).toBe(0);
    expect(charCount("a fox")).toBe(5);
    expect(charCount("😀")).toBe(1);
    expect("😀".length).toBe(2);
    expect(charCount("a😀b🦊")).toBe(4);
    expect(charCount("𝒳𝒴")).toBe(2); // mathematical script letters: astral, one each
    expect(charCount("🇫🇷")).toBe(2); // a flag is two regional indicators, as len() says
    expect(charCount("e\u0301")).toBe(2); // a combining accent is its own code point
    expect(charCount("\ud83d")).toBe(1); // a lone surrogate: one code point in Python too
  });

  it("agrees with the kernel at the prompt limit", () => {
    const emoji = "🦊".repeat(MAX_PROMPT);
    expect(charCount(emoji)).toBe(MAX_PROMPT);
    expect(emoji.length).toBe(2 * MAX_PROMPT); // what a .length counter would have shown
    expect(charCount(`${emoji}x`)).toBe(MAX_PROMPT + 1);
  });

  it("matches an independent count for random text from every plane", () => {
    // Count UTF-8 lead bytes: one per code point (a lone surrogate becomes one U+FFFD).
    const utf8Count = (/** @type {string} */ text) =>
      [...new TextEncoder().encode(text)].filter((b) => (b & 0xc0) !== 0x80).length;
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let round = 0; round < 300; round += 1) {
      const points = Array.from({ length: next() % 40 }, () => {
        const plane = next() % 3;
        if (plane === 0) return 0x20 + (next() % 0x5f);
        if (plane === 1) return 0x10000 + (next() % 0xfffff);
        return 0xa0 + (next() % 0xd700);
      });
      const text = String.fromCodePoint(...points);
      expect(charCount(text)).toBe(points.length);
      expect(charCount(text)).toBe(utf8Count(text));
    }
  });
});

describe("timeoutText", () => {
  it("says what happened and what to do", () => {
    expect(timeoutText(30_000)).toBe(
      "The kernel did not answer within 30 s. If it is busy, wait; if it restarted, run the cell again.",
    );
    expect(timeoutText(30_000, "Generate", "the clip")).toBe(
      "The kernel did not answer within 30 s. If it is busy, wait; if it restarted, run the cell again. " +
        "Check the task cards before pressing Generate again: the clip may have started.",
    );
  });
});
