// Photo library for a real library (tens of thousands of faces): scan status; everyone as a grid
// of one face each, largest first, searchable and a page at a time; a group's page with all its
// faces, naming, hiding, "is this the same person?" suggestions, merge and "not them" (each
// confirmed, each undoable); faces in no group, browsable and nameable; a person's photos.

import { api, mediaUrl } from "../api.js";
import { apiImg, field, guarded, h, peopleChanged, progressBar, sleep, statusLine, withAppendChoice } from "../ui.js";

const PAGE = 48;
const FACES = 60;

export function render(main) {
  const state = { alive: true, offset: 0, query: "", hidden: false, open: null, faceOffset: 0, freeOffset: 0 };
  const names = h("datalist", { id: "library-people" });
  const status = statusLine();
  const undo = h("div", { class: "undo", "aria-live": "polite" });
  const scan = scanPanel(state, () => refreshAll());
  const grid = h("ul", { class: "people-grid", "aria-label": "people and groups" });
  const pager = h("div", { class: "row pager" });
  const search = h("input", { type: "search", autocomplete: "off", list: "library-people" });
  const showHidden = h("input", { type: "checkbox" });
  const detail = h("section", { class: "card group", hidden: true, "aria-label": "a group of faces" });
  const free = h("section", { class: "card", "aria-label": "faces in no group" });
  const finder = findPanel();

  function say(text, undoFn) {
    status.textContent = text;
    undo.replaceChildren();
    if (undoFn) {
      undo.append(h("button", { type: "button", onclick: () => guarded(undo, async () => {
        await undoFn();
        undo.replaceChildren();
        await refreshAll();
      }) }, "Undo"));
    }
  }

  async function loadGrid() {
    await guarded(grid, async () => {
      const q = encodeURIComponent(state.query);
      const data = await api(`/v1/library/people?limit=${PAGE}&offset=${state.offset}&q=${q}&hidden=${state.hidden}`);
      grid.replaceChildren(...data.clusters.map((c) => h("li", {},
        h("button", { type: "button", class: "person-card", dataset: { cluster: c.id }, onclick: () => openGroup(c.id, 0) },
          apiImg(c.cover_url, "", "thumb large"),
          h("span", { class: "name" }, c.name || "Unnamed"),
          h("span", { class: "count" }, `${c.size} face${c.size === 1 ? "" : "s"}`)))));
      if (!data.clusters.length) {
        grid.append(h("li", { class: "empty" }, state.query ? `Nobody called “${state.query}”.` : state.hidden ? "No hidden groups." : "No groups yet: scan the library first."));
      }
      pageButtons(pager, data.total, state.offset, PAGE, "people", (at) => { state.offset = at; loadGrid(); });
      performance.mark("fp-library-grid"); // the browser test reads how long the grid took
    });
  }

  async function openGroup(id, offset) {
    state.open = id;
    state.faceOffset = offset;
    await guarded(detail, async () => {
      const [data, near] = await Promise.all([
        api(`/v1/library/clusters/${id}/faces?limit=${FACES}&offset=${offset}`),
        api(`/v1/library/clusters/${id}/suggestions?k=4`),
      ]);
      detail.replaceChildren(...groupView(data, near.suggestions, actions));
      detail.hidden = false;
      detail.querySelector("h2").focus();
      performance.mark("fp-library-group");
    });
  }

  async function loadFree() {
    await guarded(free, async () => {
      const data = await api(`/v1/library/unclustered?limit=${FACES}&offset=${state.freeOffset}`);
      free.replaceChildren(...freeView(data, actions, (at) => { state.freeOffset = at; loadFree(); }));
    });
  }

  async function refreshAll() {
    names.dataset.filled = ""; // refilled when a name field is next used
    await Promise.all([loadGrid(), loadFree(), scan.refresh()]);
    if (state.open !== null) {
      try {
        await api(`/v1/library/clusters/${state.open}/faces?limit=1`);
        await openGroup(state.open, state.faceOffset);
      } catch {
        state.open = null;
        detail.hidden = true;
      }
    }
  }

  const actions = {
    close() { state.open = null; detail.hidden = true; grid.querySelector("button")?.focus(); },
    page(id, at) { return openGroup(id, at); },
    async label(card, name) {
      const r = await withAppendChoice(name, "these faces", libraryFaces, (append) =>
        api(`/v1/library/clusters/${card.id}/label`, { json: { name, append } }));
      if (!r) { say(`Nothing was added to ${name}.`); return; }
      state.open = r.id;
      say(`These ${card.size} faces are now ${r.name}.`);
      peopleChanged();
      await refreshAll();
    },
    async hide(card) {
      const r = await api(`/v1/library/clusters/${card.id}/hide`, { json: { hidden: !card.hidden } });
      say(r.hidden ? `Hid ${card.name || "this group"}.` : `${card.name || "This group"} is shown again.`,
        () => api(`/v1/library/clusters/${card.id}/hide`, { json: { hidden: card.hidden } }));
      if (r.hidden) { state.open = null; detail.hidden = true; }
      await refreshAll();
    },
    async merge(card, other) {
      const what = `${other.name || "the unnamed group"} (${other.size} faces)`;
      if (!window.confirm(`Merge ${what} into ${card.name || "this group"}? They become one person. You can undo it right after.`)) return;
      const r = await api("/v1/library/clusters/merge", { json: { into: card.id, other: other.id } });
      state.open = r.id;
      say(`Merged ${what} into ${r.name || "this group"}.`, () => api("/v1/library/split", { json: { faces: r.moved } }));
      await refreshAll();
    },
    async reject(card, face) {
      if (!window.confirm(`Take this face out of ${card.name || "this group"}? It will not be put back automatically.`)) return;
      await api(`/v1/library/faces/${face.id}/reject`, { method: "POST" });
      say(`Took a face out of ${card.name || "this group"}.`,
        () => api(`/v1/library/faces/${face.id}/restore`, { json: { cluster: card.id } }));
      await refreshAll();
    },
    async labelFace(face, name) {
      const r = await withAppendChoice(name, "this face", libraryFaces, (append) =>
        api(`/v1/library/faces/${face.id}/label`, { json: { name, append } }));
      if (!r) { say(`Nothing was added to ${name}.`); return; }
      say(`The face is now ${r.name}.`);
      peopleChanged();
      await refreshAll();
    },
  };

  // the names for autocompletion (thousands) load when a name field is first used, not with the page
  main.addEventListener("focusin", (e) => {
    if (e.target.getAttribute?.("list") !== "library-people" || names.dataset.filled) return;
    names.dataset.filled = "yes";
    guarded(null, () => fillNames(names));
  });
  let typing = null;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.query = search.value.trim(); state.offset = 0; loadGrid(); }, 250);
  });
  showHidden.addEventListener("change", () => { state.hidden = showHidden.checked; state.offset = 0; loadGrid(); });
  main.append(h("h1", {}, "Photo library"), names, scan.wrap, status, undo,
    h("section", { "aria-label": "everyone" },
      h("h2", {}, "People and groups, largest first"),
      h("div", { class: "row wrap" }, field("Search by name", search),
        h("label", { class: "check" }, showHidden, " Show hidden groups")),
      grid, pager),
    detail, free, finder.wrap);
  refreshAll();
  return () => { state.alive = false; clearTimeout(typing); finder.close(); };
}

