// Entry point: composes the studio for one view of the model. Several views of the same model
// work independently (each keeps its own Blob URLs and listeners) and clean up on removal.

import { createControls } from "./controls.js";
import { h } from "./dom.js";
import { creditsLine, statusLabel, timeoutText } from "./format.js";
import { createGallery } from "./gallery.js";
import { createKeyEntry } from "./key-entry.js";
import { watchKernel } from "./liveness.js";
import { KIND, request } from "./protocol.js";
import { createSegmentEditor } from "./segment-editor.js";
import { createTaskCard } from "./task-card.js";
import { mountTeacher } from "./teacher.js";
import { loadVideo, probeEncoding } from "./transport.js";
import { createVoicesPanel } from "./voices.js";

/** @typedef {import("./protocol.js").Model} Model */
/** @typedef {import("./protocol.js").TaskCard} TaskCard */
/** @typedef {import("@anywidget/types").AnyModel<Model>} AnyModel */

const MODE_TEXT = /** @type {Record<string, string>} */ ({
  emulator: "emulator · nothing is billed",
  live: "live API · billed",
  none: "no key: enter one below",
});

/**
 * @param {{model: AnyModel, el: HTMLElement}} props
 * @returns {() => void} cleanup
 */
export function renderStudio({ model, el }) {
  // Every request waits for its answer with a timeout (protocol.js), so a lost answer cannot
  // leave a control disabled for the life of the view; removing the view aborts them all.
  const life = new AbortController();
  /**
   * @param {{kind: string} & Record<string, unknown>} content
   * @param {(reply: any, buffers: DataView[]) => void} onReply
   * @param {(ms: number) => void} onTimeout
   */
  const send = (content, onReply, onTimeout) => request(model, content, { onReply, onTimeout, signal: life.signal });

  const errorBox = h("div", { class: "fk-msg fk-msg-error", "data-fk": "error", role: "alert" });
  // One message about the kernel's answers (a timeout, a refusal): replaced, never stacked.
  const notice = h("div", { class: "fk-msg fk-msg-error", "data-fk": "notice", role: "alert", hidden: true });
  /** @param {string} text */
  const showNotice = (text) => {
    const shown = kernel.reason || text; // with no kernel, that is the one thing to say
    notice.textContent = shown;
    notice.hidden = !shown;
  };
  const generate = h("button", {
    type: "button",
    class: "fk-button fk-primary",
    "data-fk": "generate",
    text: "Generate",
  });
  const announcer = h("div", { class: "fk-sr", "aria-live": "polite", "data-fk": "announcer" });
  const mode = h("span", { class: "fk-mode", "data-fk": "mode" });
  const creditsEl = h("span", { class: "fk-note", "data-fk": "credits" });
  const cardsEl = h("div", { class: "fk-tasks", "data-fk": "tasks" });

  // Every Generate is billed: a double click must not start the clips (or a batch of 8) twice,
  // so the button stays off until the kernel has answered the first press.
  let starting = false;
  const doGenerate = () => {
    controls.flush();
    editor.flush();
    voices.flush();
    if (generate.disabled || starting) return;
    starting = true;
    generate.disabled = true;
    showNotice("");
    model.save_changes();
    send(
      { kind: KIND.generate },
      (reply) => {
        starting = false;
        renderProblems();
        if (!reply.ok) {
          errorBox.textContent = String(reply.error ?? "Could not start the generation.");
          errorBox.hidden = false;
        }
      },
      (ms) => {
        // The kernel may still start the clip when it gets to the message: say so.
        starting = false;
        renderProblems();
        showNotice(timeoutText(ms, "Generate", "the clip"));
      },
    );
  };
  const controls = createControls(model, { onGenerateShortcut: doGenerate });
  const editor = createSegmentEditor(model);
  const voices = createVoicesPanel(model, {
    create: (done) => {
      model.save_changes();
      send(
        { kind: KIND.createVoice },
        (reply) => done(reply.ok ? "" : String(reply.error ?? "Could not create the voice.")),
        (ms) => done(timeoutText(ms, "Create voice", "the voice")),
      );
    },
  });
  /** @param {any} reply */
  const keyAnswer = (reply) => keyEntry.showError(reply.ok ? "" : String(reply.error ?? "The kernel refused the key."));
  /** @param {number} ms */
  const keyTimeout = (ms) => keyEntry.showError(timeoutText(ms));
  const keyEntry = createKeyEntry(
    model,
    (key) => send({ kind: KIND.setKey, key }, keyAnswer, keyTimeout),
    () => send({ kind: KIND.clearKey }, keyAnswer, keyTimeout),
  );
  generate.addEventListener("click", doGenerate);

  const root = h(
    "div",
    { class: "fk-root", "data-fk": "root" },
    h(
      "header",
      { class: "fk-row fk-between fk-head" },
      h("strong", { class: "fk-title", text: "Kling V3 video studio" }),
      mode,
    ),
    controls.el,
    voices.el,
    editor.el,
    h("div", { class: "fk-row fk-generate" }, generate, h("kbd", { class: "fk-note", text: "Ctrl/⌘+Enter" }), errorBox),
    notice,
    creditsEl,
    keyEntry.el,
    cardsEl,
    announcer,
  );
  el.replaceChildren(root);
  mountTeacher(model, creditsEl, life.signal); // the budget line and classroom mode (teacher.js)

  /** @type {Map<string, ReturnType<typeof createTaskCard>>} */
  const cards = new Map();
  /** @type {Map<string, ReturnType<typeof createGallery>>} */
  const galleries = new Map();
  /** @type {Map<string, string>} */
  const announced = new Map();

  function renderProblems() {
    const problems = model.get("_problems") ?? [];
    controls.showProblems(problems);
    editor.showProblems(problems);
    keyEntry.showProblems(problems);
    const first = problems.find((p) => p.level === "error");
    const count = (model.get("_variations") ?? []).length;
    generate.textContent = count ? `Generate ${count} variations` : "Generate";
    generate.disabled = Boolean(first) || starting || !kernel.alive;
    errorBox.textContent = first ? first.message : "";
    errorBox.hidden = !first;
    generate.title = first ? `Fix first: ${first.message}` : "Generate (Ctrl/⌘+Enter)";
  }

  const renderCredits = () => {
    creditsEl.textContent = creditsLine(model.get("_credits"));
  };

  function renderMode() {
    const value = model.get("_mode");
    root.setAttribute("data-mode", value);
    mode.textContent = MODE_TEXT[value] ?? value;
    keyEntry.update();
  }

  // Which encoding this view's host lets through: probed once per view, at render (Colab drops
  // binary buffers, so its views ask for base64). Loads asked for before the answer wait for it.
  /** @type {import("./transport.js").Encoding | null} */
  let encoding = null;
  /** @type {(() => void)[]} */
  const waiting = [];
  probeEncoding(
    model,
    (found) => {
      encoding = found;
      root.setAttribute("data-video-encoding", found);
      for (const start of waiting.splice(0)) start();
    },
    { signal: life.signal },
  );
  /** @type {Map<string, {cancel: () => void}>} */
  const loads = new Map();

  /** @param {string} id @param {boolean} direct */
  const requestVideo = (id, direct) => {
    if (encoding === null) {
      waiting.push(() => requestVideo(id, direct));
      return;
    }
    loads.get(id)?.cancel();
    let retried = false;
    const start = () => {
      const load = loadVideo(model, id, {
        encoding: /** @type {import("./transport.js").Encoding} */ (encoding),
        direct,
        signal: life.signal,
        onProgress: (received, total) => cards.get(id)?.videoProgress(received, total),
        onDone: (loaded) => {
          loads.delete(id);
          cards.get(id)?.setVideo(loaded);
          for (const gallery of galleries.values()) gallery.refresh();
        },
        onFail: (message, reason) => {
          loads.delete(id);
          if (reason === "buffers-dropped" && !retried) {
            // The probe passed but the chunks lost their bytes: this host drops big buffers.
            retried = true;
            encoding = "base64";
            root.setAttribute("data-video-encoding", "base64");
            start();
            return;
          }
          cards.get(id)?.videoFailed(message); // shown once; only Retry asks again
        },
      });
      loads.set(id, load);
    };
    start();
  };

  /** @param {string} failed what to say when the kernel answers "no" @returns {(reply: any) => void} */
  const noticeUnlessOk = (failed) => (reply) => showNotice(reply.ok ? "" : String(reply.error ?? failed));
  /** @param {number} ms */
  const noticeTimeout = (ms) => showNotice(timeoutText(ms));

  function renderTasks() {
    const list = model.get("_tasks") ?? [];
    const now = Date.now();
    const seen = new Set();
    /** Top-level items, newest first: a lone card, or a batch's gallery (where its first card is). */
    /** @type {HTMLElement[]} */
    const order = [];
    /** @type {Map<string, {views: ReturnType<typeof createTaskCard>[], cards: TaskCard[]}>} */
    const batches = new Map();
    for (const card of list) {
      seen.add(card.id);
      let view = cards.get(card.id);
      if (!view) {
        view = createTaskCard({
          stopWatching: (id) =>
            send(
              { kind: KIND.stopWatching, task_id: id },
              noticeUnlessOk(
                "Not stopped: its submit is still on its way (stopping now could lose a billed task), or it is no longer watched.",
              ),
              noticeTimeout,
            ),
          load: (id) =>
            send(
              { kind: KIND.loadTask, task_id: id },
              noticeUnlessOk("That task's settings could not be loaded."),
              noticeTimeout,
            ),
          requestVideo,
        });
        cards.set(card.id, view);
      }
      view.update(card, now);
      announce(card);
      const batchId = card.batch?.id;
      if (!batchId) {
        order.push(view.el);
        continue;
      }
      let gallery = galleries.get(batchId);
      if (!gallery) {
        gallery = createGallery(batchId);
        galleries.set(batchId, gallery);
      }
      if (!batches.has(batchId)) {
        batches.set(batchId, { views: [], cards: [] });
        order.push(gallery.el);
      }
      const members = /** @type {{views: ReturnType<typeof createTaskCard>[], cards: TaskCard[]}} */ (
        batches.get(batchId)
      );
      members.views.push(view);
      members.cards.push(card);
    }
    for (const [batchId, { views, cards: members }] of batches) {
      // Batch order (the order the requests were given), not newest first.
      const ranked = views
        .map((view, i) => ({ view, card: members[i] }))
        .sort((a, b) => (a.card.batch?.index ?? 0) - (b.card.batch?.index ?? 0));
      galleries.get(batchId)?.setMembers(
        ranked.map((r) => r.view),
        ranked.map((r) => r.card),
        model.get("concurrency") ?? 2,
      );
    }
    // Keep DOM order without recreating nodes (a playing video keeps playing).
    order.forEach((node, index) => {
      if (cardsEl.children[index] !== node) cardsEl.insertBefore(node, cardsEl.children[index] ?? null);
    });
    for (const [id, view] of cards) {
      if (!seen.has(id)) {
        loads.get(id)?.cancel();
        loads.delete(id);
        view.dispose();
        view.el.remove();
        cards.delete(id);
      }
    }
    for (const [batchId, gallery] of galleries) {
      if (!batches.has(batchId)) {
        gallery.el.remove();
        galleries.delete(batchId);
      }
    }
  }

  /** Announce status changes and each 25% of progress, not every tick. @param {TaskCard} card */
  function announce(card) {
    const key = `${card.status}:${Math.floor(card.progress / 25)}`;
    if (announced.get(card.id) === key) return;
    const first = !announced.has(card.id);
    announced.set(card.id, key);
    if (first && card.status === "completed") return; // restored cards are not news
    announcer.textContent = `${statusLabel(card.status)}: ${Math.round(card.progress)}%`;
  }

  const update = () => {
    controls.update();
    editor.update();
    voices.update();
  };
  const renderVoiceProblems = () => voices.showProblems(model.get("_voice_problems") ?? []);
  const traits = [
    "prompt",
    "negative_prompt",
    "resolution",
    "aspect_ratio",
    "duration",
    "generate_audio",
    "voice_ids",
    "multishot",
    "segments",
    "vary",
    "concurrency",
    "voice_url",
    "voice_name",
    "_voices",
    "_variations",
  ];
  for (const name of traits) model.on(`change:${name}`, update);
  model.on("change:_problems", renderProblems);
  model.on("change:_variations", renderProblems);
  model.on("change:_voice_problems", renderVoiceProblems);
  model.on("change:_mode", renderMode);
  model.on("change:_has_key", renderMode);
  model.on("change:_tasks", renderTasks);
  model.on("change:_credits", renderCredits);
  const ticker = setInterval(() => {
    const now = Date.now();
    for (const view of cards.values()) view.tick(now);
  }, 1000);

  // A view with no kernel behind it (an exported HTML page, a dead kernel) says so: liveness.js.
  const kernel = watchKernel(model, {
    signal: life.signal,
    onChange: () => {
      renderProblems();
      showNotice("");
    },
  });

  update();
  renderProblems();
  renderMode();
  renderTasks();
  renderCredits();
  renderVoiceProblems();

  return () => {
    clearInterval(ticker);
    for (const name of traits) model.off(`change:${name}`, update);
    model.off("change:_problems", renderProblems);
    model.off("change:_variations", renderProblems);
    model.off("change:_voice_problems", renderVoiceProblems);
    model.off("change:_mode", renderMode);
    model.off("change:_has_key", renderMode);
    model.off("change:_tasks", renderTasks);
    model.off("change:_credits", renderCredits);
    controls.dispose();
    editor.dispose();
    voices.dispose();
    for (const view of cards.values()) view.dispose();
    cards.clear();
    life.abort(); // every request's reply handler and timer go with the view
  };
}

/** @type {import("@anywidget/types").Render<Model>} */
function render({ model, el }) {
  return renderStudio({ model, el });
}

export default { render };
