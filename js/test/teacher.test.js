// @vitest-environment happy-dom
import { beforeEach, describe, expect, it } from "vitest";
import { budgetLine } from "../src/teacher.js";
import widget from "../src/widget.js";
import { fakeModel } from "./fake-model.js";

let el;
beforeEach(() => {
  document.body.replaceChildren();
  el = document.createElement("div");
  document.body.append(el);
});

describe("budget line", () => {
  it("says what is left, and why Generate would be refused", () => {
    expect(budgetLine(undefined)).toBe("");
    expect(budgetLine({ cap: null, reserved: 3, left: null, refused: "" })).toBe("");
    expect(budgetLine({ cap: 50, reserved: 12.5, left: 37.5, refused: "" })).toBe("Budget: 37.5 of 50 credits left");
    expect(budgetLine({ cap: 1, reserved: 0, left: 1, refused: "" })).toBe("Budget: 1 of 1 credit left");
    expect(budgetLine({ cap: 10, reserved: 10, left: 0, refused: "All 10 credits are reserved." })).toBe(
      "Budget: 0 of 10 credits left · Generate is refused: All 10 credits are reserved.",
    );
  });

  it("shows in [data-fk=budget] and follows the trait", () => {
    const model = fakeModel({ _budget: { cap: 20, reserved: 0, left: 20, refused: "" } });
    const cleanup = widget.render({ model, el });
    const line = el.querySelector('[data-fk="budget"]');
    expect(line.hidden).toBe(false);
    expect(line.textContent).toBe("Budget: 20 of 20 credits left");
    model.set("_budget", {
      cap: 20,
      reserved: 15,
      left: 5,
      refused: "This clip would cost ≈ 10 credits, more than is left.",
    });
    expect(line.textContent).toContain("5 of 20 credits left");
    model.set("_budget", { cap: null, reserved: 15, left: null, refused: "" });
    expect(line.hidden).toBe(true);
    const before = model.listeners();
    cleanup();
    expect(model.listeners()).toBeLessThan(before);
    expect(el.querySelector('[data-fk="budget"]')).toBeNull();
  });
});

describe("classroom mode", () => {
  it("hides the key field so no key is pasted on a projector", () => {
    widget.render({ model: fakeModel({ _classroom: true }), el });
    const field = el.querySelector('[data-fk="api-key"]');
    expect(field.closest("details").hidden).toBe(true);
    expect(el.querySelector('[data-fk="root"]').hasAttribute("data-classroom")).toBe(true);
  });

  it("keeps the key field outside classroom mode", () => {
    widget.render({ model: fakeModel({ _mode: "none" }), el });
    const details = el.querySelector('[data-fk="api-key"]').closest("details");
    expect(details.hidden).toBe(false);
    expect(details.open).toBe(true);
  });
});
