import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as fmt from "../src/format.js";
import * as seg from "../src/segments.js";
import { isSafePoster, isSafeVideoSrc, playedWithoutAudio } from "../src/video.js";

const shots = (...d) => d.map((duration, i) => ({ prompt: `s${i}`, duration }));

describe("segment maths", () => {
  it("splits evenly, larger parts first", () => {
    expect(seg.evenSplit(10, 3)).toEqual([4, 3, 3]);
    expect(seg.evenSplit(5, 2)).toEqual([3, 2]);
    expect(seg.evenSplit(10, 6)).toEqual([2, 2, 2, 2, 1, 1]);
    expect(seg.evenSplit(5, 0)).toEqual([]);
  });
  it("evens out while keeping prompts and the exact sum", () => {
    const out = seg.evenOut(shots(7, 1, 1), 10);
    expect(out.map((s) => s.duration)).toEqual([4, 3, 3]);
    expect(out.map((s) => s.prompt)).toEqual(["s0", "s1", "s2"]);
    expect(seg.total(out)).toBe(10);
  });
  it("adds into free time, else borrows a second from the longest shot", () => {
    expect(seg.addSegment(shots(6), 10).map((s) => s.duration)).toEqual([6, 4]);
    const full = seg.addSegment(shots(6, 4), 10);
    expect(full.map((s) => s.duration)).toEqual([5, 4, 1]);
    expect(seg.total(full)).toBe(10);
  });
  it("removes, moves and splits", () => {
    expect(seg.removeSegment(shots(6, 4), 0).map((s) => s.prompt)).toEqual(["s1"]);
    // Removing gives the seconds back: the clip keeps its length, and add-then-remove restores it.
    expect(seg.removeSegment(shots(6, 4), 0).map((s) => s.duration)).toEqual([10]);
    expect(seg.removeSegment(shots(3, 3, 4), 1).map((s) => s.duration)).toEqual([6, 4]);
    const added = seg.addSegment(shots(6, 4), 10);
    expect(seg.total(seg.removeSegment(added, added.length - 1))).toBe(10);
    expect(seg.moveSegment(shots(6, 4), 0, 1).map((s) => s.prompt)).toEqual(["s1", "s0"]);
    expect(seg.moveSegment(shots(6, 4), 0, -1).map((s) => s.prompt)).toEqual(["s0", "s1"]);
    expect(seg.splitSegment(shots(5, 5), 0).map((s) => s.duration)).toEqual([3, 2, 5]);
    expect(seg.splitSegment(shots(1, 4), 0).map((s) => s.duration)).toEqual([1, 4]);
  });
  it("parses whole seconds only", () => {
    expect(seg.parseSeconds("6")).toBe(6);
    expect(seg.parseSeconds("2.5")).toBeNaN();
    expect(seg.parseSeconds("")).toBeNaN();
  });
  it("draws blocks proportional to duration", () => {
    expect(seg.widths(shots(6, 4))).toEqual([60, 40]);
    expect(seg.defaultSegments(5).map((s) => s.duration)).toEqual([3, 2]);
  });
});

describe("formatting", () => {
  it("formats timing with an ETA from progress or the estimate", () => {
    const base = { submitted_at: 0, finished_at: null, estimated_time: 60, progress: 0 };
    expect(fmt.timing(base, 10_000)).toBe("elapsed 0:10 · about 0:50 left");
    expect(fmt.timing({ ...base, progress: 50 }, 30_000)).toBe("elapsed 0:30 · about 0:30 left");
    expect(fmt.timing({ ...base, finished_at: 65_000, progress: 100 }, 99_000)).toBe("elapsed 1:05");
  });
  it("labels the credit estimate as one, with totals", () => {
    expect(fmt.creditsLine({ estimate: null, session: 0, journal: null })).toBe(
      "cost unknown (no past task of this tier)",
    );
    expect(fmt.creditsLine({ estimate: 15, session: 30, journal: 45.5 })).toBe(
      "≈ 15 credits (estimate from past tasks) · this session 30 · all recorded 45.5",
    );
    expect(fmt.creditsLine(undefined)).toBe("");
  });
  it("formats credits, labels and file names", () => {
    expect(fmt.credits(15)).toBe("15 credits reserved");
    expect(fmt.credits(null)).toBe("");
    expect(fmt.statusLabel("uncertain")).toBe("Outcome unknown");
    expect(fmt.safeFileName("../../etc/passwd")).toBe("etc-passwd");
    expect(fmt.safeFileName("<script>.mp4")).toBe("script-.mp4");
  });
  it("takes its status groups from the kernel, with the fallback only when none is given", () => {
    const groups = { active: ["rendering"], finished: ["completed"], failed: ["lost"] };
    expect(fmt.inFlight("rendering", groups)).toBe(true);
    expect(fmt.inFlight("processing", groups)).toBe(false);
    expect(fmt.failedStatus("lost", groups)).toBe(true);
    expect(fmt.inFlight("processing")).toBe(true);
    expect(fmt.failedStatus("expired")).toBe(true);
  });
});

describe("security", () => {
  it("accepts only http(s) and blob video sources", () => {
    expect(isSafeVideoSrc("blob:http://localhost/abc")).toBe(true);
    expect(isSafeVideoSrc("https://cdn.example/v.mp4")).toBe(true);
    for (const bad of [
      "javascript:alert(1)",
      "data:video/mp4;base64,AAAA",
      "file:///etc/passwd",
      "",
      null,
      42,
      "/relative.mp4",
    ]) {
      expect(isSafeVideoSrc(bad)).toBe(false);
    }
    expect(isSafePoster("data:image/jpeg;base64,AAAA")).toBe(true);
    expect(isSafePoster("data:image/svg+xml;base64,PHN2Zz4=")).toBe(false);
    expect(isSafePoster('data:image/jpeg;base64,AA" onerror="x')).toBe(false);
  });
  it("never uses innerHTML-style sinks in the source", () => {
    const dir = new URL("../src/", import.meta.url);
    for (const name of readdirSync(dir)) {
      const text = readFileSync(new URL(name, dir), "utf8");
      expect(text, name).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
    }
  });
  it("only flags missing audio on clear evidence", () => {
    expect(playedWithoutAudio({ currentTime: 0.5, webkitAudioDecodedByteCount: 0 })).toBe(false);
    expect(playedWithoutAudio({ currentTime: 2, webkitAudioDecodedByteCount: 0 })).toBe(true);
    expect(playedWithoutAudio({ currentTime: 2, webkitAudioDecodedByteCount: 100 })).toBe(false);
    expect(playedWithoutAudio({ currentTime: 2 })).toBe(false);
  });
});
