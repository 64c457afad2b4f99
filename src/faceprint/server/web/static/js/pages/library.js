// Photo library: scan status with progress, face clusters largest first (label with a name,
// merge two, "not this person"), and a person's photos oldest first with a slideshow.

import { api, mediaUrl } from "../api.js";
import { apiImg, field, guarded, h, progressBar, sleep, statusLine, withAppendChoice } from "../ui.js";

const PAGE = 24;

export function render(main) {
  const state = { alive: true, offset: 0 };
  const people = h("datalist", { id: "library-people" });
  const status = statusLine();
  const scan = scanPanel(state, () => loadClusters(true));
  const clusters = h("div", { class: "clusters", "aria-live": "polite" });
  const more = h("button", { type: "button", hidden: true }, "Show more clusters");
  const finder = findPanel();

  async function loadClusters(reset) {
    if (reset) { state.offset = 0; clusters.replaceChildren(); }
    await guarded(clusters, async () => {
      const data = await api(`/v1/library/clusters?limit=${PAGE}&offset=${state.offset}`);
      state.offset += data.clusters.length;
      const all = data.clusters;
      state.known = reset ? all : [...(state.known || []), ...all];
      clusters.append(...all.map((c) => clusterView(c, state.known, actions)));
      more.hidden = all.length < PAGE;
      if (!clusters.childElementCount) clusters.append(h("p", {}, "No clusters yet: scan the library first."));
      status.textContent = data.unclustered ? `${data.unclustered} faces are not in any cluster yet.` : "";
    });
  }

  const actions = {
    async label(cluster, name) {
      const path = `/v1/library/clusters/${cluster.id}/label`;
      const r = await withAppendChoice(name, "these faces", (append) => api(path, { json: { name, append } }));
      if (!r) { status.textContent = `Nothing was added to ${name}.`; return; }
      status.textContent = `Cluster ${cluster.id} is now ${name}.`;
      await Promise.all([loadClusters(true), fillNames(people), scan.refresh()]);
    },
    async merge(cluster, other) {
      await api("/v1/library/clusters/merge", { json: { into: cluster.id, other } });
      status.textContent = `Merged cluster ${other} into ${cluster.id}.`;
      await Promise.all([loadClusters(true), scan.refresh()]);
    },
    async reject(face, node) {
      await api(`/v1/library/faces/${face.id}/reject`, { method: "POST" });
      node.remove();
      status.textContent = `Face ${face.id} removed from its cluster.`;
    },
  };

  more.addEventListener("click", () => loadClusters(false));
  main.append(h("h1", {}, "Photo library"), people, scan.wrap, status,
    h("h2", {}, "Faces, grouped by person (largest groups first)"), clusters, more, finder.wrap);
  guarded(null, () => fillNames(people));
  scan.refresh();
  loadClusters(true);
  return () => { state.alive = false; finder.close(); };
}

/** Autocomplete: the library's named people and the server gallery's people. */
async function fillNames(datalist) {
  const [status, gallery] = await Promise.all([api("/v1/library/status"), api("/v1/people")]);
  const names = new Set([...(status.people || []), ...gallery.people.map((p) => p.name)]);
  datalist.replaceChildren(...[...names].sort().map((n) => h("option", { value: n })));
}

function scanPanel(state, onDone) {
  const facts = h("dl", { class: "facts" });
  const bar = progressBar("Scan");
  bar.wrap.hidden = true;
  const start = h("button", { type: "button" }, "Scan for new photos");
  const wrap = h("section", { class: "card", "aria-label": "library status" }, h("h2", {}, "Library"), facts, bar.wrap, start);

  function show(st) {
    const pairs = [["Folder", st.root], ["Photos", st.photos], ["Faces", st.faces], ["Clusters", st.clusters], ["Named faces", st.named], ["Faces not in a cluster", st.unclustered]];
    facts.replaceChildren(...pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v ?? "–"))]));
    const sc = st.scan || {};
    bar.wrap.hidden = !sc.running && !sc.total;
    const words = sc.running ? `Scanning: ${sc.done} of ${sc.total ?? "?"} photos` : `Last scan: ${sc.done ?? 0} photos${sc.errors ? `, ${sc.errors} errors` : ""}`;
    bar.set(sc.total ? sc.done / sc.total : sc.running ? null : 1, words);
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

function clusterView(cluster, known, actions) {
  const title = cluster.name || "Unnamed";
  const heading = h("h3", {}, `${title} `, h("span", { class: "count" }, `${cluster.size} face${cluster.size === 1 ? "" : "s"} · cluster ${cluster.id}`));
  const faces = h("ul", { class: "face-grid" }, cluster.faces.map((f) => {
    const li = h("li", {}, apiImg(f.thumbnail_url, `face ${f.id} in ${title}`, "thumb large"));
    li.append(h("button", { type: "button", class: "small quiet", "aria-label": `Not this person: face ${f.id}`, title: "Not this person",
      onclick: (e) => guarded(e.target, () => actions.reject(f, li)) }, "Not them"));
    return li;
  }));
  const name = h("input", { type: "text", list: "library-people", autocomplete: "off", value: cluster.name || "" });
  const labelForm = h("form", { class: "row" }, field(`Name for cluster ${cluster.id}`, name), h("button", { type: "submit" }, "Label"));
  labelForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const who = name.value.trim();
    if (who) guarded(labelForm, () => actions.label(cluster, who));
  });
  const others = known.filter((c) => c.id !== cluster.id);
  const other = h("select", {}, h("option", { value: "" }, "choose a cluster"),
    others.map((c) => h("option", { value: c.id }, `${c.name || "Unnamed"} · cluster ${c.id} · ${c.size} faces`)));
  const mergeForm = h("form", { class: "row" }, field(`Merge into cluster ${cluster.id}`, other), h("button", { type: "submit" }, "Merge"));
  mergeForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const id = Number(other.value);
    if (id) guarded(mergeForm, () => actions.merge(cluster, id));
  });
  const shown = cluster.faces.length < cluster.size ? h("p", { class: "hint" }, `Showing ${cluster.faces.length} of ${cluster.size}.`) : null;
  return h("section", { class: cluster.name ? "card cluster named" : "card cluster", dataset: { cluster: cluster.id } },
    heading, faces, shown, h("div", { class: "row wrap" }, labelForm, mergeForm));
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
        h("span", { class: "hint" }, (p.taken || "date unknown").slice(0, 10)))));
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
