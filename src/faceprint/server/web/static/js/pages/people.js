// People: the gallery's identities with thumbnails and template counts; enrol (several photos,
// picking the face where a photo has several), rename, delete, and a person's templates.

import { api } from "../api.js";
import { apiImg, askAppend, faceStage, field, fileInput, findPerson, galleryFaces, guarded, h, peopleChanged, personPath, statusLine, uploadable } from "../ui.js";

export function render(main) {
  const list = h("div", { class: "people", "aria-live": "polite" });
  const detail = h("section", { class: "card person", hidden: true, "aria-label": "person" });
  const status = statusLine();
  const enrol = enrolForm(status, refresh);

  const shown = { offset: 0, query: "", asked: 0 };
  const search = h("input", { type: "search", autocomplete: "off" });
  const pager = h("div", { class: "row pager" });
  let typing = null;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { shown.query = search.value.trim(); shown.offset = 0; load(); }, 200);
  });

  /** One page of the people from the server (a 10,000-person gallery sends 50 rows). */
  function showList(data) {
    const total = data.total;
    if (!data.people.length && total && shown.offset > 0) {
      shown.offset = Math.max(0, Math.floor((total - 1) / PEOPLE_PAGE) * PEOPLE_PAGE);
      return load(); // the last page emptied (a deletion): show the page before it
    }
    list.replaceChildren(peopleTable(data.people, total, openPerson, shown.query));
    const end = Math.min(total, shown.offset + data.people.length);
    const go = (offset) => { shown.offset = offset; load(); };
    pager.replaceChildren(
      h("button", { type: "button", disabled: shown.offset === 0, onclick: () => go(Math.max(0, shown.offset - PEOPLE_PAGE)) }, "Previous"),
      h("span", { class: "hint", role: "status" }, total ? `${shown.offset + 1}–${end} of ${total.toLocaleString("en")}` : ""),
      h("button", { type: "button", disabled: end >= total, onclick: () => go(shown.offset + PEOPLE_PAGE) }, "Next"));
    pager.hidden = total <= PEOPLE_PAGE && shown.offset === 0;
  }

  /** Ask the server for the current page; an answer to an older question is dropped. */
  async function load() {
    const asked = ++shown.asked;
    const params = new URLSearchParams({ limit: String(PEOPLE_PAGE), offset: String(shown.offset) });
    if (shown.query) params.set("q", shown.query);
    await guarded(list, async () => {
      const data = await api(`/v1/people?${params}`);
      if (asked === shown.asked) await showList(data);
    });
  }

  async function refresh() {
    await load();
    peopleChanged();
  }

  async function openPerson(id) {
    await guarded(detail, async () => {
      const person = await api(`/v1/people/${id}`);
      detail.replaceChildren(...personView(person, status, async (next) => {
        await refresh();
        if (next) await openPerson(next);
        else detail.hidden = true;
      }));
      detail.hidden = false;
      detail.querySelector("h2").focus();
    });
  }

  main.append(h("h1", {}, "People"),
    h("p", { class: "lead" }, "Everyone the gallery knows. Enrol a person from one or more photos; more photos of different angles and ages make recognition more reliable."),
    h("div", { class: "columns" },
      h("section", { "aria-label": "enrolled people" }, h("h2", {}, "Enrolled"), field("Search by name", search), list, pager),
      h("div", {}, enrol, status, detail)));
  refresh();
  return () => clearTimeout(typing);
}

const PEOPLE_PAGE = 50;