/** Faces of the library's person called exactly `name` (shown or hidden), or null. */
async function libraryFaces(name) {
  for (const hidden of [false, true]) {
    const data = await api(`/v1/library/people?q=${encodeURIComponent(name)}&limit=50&hidden=${hidden}`);
    const card = data.clusters.find((c) => c.name === name);
    if (card) {
      const found = await api(`/v1/library/clusters/${card.id}/faces?limit=12`);
      return found.faces.map((f) => f.thumbnail_url);
    }
  }
  return null;
}

/** Previous / next buttons and "1–48 of 10,000" for a paged list. */
function pageButtons(box, total, offset, size, what, go) {
  const end = Math.min(total, offset + size);
  box.replaceChildren(
    h("button", { type: "button", disabled: offset === 0, onclick: () => go(Math.max(0, offset - size)) }, "Previous"),
    h("span", { class: "hint", role: "status" }, total ? `${offset + 1}–${end} of ${total.toLocaleString("en")} ${what}` : ""),
    h("button", { type: "button", disabled: end >= total, onclick: () => go(offset + size) }, "Next"));
  box.hidden = total <= size;
}

/** Autocomplete: the library's named people and the server gallery's people. */
async function fillNames(datalist) {
  const [status, gallery] = await Promise.all([api("/v1/library/status"), api("/v1/people?limit=1000")]);
  const all = new Set([...(status.people || []), ...gallery.people.map((p) => p.name)]);
  datalist.replaceChildren(...[...all].sort().slice(0, 2000).map((n) => h("option", { value: n })));
}

