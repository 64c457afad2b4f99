// Family resemblance: a child's photo and two or more relatives' photos -> whom the child
// resembles more, the calibrated comparison, the "undecided" margin and the caveat.

import { api } from "../api.js";
import { field, fileInput, fmtSim, guarded, h, statusLine, uploadable } from "../ui.js";

export function render(main) {
  const child = fileInput("Child's photo");
  const rows = h("div", { class: "relatives" });
  const add = h("button", { type: "button" }, "Add another relative");
  const margin = h("input", { type: "number", min: 0, max: 10, step: 0.1, inputmode: "decimal", placeholder: "server default" });
  const status = statusLine();
  const result = h("div", { class: "results" });
  const form = h("form", { class: "card" }, child.wrap,
    h("fieldset", {}, h("legend", {}, "Relatives (two or more)"), rows, add),
    field("Lead needed for a verdict (standard deviations)", margin, "Below this lead the answer is “undecided”."),
    h("button", { type: "submit" }, "Compare"));
  const relatives = [];

  let added = 0;
  function addRow() {
    added += 1;
    const n = added;
    const photo = fileInput(`Relative ${n}: photo`);
    const name = h("input", { type: "text", value: n === 1 ? "Mother" : n === 2 ? "Father" : `Relative ${n}`, autocomplete: "off" });
    const preview = h("img", { class: "thumb large", alt: "", hidden: true });
    const entry = { photo: photo.input, name, url: null };
    photo.input.addEventListener("change", () => {
      if (entry.url) URL.revokeObjectURL(entry.url);
      const file = photo.input.files[0];
      entry.url = file ? URL.createObjectURL(file) : null;
      preview.hidden = !file;
      if (file) { preview.src = entry.url; preview.alt = `photo of relative ${n}`; }
    });
    const remove = h("button", { type: "button", class: "small quiet" }, `Remove relative ${n}`);
    const row = h("div", { class: "pair relative" }, h("div", {}, photo.wrap, preview), h("div", {}, field(`Relative ${n}: name`, name), remove));
    remove.addEventListener("click", () => {
      if (entry.url) URL.revokeObjectURL(entry.url);
      relatives.splice(relatives.indexOf(entry), 1);
      row.remove();
      add.focus();
    });
    relatives.push(entry);
    rows.append(row);
    return photo.input;
  }
  addRow();
  addRow();
  add.addEventListener("click", () => addRow().focus());

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const chosen = relatives.filter((r) => r.photo.files[0]);
    if (!child.input.files[0] || chosen.length < 2) { status.textContent = "Choose the child's photo and at least two relatives' photos."; return; }
    const names = chosen.map((r, i) => r.name.value.trim() || `Relative ${i + 1}`);
    if (names.some((n) => n.includes(","))) { status.textContent = "Names cannot contain commas."; return; }
    status.textContent = "Comparing…";
    const ok = await guarded(result, async () => {
      const body = new FormData();
      body.append("child", (await uploadable(child.input.files[0])).blob);
      for (const r of chosen) body.append("relatives", (await uploadable(r.photo.files[0])).blob);
      body.append("names", names.join(","));
      if (margin.value !== "") body.append("margin", margin.value);
      const data = await api("/v1/resemble", { form: body });
      result.replaceChildren(view(data));
      status.textContent = data.verdict === "undecided" ? "Undecided." : `Resembles ${data.verdict} more.`;
      return true;
    });
    if (!ok) status.textContent = "";
  });

  main.append(h("h1", {}, "Family resemblance"),
    h("p", { class: "lead" }, "Which relative does the child look more like? Each similarity is compared with how similar unrelated faces are; without a clear lead the answer is “undecided”."),
    form, status, result);
}

function view(data) {
  const best = Math.max(...data.relatives.map((r) => r.z));
  const undecided = data.verdict === "undecided";
  return h("section", { class: undecided ? "verdict undecided" : "verdict same", "aria-label": "verdict" },
    h("h2", {}, undecided ? "Undecided" : `Resembles ${data.verdict} more`),
    h("p", {}, `Lead of the closest relative: ${data.lead.toFixed(2)} standard deviations; a verdict needs at least ${data.margin.toFixed(2)}.`),
    h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Relative"), h("th", { scope: "col" }, "Similarity"),
        h("th", { scope: "col" }, "Standard deviations above an unrelated face"), h("th", { scope: "col" }, "More similar than … of unrelated faces"))),
      h("tbody", {}, data.relatives.map((r) => h("tr", { class: r.z === best ? "best" : "" },
        h("td", {}, r.name), h("td", {}, fmtSim(r.similarity)), h("td", {}, r.z.toFixed(2)), h("td", {}, `${r.percentile.toFixed(1)}%`))))),
    h("p", { class: "hint" }, data.calibration === "reference"
      ? "Compared with the unrelated reference faces given for each relative."
      : "Compared with how similar unrelated faces are in general, as measured for this recognition model."),
    h("p", { class: "caveat" }, h("strong", {}, "Caveat: "), data.caveat));
}
