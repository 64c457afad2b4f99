// Lookalike: "which star do you resemble?" — every face in a photo (upload or webcam) with the
// three nearest gallery identities, their thumbnails, similarity and the verification threshold.

import { api } from "../api.js";
import { apiImg, faceStage, fileInput, fmtSim, guarded, h, statusLine, uploadable } from "../ui.js";

export function render(main) {
  const file = fileInput("Photo", { hint: "JPEG, PNG, WebP or HEIC; large photos are made smaller before they are sent. The result appears as soon as it is uploaded." });
  const camButton = h("button", { type: "button" }, "Use the webcam");
  const status = statusLine();
  const camera = h("div", { class: "camera", hidden: true });
  const results = h("div", { class: "results" });
  const form = h("form", { class: "card" }, file.wrap, h("div", { class: "row" }, h("button", { type: "submit" }, "Find lookalikes"), camButton), camera);
  let stream = null;
  let previewUrl = null;

  async function run(blob) {
    if (!blob) { status.textContent = "Choose a photo first."; return; }
    performance.clearMarks("fp-upload");
    performance.clearMeasures("fp-lookalike");
    performance.mark("fp-upload");
    status.textContent = "Looking for faces…";
    results.replaceChildren(); // no earlier photo's answer stays on screen under a new error
    const ok = await guarded(results, async () => {
      const ready = await uploadable(blob);
      const form = new FormData();
      form.append("image", ready.blob, ready.blob.name || "photo.jpg");
      form.append("top_k", "3");
      const data = await api("/v1/search", { form });
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      previewUrl = URL.createObjectURL(blob);
      results.replaceChildren(...view(data, previewUrl));
      const m = performance.measure("fp-lookalike", "fp-upload");
      status.textContent = `${summary(data)}${ready.note} (${Math.round(m.duration)} ms)`;
      return true;
    });
    if (!ok) status.textContent = "";
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); run(file.input.files[0]); });
  file.input.addEventListener("change", () => run(file.input.files[0]));
  camButton.addEventListener("click", async () => {
    if (stream) return;
    stream = await guarded(camera, () => openCamera(camera, run, () => { stopCamera(); }));
  });

  function stopCamera() {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    camera.hidden = true;
    camera.replaceChildren();
  }

  main.append(
    h("h1", {}, "Which star do you resemble?"),
    h("p", { class: "lead" }, "Every face in your photo is compared with everyone in the gallery; the three nearest are shown with their similarity. A match above the verification threshold means the model would call it the same person."),
    form, status, results);
  return () => { stopCamera(); if (previewUrl) URL.revokeObjectURL(previewUrl); };
}

async function openCamera(box, run, stop) {
  if (!navigator.mediaDevices?.getUserMedia) throw new Error("This browser cannot use a webcam here (it needs https or localhost).");
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 } }, audio: false });
  const video = h("video", { autoplay: true, muted: true, playsinline: true, class: "camera-video", "aria-label": "webcam preview" });
  video.srcObject = stream;
  const snap = h("button", { type: "button", disabled: true }, "Take photo");
  const close = h("button", { type: "button" }, "Close webcam");
  snap.addEventListener("click", () => {
    if (!video.videoWidth) return;
    const canvas = h("canvas", { width: video.videoWidth, height: video.videoHeight });
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => run(new File([blob], "webcam.jpg", { type: "image/jpeg" })), "image/jpeg", 0.92);
  });
  close.addEventListener("click", stop);
  box.replaceChildren(video, h("div", { class: "row" }, snap, close));
  box.hidden = false;
  if (!video.videoWidth) await new Promise((resolve) => video.addEventListener("loadeddata", resolve, { once: true }));
  snap.disabled = false;
  snap.focus();
  return stream;
}

function summary(data) {
  const n = data.faces.length;
  if (!n) return "No face found in this photo.";
  const hits = data.faces.filter((f) => f.matches.some((m) => m.above_threshold)).length;
  return `${n} face${n === 1 ? "" : "s"}; ${hits} with a match above the threshold ${fmtSim(data.threshold)}`;
}

function view(data, src) {
  const stage = faceStage(src, data.width, data.height, data.faces, {
    describe: (f, i) => `face ${i + 1}: nearest ${f.matches[0]?.name ?? "nobody"}`,
  });
  const list = h("ol", { class: "faces" }, data.faces.map((f, i) => faceCard(f, i, data.threshold)));
  return [h("div", { class: "stage-with-detail" }, stage, list)];
}

function faceCard(face, i, threshold) {
  const above = face.matches.some((m) => m.above_threshold);
  return h("li", { class: "face-card" },
    h("h2", {}, `Face ${i + 1}`, " ", h("span", { class: above ? "badge yes" : "badge no" }, above ? "match above threshold" : `no one above ${fmtSim(threshold)}`)),
    face.matches.length
      ? h("ol", { class: "matches" }, face.matches.map((m, rank) => h("li", { class: m.above_threshold ? "match above" : "match" },
        apiImg(m.thumbnail_url, m.name),
        h("span", { class: "name" }, m.name),
        h("span", { class: "sim" }, `similarity ${fmtSim(m.similarity)}`,
          rank === 0 && m.above_threshold ? [" ", h("span", { class: "badge yes" }, "likely the same person")] : null))))
      : h("p", {}, "The gallery is empty: enrol people on the People page."));
}
