// Entry point: composes the studio for one view of the model. Several views of the same model
// work independently (each keeps its own Blob URLs and listeners) and clean up on removal.

import { CONTROL_FIELDS, createControls, problemsToShow } from "./controls.js";
import { h, listen } from "./dom.js";
import { creditsLine, plural, statusLabel, timeoutText } from "./format.js";
import { createGallery } from "./gallery.js";
import { createHistory, foldedKeys, tileOf } from "./history.js";
import { createKeyEntry } from "./key-entry.js";
import { watchKernel } from "./liveness.js";
import { canStream, openStream } from "./progressive.js";
import { INCOMING, KIND, options, request } from "./protocol.js";
import { createSegmentEditor } from "./segment-editor.js";
import { createTaskCard } from "./task-card.js";
import { mountTeacher } from "./teacher.js";
import { loadVideo, probeEncoding } from "./transport.js";
import { createVoicesPanel } from "./voices.js";

/** @typedef {import("./protocol.js").Model} Model */
/** @typedef {import("./protocol.js").TaskCard} TaskCard */
/** @typedef {import("@anywidget/types").AnyModel<Model>} AnyModel */

/** How long an edited field's problems wait for the kernel's verdict on the new text at most. */
const SETTLE_MS = 1_000;

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
  // One controller per view: every model listener, DOM listener, request and timer of this view
  // ends when it aborts (the view is removed), as anywidget's observe(model, name, {signal}).
  const life = new AbortController();
  const signal = life.signal;
  /**
   * Send a request; a timeout also asks whether the kernel is still there (liveness.js), and a
   * send the host refuses outright (its kernel connection is gone) says the kernel is lost.
   * @param {{kind: string} & Record<string, unknown>} content
   * @param {(reply: any, buffers: DataView[]) => void} onReply
   * @param {(ms: number) => void} onTimeout
   */
  const send = (content, onReply, onTimeout) => {
    const timedOut = (/** @type {number} */ ms) => {
      onTimeout(ms);
      kernel.check();
    };
    try {
      request(model, content, { onReply, onTimeout: timedOut, signal });
    } catch {
      kernel.lose();
      onTimeout(0);
    }
  };

  // The studio's general message: the kernel's refusal of a Generate, and problems that belong
  // to no control (a field the form does not have). A field's problem shows beside its field only.
  const errorBox = h("div", { class: "fk-msg fk-msg-error", "data-fk": "error", role: "alert", hidden: true });
  let refusal = "";
  // One message about the kernel's answers (a timeout, a refusal): replaced, never stacked.
  const notice = h("div", { class: "fk-msg fk-msg-error", "data-fk": "notice", role: "alert", hidden: true });
  /** @param {string} text */
  const showNotice = (text) => {
    const shown = kernel.reason || text; // with no kernel, that is the one thing to say
    notice.textContent = shown;
    notice.hidden = !shown;
  };
  // Generate is turned off with aria-disabled, not `disabled`: it stays focusable, so its reason
  // (title and aria-describedby) reaches the keyboard and the pointer, and a press on it shows
  // every problem at once (the user "tried"). Only while a press waits for the kernel is it
  // `disabled` too: a double click must not start a billed clip twice.
  const reason = h("span", { class: "fk-sr", id: `fk-generate-reason-${nextViewId()}`, "data-fk": "generate-reason" });
  const generate = h("button", {
    type: "button",
    class: "fk-button fk-primary",
    "data-fk": "generate",
    "aria-describedby": reason.id,
    text: "Generate",
  });
  // The form folds to one line (the prompt's start) with Generate still in reach.
  const collapse = h("button", {
    type: "button",
    class: "fk-link",
    "data-fk": "collapse",
    "aria-expanded": "true",
    text: "Fold the form",
  });
  const folded = h("button", { type: "button", class: "fk-folded", "data-fk": "folded", hidden: true });
  const announcer = h("div", { class: "fk-sr", "aria-live": "polite", "data-fk": "announcer" });
  const mode = h("span", { class: "fk-mode", "data-fk": "mode" });
  const creditsEl = h("span", { class: "fk-note", "data-fk": "credits" });
  const cardsEl = h("div", { class: "fk-tasks", "data-fk": "tasks" });

  // Every Generate is billed: a double click must not start the clips (or a batch of 8) twice,
  // so the button stays off until the kernel has answered the first press.
  let starting = false;
  // Which fields the user acted on, and whether Generate was tried: problems show only for those.
  /** @type {Set<string>} */
  const touched = new Set();
  let tried = false;
  /** @param {string[]} fields */
  const touch = (...fields) => {
    const before = touched.size;
    for (const field of fields) touched.add(field);
    if (touched.size !== before) {
      renderProblems();
      renderVoiceProblems();
    }
  };
  // Fields whose text changed: their problems show once the kernel judged the new text (its next
  // `_problems`), or after SETTLE_MS whatever came. Showing them at once would show the verdict on
  // the old text: "The prompt is empty" while the first word is being typed.
  /** @type {Set<string>} */
  const settling = new Set();
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let settleTimer;
  const settle = () => {
    clearTimeout(settleTimer);
    if (!settling.size) return;
    const fields = [...settling];
    settling.clear();
    touch(...fields);
  };
  /** @param {string[]} fields */
  const edited = (...fields) => {
    for (const field of fields) if (!touched.has(field)) settling.add(field);
    clearTimeout(settleTimer);
    if (settling.size) settleTimer = setTimeout(settle, SETTLE_MS);
  };
  signal.addEventListener("abort", () => clearTimeout(settleTimer), { once: true });
  const doGenerate = () => {
    // Edits still on their way (typed, then Ctrl+Enter at once): the problems shown are the old
    // text's. The state goes first on the same comm, so the kernel judges the new text: ask it.
    const unsent = controls.pending() || editor.pending();
    controls.flush();
    editor.flush();
    voices.flush();
    if (starting) return;
    if (!kernel.alive) {
      showNotice("");
      return;
    }
    if (!tried) {
      tried = true;
      renderProblems();
    }
    const stale = unsent && !model.get("_budget")?.refused;
    if (generate.getAttribute("aria-disabled") === "true" && !stale) return;
    starting = true;
    refusal = "";
    renderProblems();
    showNotice("");
    model.save_changes();
    send(
      { kind: KIND.generate },
      (reply) => {
        starting = false;
        // A refusal about a field the form shows is said there (every problem shows now).
        const field = typeof reply.field === "string" ? reply.field : "";
        if (!reply.ok && !(field && hasHome(field))) refusal = String(reply.error ?? "Could not start the generation.");
        // Started: the next clip's form is judged afresh (new shots show no error until touched).
        if (reply.ok) tried = false;
        renderProblems();
      },
      (ms) => {
        // The kernel may still start the clip when it gets to the message: say so.
        starting = false;
        renderProblems();
        showNotice(timeoutText(ms, "Generate", "the clip"));
      },
    );
  };
  const controls = createControls(model, { onGenerateShortcut: doGenerate, touch, edited, signal });
  const editor = createSegmentEditor(model, { touch, edited, signal });
  const voices = createVoicesPanel(model, {
    touch,
    edited,
    signal,
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
    signal,
  );
  generate.addEventListener("click", doGenerate, { signal });
  const setFolded = (/** @type {boolean} */ fold) => {
    collapse.setAttribute("aria-expanded", String(!fold));
    collapse.textContent = fold ? "Show the whole form" : "Fold the form";
    for (const part of [controls.el, voices.el, editor.el]) part.hidden = fold;
    folded.hidden = !fold;
    root.toggleAttribute("data-folded", fold);
    renderFolded();
  };
  collapse.addEventListener("click", () => setFolded(collapse.getAttribute("aria-expanded") === "true"), { signal });
  folded.addEventListener(
    "click",
    () => {
      setFolded(false);
      controls.prompt.focus();
    },
    { signal },
  );

  const root = h(
    "div",
    { class: "fk-root", "data-fk": "root" },
    h(
      "header",
      { class: "fk-row fk-between fk-head" },
      h("strong", { class: "fk-title", text: "Kling V3 video studio" }),
      h("div", { class: "fk-row" }, collapse, mode),
    ),
    folded,
    controls.el,
    voices.el,
    editor.el,
    h(
      "div",
      { class: "fk-row fk-generate" },
      generate,
      h("kbd", { class: "fk-note", text: "Ctrl/⌘+Enter" }),
      reason,
      errorBox,
    ),
    notice,
    creditsEl,
    keyEntry.el,
    cardsEl,
    announcer,
  );
  el.replaceChildren(root);
  mountTeacher(model, creditsEl, signal); // the budget line and classroom mode (teacher.js)

  /** @type {Map<string, ReturnType<typeof createTaskCard>>} */
  const cards = new Map();
  /** @type {Map<string, ReturnType<typeof createGallery>>} */
  const galleries = new Map();
  /** @type {Map<string, string>} */
  const announced = new Map();

  /** @param {string} field */
  const hasHome = (field) =>
    CONTROL_FIELDS.includes(field) ||
    field === "api_key" ||
    field === "multi_prompt" ||
    field.startsWith("multi_prompt[");

  function renderProblems() {
    const problems = model.get("_problems") ?? [];
    const shown = problemsToShow(problems, touched, tried);
    controls.showProblems(shown);
    editor.showProblems(shown);
    keyEntry.showProblems(shown);
    // Each problem is said once: beside its field, or here when no field shows it.
    const homeless = shown.filter((p) => !hasHome(p.field)).map((p) => p.message);
    const general = [...homeless, ...(refusal ? [refusal] : [])];
    errorBox.textContent = general.join(" ");
    errorBox.hidden = !general.length;
    const errors = problems.filter((p) => p.level === "error");
    const count = (model.get("_variations") ?? []).length;
    generate.textContent = count ? `Generate ${plural(count, "variation")}` : "Generate";
    generate.disabled = starting;
    // A budget the controls would pass (teacher.js shows it in the budget line): off too, said
    // there and in Generate's reason, not a third time.
    const overBudget = String(model.get("_budget")?.refused ?? "");
    const off = Boolean(errors.length) || Boolean(overBudget) || starting || !kernel.alive;
    generate.setAttribute("aria-disabled", String(off));
    let why = "";
    if (!kernel.alive) why = kernel.reason;
    else if (starting) why = "Starting: waiting for the kernel's answer.";
    else if (errors.length) {
      const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : "";
      why = `Fix this first: ${errors[0].message}${more}`;
    } else if (overBudget) why = `Over the budget: ${overBudget}`;
    reason.textContent = why;
    generate.title = why || "Generate (Ctrl/⌘+Enter)";
    renderFolded();
  }

  /** The folded form's one line: the prompt's start and the settings. */
  function renderFolded() {
    if (folded.hidden) return;
    const first = String(model.get("prompt") ?? "")
      .trim()
      .split("\n")[0];
    const head = first.length > 70 ? `${first.slice(0, 69)}…` : first;
    const settings = `${model.get("aspect_ratio")} · ${model.get("duration")} s · ${model.get("resolution")}`;
    folded.textContent = `${head || "No prompt yet"} · ${settings}`;
    folded.title = "Show the whole form";
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
        // Progressive playback where this page has Media Source Extensions (progressive.js).
        container: canStream() ? "fmp4" : undefined,
        stream: (mime) => openStream(mime, () => cards.get(id)?.video.currentTime ?? 0),
        onStream: (loaded) => cards.get(id)?.setVideo(loaded),
        onProgress: (received, total) => cards.get(id)?.videoProgress(received, total),
        onDone: (loaded) => {
          loads.delete(id);
          const view = cards.get(id);
          view?.setVideo(loaded);
          if (playOnLoad.delete(id) && view) playQuietly(view.video);
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

  /** A progressive clip's Download: the kernel's original file (the stream is a remuxed copy). @param {string} id */
  const saveOriginal = (id) =>
    loadVideo(model, id, {
      encoding: encoding ?? "base64",
      signal: life.signal,
      onDone: (loaded) => loaded.blob && cards.get(id)?.setDownload(loaded.blob),
      onFail: (message) => cards.get(id)?.videoFailed(message),
    });

  /** @param {string} failed what to say when the kernel answers "no" @returns {(reply: any) => void} */
  const noticeUnlessOk = (failed) => (reply) => showNotice(reply.ok ? "" : String(reply.error ?? failed));
  /** @param {number} ms */
  const noticeTimeout = (ms) => showNotice(timeoutText(ms));

  // The history (history.js): which items are folded, and which item each card belongs to.
  /** @type {Set<string>} */
  let foldedItems = new Set();
  /** @type {Map<string, string>} */
  const itemOf = new Map();
  // Folded cards load their video only once their tile is pressed: a history of fifty clips
  // must not pull fifty videos into the page. Card id -> the `direct` it asked with.
  /** @type {Map<string, boolean>} */
  const deferred = new Map();
  /** Cards whose tile was pressed before their video was here: they play once it is. */
  /** @type {Set<string>} */
  const playOnLoad = new Set();
  /** @param {string} id */
  const outOfSight = (id) => {
    const key = itemOf.get(id) ?? id;
    return foldedItems.has(key) && !history.isOpen(key);
  };
  /** @param {string} id @param {boolean} direct */
  const requestShown = (id, direct) => {
    if (outOfSight(id)) deferred.set(id, direct);
    else requestVideo(id, direct);
  };
  const startDeferred = () => {
    for (const [id, direct] of deferred) {
      if (outOfSight(id)) continue;
      deferred.delete(id);
      requestVideo(id, direct);
    }
  };
  /** A tile was pressed: its card unfolds and plays (a gallery only loads). @param {string} key @param {boolean} open */
  const toggled = (key, open) => {
    const view = cards.get(key); // a lone card's key is its id; a batch's is not a card id
    if (!open) {
      playOnLoad.delete(key);
      return;
    }
    startDeferred();
    if (!view) return;
    if (view.hasVideo()) playQuietly(view.video);
    else playOnLoad.add(key);
  };
  /** What Clear finished did, beside the button and to a screen reader (the note was hidden). @param {string} text */
  const cleared = (text) => {
    history.say(text);
    announcer.textContent = text;
  };
  const history = createHistory(
    {
      toggled,
      clear: () =>
        send(
          { kind: KIND.clearFinished },
          (reply) =>
            cleared(reply.ok ? clearedText(Number(reply.cleared) || 0) : String(reply.error ?? "Nothing was cleared.")),
          (ms) => cleared(timeoutText(ms)),
        ),
    },
    signal,
  );
  cardsEl.after(history.el);

  /** "Edit settings" worked: show where they went (the form, unfolded, its prompt focused). */
  const settingsLoaded = () => {
    if (!folded.hidden) setFolded(false);
    controls.prompt.scrollIntoView({ block: "nearest" });
    controls.prompt.focus({ preventScroll: true });
    announcer.textContent = "Settings of this clip loaded into the form";
  };

  function renderTasks() {
    const list = model.get("_tasks") ?? [];
    const now = Date.now();
    const seen = new Set();
    /** Top-level items, newest first: a lone card, or a batch's gallery (where its first card is). */
    /** @type {{key: string, el: HTMLElement, cards: TaskCard[]}[]} */
    const items = [];
    /** @type {Map<string, {key: string, el: HTMLElement, cards: TaskCard[]}>} */
    const byKey = new Map();
    itemOf.clear();
    for (const card of list) {
      seen.add(card.id);
      const key = card.batch?.id ?? card.id;
      itemOf.set(card.id, key);
      let item = byKey.get(key);
      if (!item) {
        item = { key, el: cardsEl, cards: [] }; // el: its card's or its gallery's, set below
        byKey.set(key, item);
        items.push(item);
      }
      item.cards.push(card);
    }
    // Decided before the cards update: a folded card's first video request waits (requestShown).
    foldedItems = foldedKeys(items, now, options(model).statuses);
    for (const item of items) {
      /** @type {ReturnType<typeof createTaskCard>[]} */
      const views = [];
      for (const card of item.cards) {
        let view = cards.get(card.id);
        if (!view) {
          view = createTaskCard(
            {
              stopWatching: (id) =>
                send(
                  { kind: KIND.stopWatching, task_id: id },
                  noticeUnlessOk(
                    "Not stopped: its submit is still on its way (stopping now could lose a billed task), or it is no longer watched.",
                  ),
                  noticeTimeout,
                ),
              resume: (id) =>
                send(
                  { kind: KIND.resume, task_id: id },
                  noticeUnlessOk("Not resumed: only a task stopped before it finished can be followed again."),
                  noticeTimeout,
                ),
              load: (id) =>
                send(
                  { kind: KIND.loadTask, task_id: id },
                  (reply) => {
                    showNotice(reply.ok ? "" : String(reply.error ?? "That task's settings could not be loaded."));
                    if (reply.ok) settingsLoaded();
                  },
                  noticeTimeout,
                ),
              requestVideo: requestShown,
              save: saveOriginal,
            },
            model,
          );
          cards.set(card.id, view);
        }
        view.update(card, now);
        announce(card);
        views.push(view);
      }
      const batchId = item.cards[0].batch?.id;
      if (!batchId) {
        item.el = views[0].el;
        continue;
      }
      let gallery = galleries.get(batchId);
      if (!gallery) {
        gallery = createGallery(batchId);
        galleries.set(batchId, gallery);
      }
      item.el = gallery.el;
      // Batch order (the order the requests were given), not newest first.
      const ranked = views
        .map((view, i) => ({ view, card: item.cards[i] }))
        .sort((a, b) => (a.card.batch?.index ?? 0) - (b.card.batch?.index ?? 0));
      item.cards = ranked.map((r) => r.card);
      gallery.setMembers(
        ranked.map((r) => r.view),
        item.cards,
        model.get("concurrency") ?? options(model).concurrency.default,
        options(model).statuses,
      );
    }
    // The folding items go under their tiles first: ordered around, the cards after them would
    // be moved, and a moved element loses the keyboard's focus.
    const finished = options(model).statuses.finished;
    history.set(
      items.filter((item) => foldedItems.has(item.key)).map((item) => tileOf(model, item)),
      {
        older: Math.max(0, Number(model.get("_tasks_total") ?? list.length) - list.length),
        clearable: list.some((c) => finished.includes(c.status) && !c.watching),
      },
    );
    // Keep DOM order without recreating nodes (a playing video keeps playing).
    const kept = items.filter((item) => !foldedItems.has(item.key));
    kept.forEach((item, index) => {
      if (cardsEl.children[index] !== item.el) cardsEl.insertBefore(item.el, cardsEl.children[index] ?? null);
    });
    for (const [id, view] of cards) {
      if (!seen.has(id)) {
        loads.get(id)?.cancel();
        loads.delete(id);
        deferred.delete(id);
        playOnLoad.delete(id);
        view.dispose();
        view.el.remove();
        cards.delete(id);
      }
    }
    for (const [batchId, gallery] of galleries) {
      if (!byKey.has(batchId)) {
        gallery.el.remove();
        galleries.delete(batchId);
      }
    }
    startDeferred(); // a card that unfolded (it needs attention again) loads now
  }

  // The cards the view opens with (restored, or shown in another view already) are not news:
  // a studio of old failures would greet a screen reader with one of them.
  let opening = true;
  /** Announce status changes and each 25% of progress, not every tick. @param {TaskCard} card */
  function announce(card) {
    const key = `${card.status}:${Math.floor(card.progress / 25)}`;
    if (announced.get(card.id) === key) return;
    const first = !announced.has(card.id);
    announced.set(card.id, key);
    if (first && (opening || card.status === "completed")) return; // restored cards are not news
    announcer.textContent = `${statusLabel(card.status)}: ${Math.round(card.progress)}%`;
  }

  const update = () => {
    controls.update();
    editor.update();
    voices.update();
    renderFolded();
  };
  function renderVoiceProblems() {
    voices.showProblems(problemsToShow(model.get("_voice_problems") ?? [], touched, false));
  }
  /** The kernel's verdict arrived: fields that were being edited are judged now. */
  const settleAndRender = () => {
    settle();
    renderProblems();
    renderVoiceProblems();
  };

  // Every model listener of this view, in one registry: registered once, removed with `life`.
  /** @type {[string, () => void][]} */
  const registry = [
    ...options(model).controls.map((name) => /** @type {[string, () => void]} */ ([`change:${name}`, update])),
    ["change:_problems", settleAndRender],
    ["change:_variations", renderProblems],
    ["change:_voice_problems", settleAndRender],
    ["change:_mode", renderMode],
    ["change:_has_key", renderMode],
    ["change:_tasks", renderTasks],
    ["change:_posters", renderTasks], // posters come once, apart from the cards (docs/widget-protocol.md)
    ["change:_tasks_total", renderTasks],
    ["change:_voices", renderTasks], // voice names stand where the prompts say <<<voice_N>>>
    ["change:_credits", renderCredits],
    ["change:_budget", renderProblems],
  ];
  for (const [event, handler] of registry) listen(model, event, handler, signal);
  // Progress-only ticks come as one message between the `_tasks` re-sets (every ~5 s): moved on
  // the cards this view shows, in place; ids it does not show are ignored.
  /** @param {any} content */
  const onCustom = (content) => {
    if (!content || content.kind !== INCOMING.cardsProgress || !Array.isArray(content.cards)) return;
    const now = Date.now();
    for (const delta of content.cards) {
      const view = cards.get(String(delta?.id));
      if (!view) continue;
      view.setProgress(delta.progress, delta.status_text, now);
      const shown = view.card();
      if (shown) announce(shown);
    }
  };
  listen(model, "msg:custom", onCustom, signal);
  const ticker = setInterval(() => {
    const now = Date.now();
    for (const view of cards.values()) view.tick(now);
  }, 1000);
  signal.addEventListener("abort", () => clearInterval(ticker), { once: true });

  // A view with no kernel behind it (an exported HTML page, a dead or restarted kernel) says so:
  // liveness.js.
  const kernel = watchKernel(model, {
    signal,
    onChange: () => {
      renderProblems();
      showNotice("");
    },
  });

  update();
  renderProblems();
  renderMode();
  renderTasks();
  opening = false;
  renderCredits();
  renderVoiceProblems();

  return () => {
    for (const view of cards.values()) view.dispose();
    cards.clear();
    life.abort(); // every listener, request, reply handler and timer of the view goes with it
  };
}

/** Play a video the user asked for; a browser that refuses (autoplay rules) leaves its controls. @param {HTMLVideoElement} video */
function playQuietly(video) {
  const started = video.play?.();
  if (started && typeof started.catch === "function") started.catch(() => {});
}

/** What Clear finished did. @param {number} n */
function clearedText(n) {
  return n
    ? `Cleared ${plural(n, "finished generation")} from the studio; the task journal keeps them (foxkling tasks).`
    : "Nothing to clear: no finished generation is shown.";
}

let views = 0;
/** A number unique to each view on the page (element ids must not repeat across views). */
function nextViewId() {
  views += 1;
  return views;
}

/** @type {import("@anywidget/types").Render<Model>} */
function render({ model, el }) {
  return renderStudio({ model, el });
}

export default { render };
