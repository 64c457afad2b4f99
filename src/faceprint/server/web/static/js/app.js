// Router: every page is this one document; links marked data-nav switch pages without a
// reload, so the API key typed at the top (memory only) survives navigation.

import { api, setApiKey } from "./api.js";
import { clearMessages, h } from "./ui.js";

const PAGES = {
  "/": "lookalike",
  "/lookalike": "lookalike",
  "/verify": "verify",
  "/identify": "identify",
  "/family": "family",
  "/people": "people",
  "/library": "library",
  "/video": "video",
};

let cleanup = null;
let renderSeq = 0;

async function render(focus) {
  const seq = ++renderSeq;
  const name = PAGES[location.pathname] || "notfound";
  const main = document.getElementById("main");
  if (cleanup) { cleanup(); cleanup = null; }
  clearMessages();
  for (const a of document.querySelectorAll("nav a[data-nav]")) {
    if (PAGES[a.getAttribute("href")] === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const mod = await import(`./pages/${name}.js`);
  if (seq !== renderSeq) return;
  main.replaceChildren();
  cleanup = mod.render(main) || null;
  document.title = `${main.querySelector("h1")?.textContent || name} · faceprint`;
  if (focus) main.focus();
}

function onClick(event) {
  const a = event.target.closest("a[data-nav]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  event.preventDefault();
  if (a.getAttribute("href") !== location.pathname) history.pushState(null, "", a.getAttribute("href"));
  render(true);
}

async function showServer() {
  try {
    const info = await api("/v1/health");
    document.getElementById("server-info").replaceChildren(
      h("span", {}, `faceprint ${info.version} · model pack ${info.pack} · ${info.people} people in the gallery`));
  } catch {
    // the footer stays empty; pages report their own errors
  }
}

function start() {
  const key = document.getElementById("api-key");
  key.value = "";
  key.addEventListener("input", () => setApiKey(key.value));
  // a new key re-renders the page (its requests may have failed for want of one)
  key.addEventListener("change", () => { render(false); showServer(); });
  document.getElementById("key-form").addEventListener("submit", (e) => { e.preventDefault(); key.blur(); });
  document.addEventListener("click", onClick);
  window.addEventListener("popstate", () => render(true));
  // pages announce changes to the gallery; the footer's count follows
  document.addEventListener("fp-people-changed", showServer);
  render(false);
  showServer();
}

start();
