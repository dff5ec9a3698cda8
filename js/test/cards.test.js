// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { timing } from "../src/format.js";
import widget from "../src/widget.js";
import { fakeModel } from "./fake-model.js";

const POSTER = "data:image/jpeg;base64,AAAA";

const card = (over = {}) => ({
  id: "gen-0000000001",
  task_id: "task-1",
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
});

let el;
beforeEach(() => {
  el = document.createElement("div");
  document.body.append(el);
});
afterEach(() => {
  el.remove();
  vi.useRealTimers();
});

describe("posters", () => {
  it("come from _posters by card id, and a later _posters change shows them", () => {
    const model = fakeModel({ _tasks: [card({ status: "completed", progress: 100 })] });
    widget.render({ model, el });
    const img = el.querySelector(".fk-poster");
    expect(img.hidden).toBe(true);
    model.set("_posters", { "gen-0000000001": POSTER });
    expect(img.hidden).toBe(false);
    expect(img.getAttribute("src")).toBe(POSTER);
  });

  it("fall back to card.poster from an older kernel", () => {
    const model = fakeModel({ _tasks: [card({ poster: POSTER })] });
    widget.render({ model, el });
    expect(el.querySelector(".fk-poster").getAttribute("src")).toBe(POSTER);
  });
});

describe("cards-progress", () => {
  it("moves the bar, its number and the ETA of the shown card without rebuilding it", () => {
    const model = fakeModel({ _tasks: [card({ progress: 10 })] });
    widget.render({ model, el });
    const node = el.querySelector('[data-fk="task"]');
    const meta = node.querySelector(".fk-meta").textContent;
    model.deliver({
      kind: "cards-progress",
      cards: [{ id: "gen-0000000001", progress: 80, status_text: "rendering" }],
    });
    expect(el.querySelector('[data-fk="task"]')).toBe(node);
    expect(node.getAttribute("data-progress")).toBe("80");
    expect(node.querySelector('[role="progressbar"]').getAttribute("aria-valuenow")).toBe("80");
    expect(node.querySelector(".fk-bar-fill").style.width).toBe("80%");
    expect(node.querySelector(".fk-meta").textContent).not.toBe(meta); // the ETA follows
  });

  it("ignores ids it does not show and messages that are not progress", () => {
    const model = fakeModel({ _tasks: [card()] });
    widget.render({ model, el });
    model.deliver({ kind: "cards-progress", cards: [{ id: "gen-other", progress: 90, status_text: "" }] });
    model.deliver({ kind: "cards-progress", cards: "nope" });
    model.deliver({ kind: "something-else", cards: [{ id: "gen-0000000001", progress: 90 }] });
    expect(el.querySelector('[data-fk="task"]').getAttribute("data-progress")).toBe("40");
  });

  it("stops listening when the view goes", () => {
    const model = fakeModel({ _tasks: [card()] });
    const cleanup = widget.render({ model, el });
    const node = el.querySelector('[data-fk="task"]');
    cleanup();
    model.deliver({ kind: "cards-progress", cards: [{ id: "gen-0000000001", progress: 90, status_text: "" }] });
    expect(node.getAttribute("data-progress")).toBe("40");
  });
});

describe("stopped cards", () => {
  it("their clock ends at stopped_at, with no ETA", () => {
    const start = Date.now() - 60_000;
    const stopped = card({ status: "stopped", watching: false, submitted_at: start, stopped_at: start + 7_000 });
    expect(timing(stopped, Date.now())).toBe("elapsed 0:07");
    expect(timing(stopped, Date.now() + 3_600_000)).toBe("elapsed 0:07");
    expect(timing(card({ submitted_at: start, stopped_at: null, progress: 50 }), start + 10_000)).toBe(
      "elapsed 0:10 · about 0:10 left",
    );
  });
});