function groupView(data, near, actions) {
  const card = data.cluster;
  const title = card.name || "Unnamed group";
  const name = h("input", { type: "text", list: "library-people", autocomplete: "off", value: card.name || "", required: true });
  const labelForm = h("form", { class: "row" }, field(card.name ? "Name" : "Who is this?", name), h("button", { type: "submit" }, card.name ? "Save" : "Name them"));
  labelForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const who = name.value.trim();
    if (who && who !== card.name) guarded(labelForm, () => actions.label(card, who));
  });
  if (card.name) labelForm.hidden = true; // renaming a person is done on the People page
  const faces = h("ul", { class: "face-grid" }, data.faces.map((f) => h("li", {},
    apiImg(f.thumbnail_url, `a face of ${title}`, "thumb large"),
    h("button", { type: "button", class: "small quiet", "aria-label": `Not them (face ${f.id} of ${title})`,
      onclick: (e) => guarded(e.target, () => actions.reject(card, f)) }, "Not them"))));
  const pager = h("div", { class: "row pager" });
  pageButtons(pager, card.size, data.offset, FACES, "faces", (at) => actions.page(card.id, at));
  const suggestions = near.length ? h("section", { "aria-label": "maybe the same person" },
    h("h3", {}, `Is this the same person as ${title}?`),
    h("ul", { class: "suggestions" }, near.map((o) => h("li", {},
      apiImg(o.cover_url, "", "thumb large"),
      h("span", {}, `${o.name || "Unnamed"} · ${o.size} face${o.size === 1 ? "" : "s"}`),
      h("button", { type: "button", onclick: (e) => guarded(e.target, () => actions.merge(card, o)) }, "Same person: merge"))))) : null;
  return [
    h("div", { class: "row wrap" }, h("h2", { tabindex: -1 }, `${title} `, h("span", { class: "count" }, `${card.size} face${card.size === 1 ? "" : "s"}`)),
      h("button", { type: "button", class: "quiet", onclick: actions.close }, "Back to everyone")),
    labelForm,
    faces, pager,
    suggestions,
    h("p", {}, h("button", { type: "button", class: "quiet", onclick: (e) => guarded(e.target, () => actions.hide(card)) }, card.hidden ? "Show this group again" : "Hide this group")),
  ].filter(Boolean);
}

function freeView(data, actions, go) {
  const heading = h("h2", {}, "Faces in no group");
  if (!data.total) return [heading, h("p", {}, "Every face is in a group.")];
  const name = h("input", { type: "text", list: "library-people", autocomplete: "off", required: true });
  const chosen = h("p", { class: "hint" }, "Choose a face to name it.");
  let pick = null;
  const form = h("form", { class: "row", hidden: true }, field("Who is this?", name), h("button", { type: "submit" }, "Name this face"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const who = name.value.trim();
    if (who && pick) guarded(form, () => actions.labelFace(pick, who));
  });
  const grid = h("ul", { class: "face-grid" }, data.faces.map((f) => h("li", {},
    h("button", { type: "button", class: "face-pick", "aria-label": `Name face ${f.id}`, onclick: (e) => {
      pick = f;
      for (const b of grid.querySelectorAll(".face-pick")) b.setAttribute("aria-pressed", String(b === e.currentTarget));
      chosen.textContent = `Face ${f.id} (${f.path.split("/").pop()}) is chosen.`;
      form.hidden = false;
      name.focus();
    } }, apiImg(f.thumbnail_url, "", "thumb large")))));
  const pager = h("div", { class: "row pager" });
  pageButtons(pager, data.total, data.offset, FACES, "faces", go);
  return [heading, h("p", {}, `${data.total.toLocaleString("en")} faces are in no group: too small or blurred to group, or unlike any other. Name the ones you know.`), grid, pager, chosen, form];
}

