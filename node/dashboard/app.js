// The dashboard's shell: hash routes, the live heads, search, the age ticker.

import { Node } from "./rpc.js";
import { ago, clear, h, num } from "./dom.js";
import { summaryPage } from "./summary.js";
import { blockPage, blocksPage } from "./blocks.js";
import { accountPage, accountsPage } from "./account.js";
import { jobPage, marketPage } from "./market.js";
import { governancePage } from "./governance.js";
import { chartsPage } from "./charts.js";
import { searchPage } from "./search.js";

const ROUTES = [
  [/^$/, summaryPage, "summary"],
  [/^blocks(?:\/(\d+))?$/, blocksPage, "blocks"],
  [/^block\/([^/]+)$/, blockPage, "block"],
  [/^accounts$/, accountsPage, "accounts"],
  [/^account\/([^/]+)$/, accountPage, "account"],
  [/^market(?:\/(\d+))?$/, marketPage, "market"],
  [/^job\/(\d+)$/, jobPage, "job"],
  [/^governance$/, governancePage, "governance"],
  [/^charts$/, chartsPage, "charts"],
  [/^search\/(.+)$/, searchPage, "search"],
];

const node = new Node();
const main = document.getElementById("main");
let current = null;

// What a page gets: the node, its element, and live hooks that end with it.
class Context {
  constructor(name, params) {
    this.node = node;
    this.name = name;
    this.params = params;
    this.main = main;
    this.alive = true;
    this.listeners = [];
  }

  // fn runs on each new best (or finalized) head; a run never overlaps the
  // previous one, and heads that arrive meanwhile fold into one more run
  live(fn, event = "head") {
    let running = false, again = false;
    const run = async (e) => {
      if (!this.alive) return;
      if (running) { again = true; return; }
      running = true;
      try {
        do { again = false; await fn(e.detail); } while (again && this.alive);
      } catch (error) {
        showError(error, true);
      } finally {
        running = false;
      }
    };
    node.addEventListener(event, run);
    this.listeners.push([event, run]);
  }

  end() {
    this.alive = false;
    for (const [event, fn] of this.listeners) node.removeEventListener(event, fn);
  }
}

function showError(error, transient = false) {
  const text = error && error.message ? error.message : String(error);
  const box = document.getElementById("notice");
  clear(box, h("p", {}, transient ? `Update failed: ${text}` : text));
  box.hidden = false;
}

async function route() {
  const path = location.hash.replace(/^#\/?/, "");
  const parts = path.split("/").map((p) => { try { return decodeURIComponent(p); } catch { return p; } });
  const clean = parts.join("/");
  if (current) current.end();
  document.getElementById("notice").hidden = true;
  document.body.dataset.ready = "0";
  document.body.dataset.route = clean; // with data-ready, tells tests and benches which page is done
  const first = clean.split("/")[0] || "summary";
  const tab = { block: "blocks", account: "accounts", job: "market" }[first] || first;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.route === tab);
  const found = ROUTES.find(([pattern]) => pattern.test(clean));
  if (!found) {
    clear(main, h("section", { class: "panel" }, h("h2", {}, "Not found"), h("p", {}, "No page at this address.")));
    document.body.dataset.ready = "1";
    return;
  }
  const [pattern, page, name] = found;
  const ctx = new Context(name, clean.match(pattern).slice(1));
  current = ctx;
  document.body.dataset.page = name;
  clear(main, h("p", { class: "loading" }, "Loading…"));
  try {
    await page(ctx);
    if (ctx.alive) document.body.dataset.ready = "1";
  } catch (error) {
    if (!ctx.alive) return;
    clear(main, h("section", { class: "panel error" }, h("h2", {}, "Could not load this page"),
      h("p", {}, error && error.message ? error.message : String(error))));
    document.body.dataset.ready = "error";
  }
  window.scrollTo(0, 0);
}

function status() {
  const mode = document.getElementById("mode");
  const best = document.getElementById("best");
  const finalized = document.getElementById("finalized");
  node.addEventListener("mode", (e) => {
    mode.textContent = e.detail === "live" ? "live" : e.detail === "polling" ? "polling" : "offline";
    mode.className = `mode ${e.detail}`;
    mode.title = e.detail === "live" ? "heads arrive over the WebSocket subscription"
      : "the WebSocket is down: polling the node over HTTP";
  });
  node.addEventListener("head", (e) => { best.textContent = `#${num(e.detail.number)}`; });
  node.addEventListener("finalized", (e) => { finalized.textContent = `#${num(e.detail.number)}`; });
}

function search() {
  const form = document.getElementById("search");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = form.elements.q.value.trim();
    if (q) location.hash = `#/search/${encodeURIComponent(q)}`;
  });
}

// Ages ("3 s ago") kept current without re-rendering the page.
function ticker() {
  setInterval(() => {
    for (const el of document.querySelectorAll("[data-time]")) el.textContent = ago(Number(el.dataset.time));
  }, 1000);
}

async function boot() {
  status();
  search();
  ticker();
  try {
    const info = await node.chainInfo();
    node.slotMs = Number(info.params.slot_seconds) * 1000;
    document.getElementById("chain").textContent = info.name;
    document.title = `VCoin · ${info.name}`;
  } catch (error) {
    showError(error);
  }
  node.start();
  window.addEventListener("hashchange", route);
  await route();
}

boot();
