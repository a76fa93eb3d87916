// DOM building and number formatting. Chain data is attacker-controlled:
// it only ever becomes text nodes and attribute values, never markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// Only the page's own hash routes become links.
export function link(route, text, attrs = {}) {
  return h("a", { ...attrs, href: "#/" + route.split("/").map(encodeURIComponent).join("/") }, text);
}

export const big = (v) => (typeof v === "bigint" ? v : BigInt(Math.trunc(Number(v ?? 0))));
export const float = (v) => Number(v ?? 0);
const UNIT = 1_000_000_000n;

function group(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

// An amount in base units as VCoin: `places` decimals shown, the exact figure in the title.
export function vc(value, places = 4) {
  const amount = big(value);
  const sign = amount < 0n ? "-" : "";
  const abs = amount < 0n ? -amount : amount;
  const whole = abs / UNIT;
  const frac = (abs % UNIT).toString().padStart(9, "0");
  let shown = frac.slice(0, places).replace(/0+$/, "");
  if (!shown && abs % UNIT !== 0n && whole === 0n) shown = frac.replace(/0+$/, "");
  const text = `${sign}${group(whole.toString())}${shown ? "." + shown : ""} VC`;
  return h("span", { class: "amount", title: `${sign}${group(whole.toString())}.${frac} VC` }, text);
}

export function vcText(value, places = 4) {
  return vc(value, places).textContent;
}

export function num(value) {
  if (value === null || value === undefined) return "—";
  return group(big(value).toString());
}

export function compact(value) {
  const n = float(value);
  const units = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
  for (const [size, suffix] of units) if (Math.abs(n) >= size) return (n / size).toFixed(1).replace(/\.0$/, "") + suffix;
  return String(Math.round(n * 100) / 100);
}

export function percent(ppm, digits = 1) {
  return (float(ppm) / 10000).toFixed(digits) + "%";
}

export function short(text, head = 8, tail = 6) {
  const s = String(text ?? "");
  return s.length <= head + tail + 1 ? s : `${s.slice(0, head)}…${s.slice(-tail)}`;
}

export function account(address, attrs = {}) {
  if (!address) return "—";
  return link(`account/${address}`, short(address, 10, 6), { title: address, class: "mono", ...attrs });
}

export function blockLink(number, text) {
  if (number === null || number === undefined) return "—";
  return link(`block/${number}`, text ?? `#${num(number)}`);
}

export function jobLink(id) {
  return link(`job/${id}`, `job ${id}`);
}

export function ago(seconds) {
  const s = Math.max(0, Math.round(Date.now() / 1000 - seconds));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// An age that the page's one-second ticker keeps current.
export function age(unixSeconds) {
  // time 0 is genesis, which has no time of its own
  if (Number(unixSeconds) <= 0) return h("span", { class: "age" }, "genesis");
  return h("span", { class: "age", "data-time": Number(unixSeconds) }, ago(Number(unixSeconds)));
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}`.trim() }, text);
}

export function section(title, ...children) {
  return h("section", { class: "panel" }, h("h2", {}, title), ...children);
}

export function table(headers, rows, attrs = {}) {
  // headers: [label] or [label, className]; a "wide" column hides on phones
  const head = h("tr", {}, headers.map((c) => (Array.isArray(c) ? h("th", { class: c[1] }, c[0]) : h("th", {}, c))));
  const body = rows.map((row) => h("tr", row.attrs || {}, (row.cells || row).map((cell, i) => {
    const cls = Array.isArray(headers[i]) ? headers[i][1] : null;
    return h("td", { class: cls }, cell);
  })));
  return h("div", { class: "table-wrap" }, h("table", attrs, h("thead", {}, head), h("tbody", {}, body)));
}

export function pairs(rows) {
  return h("dl", { class: "pairs" }, rows.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

export function progress(value, total, label) {
  const share = total > 0 ? Math.min(1, Math.max(0, float(value) / float(total))) : 0;
  const bar = h("div", { class: "bar" });
  bar.style.width = `${(share * 100).toFixed(1)}%`; // CSSOM, which the CSP's style-src allows
  return h("div", { class: "progress", role: "progressbar", "aria-valuenow": Math.round(share * 100),
                     "aria-valuemin": 0, "aria-valuemax": 100, title: label || "" }, bar);
}

// Any JSON value as short text (BigInt included).
export function jsonText(value) {
  return JSON.stringify(value, (k, v) => (typeof v === "bigint" ? v.toString() : v));
}