function peopleTable(people, total, open, query) {
  if (!people.length) return h("p", {}, query ? `Nobody's name contains “${query}”.` : "Nobody is enrolled yet.");
  return h("table", { class: "grid" },
    h("caption", {}, `${total.toLocaleString("en")} ${total === 1 ? "person" : "people"}`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Photo"), h("th", { scope: "col" }, "Name"),
      h("th", { scope: "col" }, "Templates"), h("th", { scope: "col" }, "Enrolled"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
    h("tbody", {}, people.map((p) => h("tr", { dataset: { name: p.name } },
      h("td", {}, apiImg(p.thumbnail_url, p.name)),
      h("td", { class: "name" }, p.name),
      h("td", {}, String(p.templates)),
      h("td", { class: "nowrap" }, (p.created_at || "").slice(0, 10)),
      h("td", {}, h("button", { type: "button", "aria-label": `Open ${p.name}`, onclick: () => open(p.id) }, "Open"))))));
}

function personView(person, status, changed) {
  const name = person.name;
  const newName = h("input", { type: "text", value: name, autocomplete: "off", required: true });
  const rename = h("form", { class: "row" }, field("New name", newName), h("button", { type: "submit" }, "Rename"));
  rename.addEventListener("submit", async (e) => {
    e.preventDefault();
    const to = newName.value.trim();
    if (!to || to === name) return;
    await guarded(rename, async () => {
      await api(`/v1/people/${person.id}`, { method: "PATCH", json: { name: to } });
      status.textContent = `Renamed ${name} to ${to}.`;
      await changed(person.id);
    });
  });
  const del = h("button", { type: "button", class: "danger" }, `Delete ${name}`);
  del.addEventListener("click", async () => {
    if (!window.confirm(`Delete ${name} and all ${person.templates.length} of their templates? This cannot be undone.`)) return;
    await guarded(del, async () => {
      await api(`/v1/people/${person.id}`, { method: "DELETE" });
      status.textContent = `Deleted ${name}.`;
      await changed(null);
    });
  });
  const more = fileInput(`Add photos of ${name}`, { multiple: true });
  const addForm = h("form", { class: "row" }, more.wrap, h("button", { type: "submit" }, "Add"));
  addForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!more.input.files.length) return;
    await guarded(addForm, async () => {
      const body = new FormData();
      for (const f of more.input.files) body.append("images", (await uploadable(f)).blob);
      const r = await api(`/v1/people/${person.id}/templates`, { form: body });
      status.textContent = outcome(name, r);
      await changed(person.id);
    });
  });
  const templates = h("ul", { class: "templates" }, person.templates.map((t) => h("li", {},
    apiImg(t.thumbnail_url, `template ${t.id} of ${name}`, "thumb large"),
    h("span", { class: "source", title: t.source || "" }, basename(t.source) || `template ${t.id}`),
    h("button", { type: "button", class: "danger small", "aria-label": `Remove template ${t.id} (${basename(t.source)}) of ${name}`, onclick: async (e) => {
      if (!window.confirm(`Remove this template of ${name}?`)) return;
      await guarded(e.target, async () => {
        await api(`/v1/people/${person.id}/templates/${t.id}`, { method: "DELETE" });
        status.textContent = `Removed a template of ${name}.`;
        await changed(person.id);
      });
    } }, "Remove"))));
  return [h("h2", { tabindex: -1 }, name), h("p", {}, `${person.templates.length} template${person.templates.length === 1 ? "" : "s"}`), templates, addForm, rename, del];
}

function basename(path) {
  return (path || "").split(/[\\/]/).pop();
}

function outcome(name, r) {
  const skipped = (r.skipped || []).map((s) => `${basename(s.file)}: ${s.reason}`).join("; ");
  return `${name}: ${r.added} photo${r.added === 1 ? "" : "s"} added${skipped ? `; skipped ${skipped}` : ""}.`;
}

// --- enrolment with face picking --------------------------------------------------------------

