// The faceprint JSON API client. The API key lives in this module's memory only:
// never in a URL, a cookie or localStorage; reloading the page forgets it.

let apiKey = "";
const blobCache = new Map(); // url -> object URL (only used when a key is set)

/** Remember the API key for this page (memory only). */
export function setApiKey(key) {
  apiKey = key.trim();
  for (const url of blobCache.values()) URL.revokeObjectURL(url);
  blobCache.clear();
}

/** An error from the API's envelope {"error": {code, message}, "request_id"}. */
export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.requestId = requestId || "";
  }
}

function authHeaders() {
  return apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
}

function hintFor(status, code) {
  if (status === 401) return " Enter the server's API key in the \"API key\" field at the top.";
  if (status === 403) return " This key may not do that (an admin key is needed).";
  if (status === 413) return " Try a smaller file.";
  if (status === 429) return " Wait a moment and try again.";
  if (code === "network") return " Is `faceprint serve` still running?";
  return "";
}

async function errorFrom(resp) {
  const requestId = resp.headers.get("X-Request-ID") || "";
  let code = `http_${resp.status}`;
  let message = `${resp.status} ${resp.statusText || "error"}`;
  try {
    const body = await resp.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(resp.status, code, message + hintFor(resp.status, code), requestId);
}

async function send(path, init) {
  try {
    return await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", `Cannot reach the server (${err.message}).${hintFor(0, "network")}`);
  }
}

/**
 * Call the API: api("/v1/people"), api(path, {method: "POST", form}), api(path, {json}).
 * Returns the parsed JSON (null for 204); throws ApiError with the envelope's message.
 */
export async function api(path, { method, form, json, signal } = {}) {
  const init = { method: method || (form || json !== undefined ? "POST" : "GET"), headers: authHeaders(), signal };
  if (form) init.body = form;
  else if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  }
  const resp = await send(path, init);
  if (!resp.ok) throw await errorFrom(resp);
  if (resp.status === 204) return null;
  return resp.json();
}

/** Fetch a binary resource (image, video, zip) with the key; returns a Blob. */
export async function apiBlob(path) {
  const resp = await send(path, { headers: authHeaders() });
  if (!resp.ok) throw await errorFrom(resp);
  return resp.blob();
}

/**
 * A URL usable in <img>/<video> src for an API resource. Without a key the path itself
 * (the browser fetches and caches it); with a key, an object URL of a fetch that sends it.
 */
export async function mediaUrl(path) {
  if (!apiKey) return path;
  if (!blobCache.has(path)) blobCache.set(path, URL.createObjectURL(await apiBlob(path)));
  return blobCache.get(path);
}

/** POST a FormData with upload progress (fetch has none): onProgress(fraction 0..1). */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network", "Upload failed: cannot reach the server.")));
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(body);
      const e = body && body.error ? body.error : { code: `http_${xhr.status}`, message: `${xhr.status} ${xhr.statusText}` };
      reject(new ApiError(xhr.status, e.code, e.message + hintFor(xhr.status, e.code), xhr.getResponseHeader("X-Request-ID")));
    });
    xhr.send(form);
  });
}
