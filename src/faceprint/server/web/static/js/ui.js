// Small DOM helpers shared by the pages. Text goes in through textContent only (never innerHTML),
// styles through classes or the CSSOM (the server's CSP forbids inline style attributes).

import { api, mediaUrl } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";

/** h("div", {class: "x", onclick: f}, child, "text", [more]) -> Element. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

/** Same as h() in the SVG namespace. */
export function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let uid = 0;
/** A fresh id for label/aria wiring. */
export function newId(prefix = "fp") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/**
 * A server message in the user's words: internal labels of an upload ("<93307 bytes>: ") and
 * operating-system error numbers ("[Errno 1094995529] ") are dropped.
 */
export function plain(message) {
  return String(message).replace(/<\d+ bytes>:?\s*/g, "").replace(/\[Errno -?\d+\]\s*/g, "");
}

/** Show an error (ApiError or any Error) in the page's alert region. */
export function showError(err) {
  const box = document.getElementById("messages");
  const rid = err && err.requestId ? ` (request ${err.requestId})` : "";
  box.replaceChildren(h("p", { class: "error" }, h("strong", {}, "Error: "), `${plain(err.message || err)}${rid}`,
    " ", h("button", { type: "button", class: "link", onclick: clearMessages }, "Dismiss")));
}

export function clearMessages() {
  document.getElementById("messages").replaceChildren();
}

/** Run an async action with a busy marker on `busyNode`; errors go to the alert region. */
export async function guarded(busyNode, fn) {
  clearMessages();
  busyNode?.setAttribute("aria-busy", "true");
  try {
    return await fn();
  } catch (err) {
    showError(err);
    return undefined;
  } finally {
    busyNode?.removeAttribute("aria-busy");
  }
}

/** A labelled control: field("Name", h("input", {...}), "hint") -> <div class=field>. */
export function field(label, control, hint) {
  const id = control.id || newId("f");
  control.id = id;
  const parts = [h("label", { for: id }, label), control];
  if (hint) {
    const hid = newId("hint");
    control.setAttribute("aria-describedby", hid);
    parts.push(h("span", { class: "hint", id: hid }, hint));
  }
  return h("div", { class: "field" }, parts);
}

/** A status line with aria-live for progress and results text. */
export function statusLine() {
  return h("p", { class: "status", role: "status", "aria-live": "polite" });
}

export function fmtSim(x) {
  return Number(x).toFixed(3);
}

export function fmtPct(x) {
  return `${(100 * Number(x)).toFixed(1)}%`;
}

export function fmtSeconds(x) {
  const t = Number(x);
  if (t < 60) return `${t.toFixed(1)} s`;
  return `${Math.floor(t / 60)}:${(t % 60).toFixed(1).padStart(4, "0")}`;
}

/** An <img> whose src is an API path (fetched with the key when one is set). */
export function apiImg(path, alt, cls = "thumb") {
  const img = h("img", { alt, class: cls, loading: "lazy", decoding: "async", width: 56, height: 56 });
  if (path) mediaUrl(path).then((url) => { img.src = url; }).catch(() => { img.alt = `${alt} (thumbnail unavailable)`; });
  return img;
}

/** Replace the <datalist id=listId> options with the gallery's people names (the first 1,000). */
export async function fillPeopleList(datalist) {
  const data = await api("/v1/people?limit=1000");
  datalist.replaceChildren(...data.people.map((p) => h("option", { value: p.name })));
  return data.people;
}

/** Object URL of a local File for previews; revoked when `owner` leaves the page. */
export function previewUrl(file) {
  return URL.createObjectURL(file);
}

/**
 * An image with an SVG overlay of face boxes, scaled together (viewBox = image pixels), so a
 * 6000x4000 photo fits the column and 40 boxes stay crisp.
 *   faces: [{box:[x1,y1,x2,y2]}], width/height: the image size the boxes refer to.
 *   opts.label(face, i) -> text drawn on the box; opts.describe(face, i) -> accessible name;
 *   opts.onSelect(i) called on hover/focus/click of a box; opts.cls(face, i) -> extra class.
 */
export function faceStage(src, width, height, faces, opts = {}) {
  const img = h("img", { src, alt: opts.alt || "uploaded photo", class: "stage-img" });
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", class: "overlay",
    role: "group", "aria-label": `${faces.length} face${faces.length === 1 ? "" : "s"} found` });
  const font = Math.max(width, height) / 42;
  faces.forEach((face, i) => svg.append(faceBox(face, i, font, opts)));
  return h("figure", { class: "stage" }, img, svg);
}

function faceBox(face, i, font, opts) {
  const [x1, y1, x2, y2] = face.box;
  const text = opts.label ? opts.label(face, i) : String(i + 1);
  const extra = opts.cls ? opts.cls(face, i) : "";
  const g = s("g", { class: `face ${extra}`.trim(), tabindex: opts.onSelect ? 0 : undefined,
    role: opts.onSelect ? "button" : "img", "aria-label": opts.describe ? opts.describe(face, i) : `face ${i + 1}` });
  g.append(s("rect", { x: x1, y: y1, width: Math.max(1, x2 - x1), height: Math.max(1, y2 - y1),
    "vector-effect": "non-scaling-stroke" }));
  const size = Math.min(font, Math.max(font / 2, (x2 - x1) / 3));
  g.append(s("text", { x: x1, y: Math.max(size, y1 - size * 0.25), "font-size": size }, text));
  if (opts.onSelect) {
    const pick = () => opts.onSelect(i);
    g.addEventListener("mouseenter", pick);
    g.addEventListener("focus", pick);
    g.addEventListener("click", pick);
  }
  return g;
}