function scanPanel(state, onDone) {
  const facts = h("dl", { class: "facts" });
  const bar = progressBar("Scan");
  bar.wrap.hidden = true;
  const start = h("button", { type: "button" }, "Scan for new photos");
  const wrap = h("section", { class: "card", "aria-label": "library status" }, h("h2", {}, "Library"), facts, bar.wrap, start);

  function show(st) {
    const pairs = [["Folder", st.root], ["Photos", st.photos], ["Faces", st.faces], ["Groups", st.clusters], ["Named faces", st.named], ["Faces in no group", st.unclustered]];
    facts.replaceChildren(...pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, typeof v === "number" ? v.toLocaleString("en") : String(v ?? "–"))]));
    const sc = st.scan || {};
    // no scan from this server yet (the library may have been scanned with the CLI): no bar
    bar.wrap.hidden = !sc.job;
    if (sc.job) {
      const words = sc.running ? `Scanning: ${sc.done} of ${sc.total ?? "?"} photos` : `Last scan: ${sc.done ?? 0} photos${sc.errors ? `, ${sc.errors} errors` : ""}`;
      bar.set(sc.total ? sc.done / sc.total : sc.running ? null : 1, words);
    }
    start.disabled = Boolean(sc.running);
  }

  async function refresh() {
    return guarded(null, async () => {
      let st = await api("/v1/library/status");
      show(st);
      const wasRunning = st.scan?.running;
      while (st.scan?.running && state.alive) {
        await sleep(1000);
        st = await api("/v1/library/status");
        show(st);
      }
      if (wasRunning && state.alive) onDone();
    });
  }
  start.addEventListener("click", () => guarded(start, async () => {
    await api("/v1/library/scan", { method: "POST" });
    await refresh();
  }));
  return { wrap, refresh };
}

// --- a person's photos and the slideshow ------------------------------------------------------

function findPanel() {
  const name = h("input", { type: "text", list: "library-people", autocomplete: "off" });
  const form = h("form", { class: "row" }, field("Whose photos?", name), h("button", { type: "submit" }, "Show their photos"));
  const grid = h("ul", { class: "photo-grid", "aria-live": "polite" });
  const play = h("button", { type: "button", hidden: true }, "Slideshow");
  const show = slideshow();
  let photos = [];

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const who = name.value.trim();
    if (!who) return;
    guarded(grid, async () => {
      const data = await api(`/v1/library/find?name=${encodeURIComponent(who)}`);
      photos = data.photos;
      grid.replaceChildren(...photos.map((p, i) => h("li", {},
        h("button", { type: "button", class: "photo", "aria-label": `Open photo ${i + 1} of ${photos.length}: ${p.taken || p.path}`, onclick: () => show.open(photos, i) },
          apiImg(`/v1/library/photos/${p.id}?max_side=320`, "", "photo-thumb")),
        h("span", { class: "hint" }, p.taken ? p.taken.slice(0, 10) : "date unknown"))));
      if (!photos.length) grid.append(h("li", {}, `No photos of ${who}.`));
      play.hidden = !photos.length;
    });
  });
  play.addEventListener("click", () => show.open(photos, 0, true));
  const wrap = h("section", { class: "card", "aria-label": "photos of a person" },
    h("h2", {}, "A person's photos, oldest first"), form, play, grid, show.dialog);
  return { wrap, close: show.close };
}

function slideshow() {
  const img = h("img", { alt: "", class: "slide" });
  const caption = h("p", { class: "caption", "aria-live": "polite" });
  const prev = h("button", { type: "button" }, "Previous");
  const next = h("button", { type: "button" }, "Next");
  const toggle = h("button", { type: "button" }, "Play");
  const close = h("button", { type: "button" }, "Close");
  const dialog = h("dialog", { class: "slideshow", "aria-label": "slideshow" }, img, caption, h("div", { class: "row" }, prev, toggle, next, close));
  let photos = [];
  let at = 0;
  let timer = null;

  async function showAt(i) {
    at = (i + photos.length) % photos.length;
    const p = photos[at];
    caption.textContent = `${at + 1} / ${photos.length} · ${p.taken || "date unknown"} · ${p.path}`;
    img.alt = `photo ${at + 1} of ${photos.length}`;
    await guarded(null, async () => { img.src = await mediaUrl(`/v1/library/photos/${p.id}?max_side=1600`); });
  }
  function setPlaying(on) {
    clearInterval(timer);
    timer = on ? setInterval(() => showAt(at + 1), 3000) : null;
    toggle.textContent = on ? "Pause" : "Play";
  }
  prev.addEventListener("click", () => showAt(at - 1));
  next.addEventListener("click", () => showAt(at + 1));
  toggle.addEventListener("click", () => setPlaying(!timer));
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => setPlaying(false));
  dialog.addEventListener("keydown", (e) => {
    if (e.key === "ArrowLeft") showAt(at - 1);
    if (e.key === "ArrowRight") showAt(at + 1);
  });
  return {
    dialog,
    open(list, i, autoplay = false) {
      photos = list;
      dialog.showModal();
      showAt(i);
      setPlaying(autoplay);
      next.focus();
    },
    close() { setPlaying(false); if (dialog.open) dialog.close(); },
  };
}
