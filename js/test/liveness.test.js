// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PROBE_KIND, PROBE_TIMEOUT_MS, SAVED_COPY, watchKernel } from "../src/liveness.js";
import widget from "../src/widget.js";
import { fakeModel } from "./fake-model.js";

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("watchKernel", () => {
  it("stays alive, with nothing to say, when the probe is answered", () => {
    const onChange = vi.fn();
    const model = fakeModel();
    const kernel = watchKernel(model, { onChange });
    vi.advanceTimersByTime(10 * PROBE_TIMEOUT_MS);
    expect(kernel.alive).toBe(true);
    expect(kernel.reason).toBe("");
    expect(onChange).not.toHaveBeenCalled();
  });

  it("says it is a saved copy when the probe goes unanswered, and not before", () => {
    const onChange = vi.fn();
    const model = fakeModel({ noKernel: true });
    const kernel = watchKernel(model, { onChange });
    expect(model.sent).toEqual([expect.objectContaining({ kind: PROBE_KIND })]);
    vi.advanceTimersByTime(PROBE_TIMEOUT_MS - 1);
    expect(kernel.alive).toBe(true);
    vi.advanceTimersByTime(1);
    expect(kernel.alive).toBe(false);
    expect(kernel.reason).toBe(SAVED_COPY);
    expect(onChange).toHaveBeenCalledTimes(1);
  });

  it("comes back when a busy kernel answers late", () => {
    const onChange = vi.fn();
    const model = fakeModel({ noKernel: true });
    const kernel = watchKernel(model, { onChange });
    vi.advanceTimersByTime(PROBE_TIMEOUT_MS);
    expect(kernel.alive).toBe(false);
    model.deliver({ id: model.sent[0].id, kind: "ping-response", ok: false });
    expect(kernel.alive).toBe(true);
    expect(onChange).toHaveBeenCalledTimes(2);
  });

  it("removes its listeners when the view goes away", () => {
    const life = new AbortController();
    const model = fakeModel({ noKernel: true });
    const onChange = vi.fn();
    watchKernel(model, { onChange, signal: life.signal });
    life.abort();
    vi.advanceTimersByTime(PROBE_TIMEOUT_MS);
    expect(model.listeners()).toBe(0);
    expect(onChange).not.toHaveBeenCalled();
  });
});

describe("the studio without a kernel", () => {
  let el;
  beforeEach(() => {
    document.body.replaceChildren();
    el = document.createElement("div");
    document.body.append(el);
  });

  it("disables Generate and says why, also after Generate's own timeout", () => {
    const model = fakeModel({ noKernel: true });
    widget.render({ model, el });
    const generate = el.querySelector('[data-fk="generate"]');
    const notice = el.querySelector('[data-fk="notice"]');
    const off = () => generate.getAttribute("aria-disabled") === "true";
    expect(off()).toBe(false); // nothing known yet: a live kernel must not flash a notice
    generate.click(); // the press a saved copy used to swallow for good
    vi.advanceTimersByTime(PROBE_TIMEOUT_MS);
    expect(notice.hidden).toBe(false);
    expect(notice.textContent).toBe(SAVED_COPY);
    expect(off()).toBe(true);
    expect(generate.title).toBe(SAVED_COPY);
    vi.advanceTimersByTime(60_000); // Generate's request times out: the reason stays, the button off
    expect(notice.textContent).toBe(SAVED_COPY);
    expect(off()).toBe(true);
    // The kernel turns out to be there after all (it was busy): the studio works again.
    model.deliver({ id: model.sent[0].id, kind: "ping-response", ok: false });
    expect(off()).toBe(false);
    expect(notice.hidden).toBe(true);
  });

  it("shows no notice with a live kernel", () => {
    const model = fakeModel();
    widget.render({ model, el });
    vi.advanceTimersByTime(10 * PROBE_TIMEOUT_MS);
    expect(el.querySelector('[data-fk="notice"]').hidden).toBe(true);
    expect(el.querySelector('[data-fk="generate"]').getAttribute("aria-disabled")).toBe("false");
  });
});