function enrolForm(status, refresh) {
  const name = h("input", { type: "text", autocomplete: "off", required: true });
  const photos = fileInput("Photos", { multiple: true, hint: "One face per photo is enrolled: the largest, unless you pick another below." });
  const picks = h("div", { class: "picks" });
  const form = h("form", { class: "card", "aria-label": "enrol a person" }, h("h2", {}, "Enrol a person"),
    field("Name", name), photos.wrap, picks, h("button", { type: "submit" }, "Enrol"));
  let chosen = [];

  photos.input.addEventListener("change", async () => {
    const files = [...photos.input.files];
    chosen = files.map((file) => ({ file, faces: null, pick: 0, url: null }));
    picks.replaceChildren();
    await guarded(picks, async () => {
      for (const item of chosen) picks.append(await pickView(item));
    });
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const who = name.value.trim();
    if (!who || !chosen.length) { status.textContent = "Type a name and choose at least one photo."; return; }
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true; // a second click cannot enrol the same photos twice
    status.textContent = `Enrolling ${who}…`;
    const ok = await guarded(form, async () => {
      // an existing name is never a silent "add to": the page shows that person and asks
      const existing = await findPerson(who);
      const faces = existing ? await galleryFaces(who) : null;
      if (existing && !(await askAppend(who, faces || [], `${chosen.length === 1 ? "this photo" : "these photos"}`))) {
        status.textContent = `Nothing was added to ${who}. Choose another name to enrol someone new.`;
        return true;
      }
      const r = await enrolAll(who, chosen, existing);
      status.textContent = outcome(who, r);
      chosen.forEach((c) => c.url && URL.revokeObjectURL(c.url));
      chosen = [];
      form.reset();
      picks.replaceChildren();
      await refresh();
      return true;
    });
    submit.disabled = false;
    if (!ok) status.textContent = "";
  });
  return form;
}

async function pickView(item) {
  // the photo as it will be sent (downscaled past UPLOAD_MAX_SIDE): the face picked here is an
  // index into the faces of these pixels, so the enrolment sends the same ones
  item.file = (await uploadable(item.file)).blob;
  const body = new FormData();
  body.append("image", item.file);
  const data = await api("/v1/detect", { form: body });
  item.faces = data.faces;
  item.size = [data.width, data.height];
  item.pick = largest(data.faces);
  item.url = URL.createObjectURL(item.file);
  if (data.faces.length <= 1) {
    return h("p", { class: "hint" }, `${item.file.name}: ${data.faces.length ? "one face" : "no face found (it will be skipped)"}.`);
  }
  const group = `pick-${Math.random().toString(36).slice(2)}`;
  const radios = data.faces.map((f, i) => {
    const input = h("input", { type: "radio", name: group, value: i, checked: i === item.pick });
    input.addEventListener("change", () => { item.pick = i; mark(); });
    return h("label", { class: "radio" }, input, ` face ${i + 1}${i === largest(data.faces) ? " (largest)" : ""}`);
  });
  const stage = faceStage(item.url, data.width, data.height, data.faces, {
    alt: item.file.name,
    describe: (f, i) => `face ${i + 1} of ${item.file.name}`,
    onSelect: (i) => { item.pick = i; radios[i].querySelector("input").checked = true; mark(); },
  });
  function mark() {
    stage.querySelectorAll("g.face").forEach((g, i) => g.classList.toggle("picked", i === item.pick));
  }
  mark();
  return h("fieldset", { class: "pick" }, h("legend", {}, `${item.file.name}: ${data.faces.length} faces — which one is this person?`), stage, h("div", { class: "row" }, radios));
}

function largest(faces) {
  let best = 0;
  faces.forEach((f, i) => {
    const area = (b) => (b[2] - b[0]) * (b[3] - b[1]);
    if (area(f.box) > area(faces[best].box)) best = i;
  });
  return best;
}

/**
 * Enrol every photo with its picked face: the photos where the largest face is wanted go in
 * one request (face=largest), each other photo in its own with face=<index> (the order of
 * /v1/detect, which uses the same detector); to `existing` (a person the user chose to add
 * to) or a new person. Returns the summed {added, skipped}.
 */
async function enrolAll(name, items, existing) {
  const groups = [];
  const plain = items.filter((it) => !it.faces || it.faces.length <= 1 || it.pick === largest(it.faces));
  if (plain.length) groups.push({ face: "largest", files: plain.map((it) => it.file) });
  for (const it of items) if (!plain.includes(it)) groups.push({ face: String(it.pick), files: [it.file] });
  const total = { added: 0, skipped: [] };
  let person = existing;
  for (const g of groups) {
    const body = new FormData();
    for (const f of g.files) body.append("images", f);
    body.append("face", g.face);
    if (!person) body.append("name", name);
    const r = person
      ? await api(`${personPath(person)}/templates`, { form: body })
      : await api("/v1/people", { form: body });
    person = person || { id: r.id, name: r.name };
    total.added += r.added;
    total.skipped.push(...(r.skipped || []));
  }
  return total;
}
