// Video: upload (with progress) -> screen time per person as a table and a timeline chart,
// unknown_N faces with a button to enrol them and re-run, and video search with click-to-play.

import { api, mediaUrl, upload } from "../api.js";
import { apiImg, field, fileInput, fillPeopleList, fmtPct, fmtSeconds, galleryFaces, guarded, h, peopleChanged, progressBar, s, sleep, statusLine, withAppendChoice } from "../ui.js";

export function render(main) {
  const state = { alive: true, file: null, job: null };
  const people = h("datalist", { id: "video-people" });
  const file = fileInput("Video", { accept: "video/*", hint: "MP4, MOV, MKV or WebM. It is processed on the server; the bar shows how far it is." });
  const every = h("input", { type: "number", min: 1, max: 1000, step: 1, value: "", inputmode: "numeric", placeholder: "auto" });
  const bar = progressBar("Upload");
  bar.wrap.hidden = true;
  const status = statusLine();
  const result = h("div", { class: "results" });
  const player = h("video", { controls: true, preload: "metadata", class: "player", hidden: true, "aria-label": "the video" });
  const form = h("form", { class: "card" }, file.wrap, field("Detect faces on every N-th frame", every, "Leave empty to let faceprint choose (faster on long videos)."), h("button", { type: "submit" }, "Find who is on screen"), bar.wrap);

  async function process(blob) {
    bar.wrap.hidden = false;
    bar.set(0, "Uploading…");
    result.replaceChildren();
    const ok = await guarded(result, async () => {
      const body = new FormData();
      body.append("video", blob, blob.name || "video.mp4");
      if (every.value) body.append("every", every.value);
      const accepted = await upload("/v1/videos", body, (f) => bar.set(f, `Uploading: ${Math.round(100 * f)}%`));
      const job = await waitFor(accepted.job.id, bar, state);
      if (!job) return false;
      if (job.status !== "done") throw new Error(`The video job ${job.status}: ${job.error || "no reason given"}`);
      state.job = job;
      result.replaceChildren(...resultView(job, player, { enrol: (name, as) => enrolUnknown(job, name, as) }));
      await loadPlayer(player, `/v1/jobs/${job.id}/video`);
      status.textContent = `Done: ${job.result.people.length} people on screen.`;
      return true;
    });
    if (!ok) status.textContent = "";
  }

  async function enrolUnknown(job, unknown, name) {
    const ok = await guarded(result, async () => {
      // the server enrols the faces it saw of this unknown (no photo needed)
      const path = `/v1/jobs/${job.id}/unknowns/${encodeURIComponent(unknown)}/enrol`;
      const r = await withAppendChoice(name, `the faces of ${unknown}`, galleryFaces, (append) => api(path, { json: { name, append } }));
      if (!r) { status.textContent = `${unknown} was not enrolled. Choose another name to enrol someone new.`; return false; }
      status.textContent = `Enrolled ${unknown} as ${r.name} (${r.added} faces); running the video again…`;
      await fillPeopleList(people);
      peopleChanged();
      return true;
    });
    if (ok && state.file) await process(state.file);
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    state.file = file.input.files[0] || null;
    if (!state.file) { status.textContent = "Choose a video first."; return; }
    process(state.file);
  });

  main.append(h("h1", {}, "Who is on screen, and for how long?"),
    h("p", { class: "lead" }, "Faces in the video are matched against the gallery; people not in it are grouped as unknown_1, unknown_2, … which you can name here."),
    people, form, status, result, player, searchPanel(player));
  guarded(null, () => fillPeopleList(people));
  return () => { state.alive = false; };
}

async function waitFor(id, bar, state) {
  bar.set(null, "Processing…");
  for (;;) {
    if (!state.alive) return null;
    const job = await api(`/v1/jobs/${id}`);
    if (["done", "failed", "cancelled"].includes(job.status)) {
      bar.set(1, `Processing: ${job.status}`);
      return job;
    }
    bar.set(job.progress || 0, `Processing: ${Math.round(100 * (job.progress || 0))}% (${job.status})`);
    await sleep(500);
  }
}

async function loadPlayer(player, path) {
  player.src = await mediaUrl(path);
  player.hidden = false;
}

function playFrom(player, seconds) {
  player.hidden = false;
  const go = () => { player.currentTime = seconds; player.play().catch(() => {}); };
  if (player.readyState >= 1) go();
  else player.addEventListener("loadedmetadata", go, { once: true });
  player.scrollIntoView({ block: "nearest" });
}

function durationOf(result) {
  const ends = result.people.flatMap((p) => p.segments.map((sg) => sg[1]));
  return Number(result.duration) || Math.max(1, ...ends);
}

