// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { wheelSafe } from "../src/dom.js";

describe("wheelSafe", () => {
  it("lets the wheel leave a focused number field instead of stepping it", () => {
    const input = document.createElement("input");
    input.type = "number";
    input.value = "3";
    document.body.append(input);
    wheelSafe(input);
    input.focus();
    input.dispatchEvent(new WheelEvent("wheel", { deltaY: 100 }));
    expect(document.activeElement).not.toBe(input);
    expect(input.value).toBe("3");
    input.remove();
  });
});
