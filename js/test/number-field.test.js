// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { stepFor } from "../src/keys.js";
import { clampWhole, numberField } from "../src/number-field.js";
import { moveBoundary } from "../src/segments.js";

describe("numberField", () => {
  it("is a whole-number input with its bounds, hook and label", () => {
    const input = numberField({ hook: "segment-duration", min: 1, max: 10, label: "Shot 1 duration in seconds" });
    expect(input.type).toBe("number");
    expect([input.min, input.max, input.step]).toEqual(["1", "10", "1"]);
    expect(input.getAttribute("data-fk")).toBe("segment-duration");
    expect(input.getAttribute("aria-label")).toBe("Shot 1 duration in seconds");
    expect(numberField({ hook: "concurrency", min: 1, max: 8 }).hasAttribute("aria-label")).toBe(false);
  });

  it("lets the wheel leave the focused field instead of stepping it", () => {
    const input = numberField({ hook: "concurrency", min: 1, max: 8 });
    input.value = "3";
    document.body.append(input);
    input.focus();
    input.dispatchEvent(new WheelEvent("wheel", { deltaY: 100 }));
    expect(document.activeElement).not.toBe(input);
    expect(input.value).toBe("3");
    input.remove();
  });

  it("stops listening when its signal aborts", () => {
    const life = new AbortController();
    const input = numberField({ hook: "concurrency", min: 1, max: 8 }, life.signal);
    document.body.append(input);
    life.abort();
    input.focus();
    input.dispatchEvent(new WheelEvent("wheel", { deltaY: 100 }));
    expect(document.activeElement).toBe(input);
    input.remove();
  });
});

describe("clampWhole", () => {
  it("rounds into the bounds, and reads text that is no number as the lower bound", () => {
    expect(clampWhole("3", 1, 8)).toBe(3);
    expect(clampWhole("2.6", 1, 8)).toBe(3);
    expect(clampWhole("99", 1, 8)).toBe(8);
    expect(clampWhole("-4", 1, 8)).toBe(1);
    expect(clampWhole("", 1, 8)).toBe(1);
    expect(clampWhole("0", 1, 8)).toBe(1);
    expect(clampWhole("many", 1, 8)).toBe(1);
  });
});

describe("stepFor", () => {
  it("moves by one with the arrows and to either end with Home/End; other keys move nothing", () => {
    expect(["ArrowLeft", "ArrowDown", "ArrowRight", "ArrowUp"].map(stepFor)).toEqual([-1, -1, 1, 1]);
    expect([stepFor("Home"), stepFor("End")]).toEqual([-Infinity, Infinity]);
    for (const key of ["Enter", " ", "a", "PageUp", "Tab"]) expect(stepFor(key), key).toBeUndefined();
  });

  it("an end step lands on the boundary's bound: both shots keep at least 1 s", () => {
    const shots = [
      { prompt: "a", duration: 4 },
      { prompt: "b", duration: 6 },
    ];
    expect(moveBoundary(shots, 0, stepFor("Home") ?? 0).map((s) => s.duration)).toEqual([1, 9]);
    expect(moveBoundary(shots, 0, stepFor("End") ?? 0).map((s) => s.duration)).toEqual([9, 1]);
    expect(moveBoundary(shots, 0, stepFor("ArrowRight") ?? 0).map((s) => s.duration)).toEqual([5, 5]);
  });
});
