// The page for a path the app does not have (the server answers it with status 404).

import { h } from "../ui.js";

const PAGES = [
  ["/lookalike", "Lookalike: which enrolled person a face resembles"],
  ["/verify", "Verify: are two photos the same person?"],
  ["/identify", "Identify: name everyone in a group photo"],
  ["/family", "Family: whom a child resembles"],
  ["/people", "People: enrol and manage who is known"],
  ["/library", "Photo library: faces grouped by person"],
  ["/video", "Video: who is on screen, and for how long"],
];

export function render(main) {
  main.append(h("h1", {}, "Page not found"),
    h("p", { class: "lead" }, `There is no page at ${location.pathname}. These are the pages:`),
    h("ul", {}, PAGES.map(([href, text]) => h("li", {}, h("a", { href, "data-nav": true }, text)))));
}
