// Identify: a group photo with every face named or "unknown"; hover or focus a face for its top-k.

import { api } from "../api.js";
import { apiImg, faceStage, field, fileInput, fmtSim, guarded, h, statusLine, uploadable } from "../ui.js";

export function render(main) {
  const file = fileInput("Group photo");
  const topK = h("input", { type: "number", min: 1, max: 20, value: 3, inputmode: "numeric" });
  const status = statusLine();
  const result = h("div", { class: "results" });
  const form = h("form", { class: "card" }, file.wrap, field("Candidates per face", topK),
    h("button", { type: "submit" }, "Name the faces"));
  let url = null;

  async function run() {
    const blob = file.input.files[0];
    if (!blob) { status.textContent = "Choose a photo first."; return; }
    status.textContent = "Identifying…";
    result.replaceChildren(); // no earlier photo's answer stays on screen under a new error
    const ok = await guarded(result, async () => {
      const ready = await uploadable(blob);
      const body = new FormData();
      body.append("image", ready.blob);
      body.append("top_k", String(Math.max(1, Math.min(20, Number(topK.value) || 3))));
      const data = await api("/v1/identify", { form: body });
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(blob);
      result.replaceChildren(...view(data, url));
      const named = data.faces.filter((f) => f.label !== "unknown").length;
      const n = data.faces.length;
      status.textContent = `${n} face${n === 1 ? "" : "s"}: ${named} named, ${n - named} unknown (threshold ${fmtSim(data.threshold)})${ready.note}.`;
      return true;
    });
    if (!ok) status.textContent = "";
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); run(); });
  file.input.addEventListener("change", run);

  main.append(h("h1", {}, "Identify everyone in a photo"),
    h("p", { class: "lead" }, "Each face gets the name of the nearest enrolled person when the similarity clears the threshold, else “unknown”. Hover over or tab to a face to see its candidates."),
    form, status, result);
  return () => { if (url) URL.revokeObjectURL(url); };
}

function view(data, src) {
  const detail = h("div", { class: "detail", "aria-live": "polite" }, h("p", { class: "hint" }, "Hover over or focus a face to see its candidates."));
  const stage = faceStage(src, data.width, data.height, data.faces, {
    label: (f, i) => `${i + 1} ${f.label}`, // the number matches the table's # column
    cls: (f) => (f.label === "unknown" ? "unknown" : "known"),
    describe: (f, i) => `face ${i + 1}: ${f.label}, similarity ${fmtSim(f.similarity)}`,
    onSelect: (i) => detail.replaceChildren(candidates(data.faces[i], i)),
  });
  const table = h("table", { class: "grid" },
    h("caption", {}, "Faces, numbered as on the photo"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "#"), h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Similarity"), h("th", { scope: "col" }, "Candidates"))),
    h("tbody", {}, data.faces.map((f, i) => h("tr", { class: f.label === "unknown" ? "unknown" : "known" },
      h("td", {}, String(i + 1)), h("td", { class: "label" }, f.label), h("td", {}, fmtSim(f.similarity)),
      h("td", {}, f.matches.map((m) => `${m.name} ${fmtSim(m.similarity)}`).join(", "))))));
  return [h("div", { class: "stage-with-detail" }, stage, detail), table];
}

function candidates(face, i) {
  return h("div", {},
    h("h2", {}, `Face ${i + 1}: ${face.label}`),
    h("ol", { class: "matches" }, face.matches.map((m) => h("li", { class: "match" },
      apiImg(m.thumbnail_url, m.name), h("span", { class: "name" }, m.name), h("span", { class: "sim" }, fmtSim(m.similarity))))));
}
