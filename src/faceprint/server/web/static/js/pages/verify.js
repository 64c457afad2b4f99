// Verify: two photos (or a photo and an enrolled person) -> same / different, with the
// similarity, the threshold and where the threshold comes from.

import { api } from "../api.js";
import { faceStage, field, fileInput, fillPeopleList, fmtSim, guarded, h, statusLine, uploadable } from "../ui.js";

export function render(main) {
  const a = fileInput("Photo A");
  const b = fileInput("Photo B", { hint: "Or leave empty and pick an enrolled person below." });
  const people = h("datalist", { id: "verify-people" });
  const person = h("input", { type: "text", list: "verify-people", autocomplete: "off" });
  const status = statusLine();
  const result = h("div", { class: "results" });
  const form = h("form", { class: "card" },
    h("div", { class: "pair" }, a.wrap, b.wrap),
    field("…or compare photo A with this enrolled person", person), people,
    h("button", { type: "submit" }, "Compare"));
  const urls = [];

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const fa = a.input.files[0];
    const fb = b.input.files[0];
    const name = person.value.trim();
    if (!fa || (!fb && !name)) { status.textContent = "Choose photo A and either photo B or a person."; return; }
    status.textContent = "Comparing…";
    const ok = await guarded(result, async () => {
      // a photo over UPLOAD_MAX_SIDE goes downscaled; the boxes are drawn on what was sent
      const sentA = (await uploadable(fa)).blob;
      const sentB = fb ? (await uploadable(fb)).blob : null;
      const body = new FormData();
      body.append("image_a", sentA);
      if (sentB) body.append("image_b", sentB);
      else body.append("person_id", (await api(`/v1/people/by-name?name=${encodeURIComponent(name)}`)).id);
      const data = await api("/v1/verify", { form: body });
      urls.forEach((u) => URL.revokeObjectURL(u));
      urls.length = 0;
      result.replaceChildren(verdict(data, fb ? "photo B" : name), await sideBySide(sentA, sentB, data, urls));
      status.textContent = data.same ? "Same person." : "Different people.";
      return true;
    });
    if (!ok) status.textContent = "";
  });
  guarded(null, () => fillPeopleList(people));

  main.append(h("h1", {}, "Verify: same person?"),
    h("p", { class: "lead" }, "Compares the largest face of each photo. The threshold decides same or different."),
    form, status, result);
  return () => urls.forEach((u) => URL.revokeObjectURL(u));
}

function verdict(data, other) {
  return h("section", { class: data.same ? "verdict same" : "verdict different", "aria-label": "verdict" },
    h("h2", {}, data.same ? "Same person" : "Different people"),
    h("dl", { class: "facts" },
      h("dt", {}, "Similarity"), h("dd", {}, fmtSim(data.similarity)),
      h("dt", {}, "Threshold"), h("dd", {}, `${fmtSim(data.threshold)} — ${data.threshold_source}`),
      h("dt", {}, "Model pack"), h("dd", {}, data.pack),
      h("dt", {}, "Compared with"), h("dd", {}, other)));
}

function loadImage(url) {
  return new Promise((resolve) => {
    const img = new Image();
    img.addEventListener("load", () => resolve(img));
    img.addEventListener("error", () => resolve(null));
    img.src = url;
  });
}

async function stageFor(file, face, label, urls) {
  const url = URL.createObjectURL(file);
  urls.push(url);
  const img = await loadImage(url);
  if (!img) return h("p", { class: "hint" }, `${label}: this browser cannot show the file (the server read it).`);
  const faces = face && face.box ? [face] : [];
  return faceStage(url, img.naturalWidth, img.naturalHeight, faces, { alt: label, label: () => label.slice(-1) });
}

async function sideBySide(fa, fb, data, urls) {
  const parts = [await stageFor(fa, data.face_a, "photo A", urls)];
  if (fb) parts.push(await stageFor(fb, data.face_b, "photo B", urls));
  return h("div", { class: "pair" }, parts);
}