function resultView(job, player, { enrol }) {
  const res = job.result;
  const people = [...res.people].sort((a, b) => b.seconds - a.seconds);
  const table = h("table", { class: "grid" },
    h("caption", {}, "Screen time"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Person"), h("th", { scope: "col" }, "On screen"), h("th", { scope: "col" }, "Share"), h("th", { scope: "col" }, "Appearances"))),
    h("tbody", {}, people.map((p) => h("tr", {},
      h("td", {}, p.name), h("td", {}, fmtSeconds(p.seconds)), h("td", {}, fmtPct(p.share)),
      h("td", {}, h("ul", { class: "inline" }, p.segments.map(([a, b]) => h("li", {},
        h("button", { type: "button", class: "link", "aria-label": `Play ${p.name} from ${fmtSeconds(a)}`, onclick: () => playFrom(player, a) }, `${fmtSeconds(a)}–${fmtSeconds(b)}`)))))))));
  const unknowns = people.filter((p) => p.known === false || (p.known === undefined && /^unknown_\d+$/.test(p.name)));
  const enrolable = new Set(res.enrolable || []);
  const parts = [
    h("section", { "aria-label": "timeline" }, h("h2", {}, "Timeline"), timeline(people, durationOf(res), player)),
    h("div", { class: "table-wrap" }, table),
  ];
  if (unknowns.length) {
    parts.push(h("section", { class: "card" }, h("h2", {}, "People not in the gallery"),
      h("ul", { class: "unknowns" }, unknowns.map((p) => unknownCard(job, p, enrol, enrolable.has(p.name))))));
  }
  return parts;
}

function unknownCard(job, person, enrol, enrolable) {
  const face = apiImg(`/v1/jobs/${job.id}/unknowns/${encodeURIComponent(person.name)}.jpg`, person.name, "thumb large");
  const line = h("p", {}, `${person.name}: ${fmtSeconds(person.seconds)}`);
  if (!enrolable) {
    return h("li", { class: "small-faces" }, face, line,
      h("p", { class: "hint" }, "Too small in this video to be recognised reliably. To have them named, enrol them from a photo on the People page."));
  }
  const name = h("input", { type: "text", list: "video-people", autocomplete: "off", required: true });
  const form = h("form", {}, face, line,
    field(`Who is ${person.name}?`, name), h("button", { type: "submit" }, "Enrol and re-run"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (name.value.trim()) enrol(person.name, name.value.trim());
  });
  return h("li", {}, form);
}

/** An SVG chart: one row per person, a bar per segment, seconds along the x axis. */
function timeline(people, duration, player) {
  const rowH = 28;
  const left = 150;
  const width = 900;
  const plot = width - left - 30;
  const height = people.length * rowH + 30;
  const x = (t) => left + (plot * t) / duration;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "timeline", role: "img", "aria-label": `Timeline of ${people.length} people over ${fmtSeconds(duration)}` });
  people.forEach((p, row) => {
    const y = row * rowH + 4;
    // a long name is shortened to fit its column; the full name is the label's tooltip
    const shown = p.name.length > 18 ? `${p.name.slice(0, 17)}…` : p.name;
    svg.append(s("text", { x: left - 8, y: y + rowH / 2 + 1, class: "row-label", "text-anchor": "end" }, s("title", {}, p.name), shown));
    svg.append(s("rect", { x: left, y, width: plot, height: rowH - 8, class: "track" }));
    for (const [a, b] of p.segments) {
      const bar = s("rect", { x: x(a), y, width: Math.max(2, x(b) - x(a)), height: rowH - 8, class: `bar c${row % 8}` },
        s("title", {}, `${p.name}: ${fmtSeconds(a)}–${fmtSeconds(b)} (click to play)`));
      bar.addEventListener("click", () => playFrom(player, a));
      svg.append(bar);
    }
  });
  const ticks = niceTicks(duration);
  for (const t of ticks) {
    svg.append(s("line", { x1: x(t), x2: x(t), y1: people.length * rowH, y2: people.length * rowH + 6, class: "tick" }));
    svg.append(s("text", { x: x(t), y: people.length * rowH + 20, "text-anchor": "middle", class: "tick-label" }, fmtSeconds(t)));
  }
  return svg;
}

function niceTicks(duration) {
  const steps = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600];
  const step = steps.find((st) => duration / st <= 10) || 7200;
  const out = [];
  for (let t = 0; t <= duration + 1e-9; t += step) out.push(t);
  return out;
}

function searchPanel(player) {
  const name = h("input", { type: "text", list: "video-people", autocomplete: "off" });
  const form = h("form", { class: "row" }, field("Person", name), h("button", { type: "submit" }, "Search the videos"));
  const list = h("ul", { class: "ranges", "aria-live": "polite" });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const who = name.value.trim();
    if (!who) return;
    guarded(list, async () => {
      const data = await api(`/v1/videos/find?name=${encodeURIComponent(who)}`);
      list.replaceChildren(...data.ranges.map((r) => h("li", {},
        h("button", { type: "button", class: "link", onclick: () => guarded(null, async () => {
          await loadPlayer(player, `/v1/jobs/${encodeURIComponent(r.job)}/video`);
          playFrom(player, r.start);
        }) }, `${r.video}: ${fmtSeconds(r.start)}–${fmtSeconds(r.end)}`),
        r.names && r.names.length > 1 ? h("span", { class: "hint" }, ` with ${r.names.filter((n) => n !== who).join(", ")}`) : null)));
      if (!data.ranges.length) list.append(h("li", {}, `${who} is in none of the processed videos.`));
    });
  });
  return h("section", { class: "card", "aria-label": "video search" }, h("h2", {}, "Search the processed videos"), form, list);
}