/** A file input with a label; returns {wrap, input}. */
export function fileInput(label, { accept = "image/*", multiple = false, hint, name } = {}) {
  const input = h("input", { type: "file", accept, multiple, name });
  return { wrap: field(label, input, hint), input };
}

/** Wait ms milliseconds. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A <progress> labelled by text; set(fraction) updates both. */
export function progressBar(label) {
  const id = newId("p");
  const text = h("span", { id, class: "progress-label" }, label);
  const bar = h("progress", { max: 1, value: 0, "aria-labelledby": id });
  const wrap = h("div", { class: "progress" }, text, bar);
  return {
    wrap,
    set(fraction, words) {
      if (fraction === null || fraction === undefined) bar.removeAttribute("value");
      else bar.value = Math.max(0, Math.min(1, fraction));
      if (words) text.textContent = words;
    },
  };
}

/** The API path of an enrolled person (by id where the server gives one). */
export function personPath(person) {
  return person.id !== undefined && person.id !== null
    ? `/v1/people/${encodeURIComponent(person.id)}`
    : `/v1/people/${encodeURIComponent(person.name)}`;
}

/**
 * The enrolled person called exactly `name` (with their templates), or null: searched by name
 * page by page (never a request that fails when nobody has that name).
 */
export async function findPerson(name) {
  for (let offset = 0; ; offset += 1000) {
    const params = new URLSearchParams({ q: name, limit: "1000", offset: String(offset) });
    const data = await api(`/v1/people?${params}`);
    const found = data.people.find((p) => p.name === name);
    if (found) return api(personPath(found));
    if (offset + data.people.length >= data.total || !data.people.length) return null;
  }
}

/**
 * Ask whether to add `what` to `name`, who exists already: a modal dialog showing their faces
 * (thumbnail URLs), "Add to NAME" or "Cancel". Resolves true only for an explicit "Add".
 */
export function askAppend(name, faces, what) {
  const yes = h("button", { type: "button", class: "primary" }, `Add to ${name}`);
  const no = h("button", { type: "button" }, "Cancel");
  const tid = newId("ask");
  const dialog = h("dialog", { class: "ask", "aria-labelledby": tid },
    h("h2", { id: tid }, `${name} is enrolled already`),
    h("p", {}, `Is this the same person? Adding ${what} to ${name} makes them part of who ${name} is; to enrol someone new, cancel and choose another name.`),
    h("ul", { class: "face-grid" }, faces.slice(0, 12).map((url) => h("li", {}, apiImg(url, `a face of ${name}`, "thumb large")))),
    h("div", { class: "row" }, yes, no));
  document.body.append(dialog);
  return new Promise((resolve) => {
    let answer = false;
    yes.addEventListener("click", () => { answer = true; dialog.close(); });
    no.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => { dialog.remove(); resolve(answer); });
    dialog.showModal();
    no.focus();
  });
}

/** Thumbnail URLs of the gallery's person called exactly `name`, or null when nobody is. */
export async function galleryFaces(name) {
  const person = await findPerson(name);
  if (!person) return null;
  return (person.templates || []).map((t) => t.thumbnail_url);
}

/**
 * Adding to an existing person is a choice, never a side effect of typing their name: when
 * `taken(name)` gives faces (the name is a person already) the user is asked first, and
 * `attempt(append)` runs with append=true only on an explicit yes. Resolves to its result, or
 * null when the user cancelled.
 */
export async function withAppendChoice(name, what, taken, attempt) {
  const faces = await taken(name);
  if (faces === null) return attempt(false);
  return (await askAppend(name, faces, what)) ? attempt(true) : null;
}

/** Longest side of a photo as uploaded; a larger one is downscaled in the browser first. */
export const UPLOAD_MAX_SIDE = 4096;

/**
 * A photo ready to upload: {blob, note}. A photo longer than UPLOAD_MAX_SIDE on a side is
 * downscaled here (proportions kept, so face boxes still sit on the preview of the original),
 * which keeps it under the server's pixel limit and makes the upload quick; a photo the browser
 * cannot decode (HEIC in most browsers) goes as it is and the server decodes it.
 */
export async function uploadable(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    return { blob: file, note: "" };
  }
  const { width, height } = bitmap;
  const scale = UPLOAD_MAX_SIDE / Math.max(width, height);
  if (scale >= 1) { bitmap.close(); return { blob: file, note: "" }; }
  const canvas = new OffscreenCanvas(Math.round(width * scale), Math.round(height * scale));
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  const jpeg = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.92 });
  const name = `${(file.name || "photo").replace(/\.[^.]*$/, "")}.jpg`;
  return { blob: new File([jpeg], name, { type: "image/jpeg" }), note: ` (a ${width}×${height} photo, sent at ${canvas.width}×${canvas.height})` };
}

/** Tell the app that the gallery's people changed (the footer's count is refreshed). */
export function peopleChanged() {
  document.dispatchEvent(new Event("fp-people-changed"));
}
