// Hand-made SVG charts: lines over block numbers and grouped bars.
// Every label is set with textContent.

import { float, h, num } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
const W = 480, H = 180, PAD = { left: 66, right: 10, top: 10, bottom: 24 };

// Tick labels with as many significant digits as the span needs, so that
// 450.0M and 450.1M (or 0.000012 and 0.000014) stay apart.
export function ticks(min, max) {
  const top = Math.max(Math.abs(min), Math.abs(max)) || 1;
  const digits = Math.min(8, Math.max(2, Math.ceil(Math.log10(top / ((max - min) || top))) + 2));
  const format = new Intl.NumberFormat("en", { notation: "compact", maximumSignificantDigits: digits });
  return (v) => format.format(v);
}

function svg(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function frame(title) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  root.append(svg("title", {}, title));
  return root;
}

function legend(series) {
  return h("div", { class: "legend" }, series.map((s, i) =>
    h("span", { class: `key s${i}` }, h("i", { "aria-hidden": "true" }), s.name)));
}

function scale(min, max, from, to) {
  const span = max - min || 1;
  return (v) => from + ((v - min) / span) * (to - from);
}

// series: [{name, points: [[x, y], ...]}]; y values are numbers (charts need no exactness)
export function lineChart(title, series, { yFormat = null, xLabel = "block" } = {}) {
  const all = series.flatMap((s) => s.points);
  const root = frame(title);
  if (all.length === 0) return h("figure", { class: "figure" }, h("figcaption", {}, title), h("p", { class: "empty" }, "no data yet"));
  const xs = all.map((p) => float(p[0])), ys = all.map((p) => float(p[1]));
  let [ymin, ymax] = [Math.min(...ys), Math.max(...ys)];
  if (ymin === ymax) { // a flat series sits mid-chart
    const pad = Math.abs(ymin) * 0.01 || 1;
    [ymin, ymax] = [ymin >= 0 && ymin - pad < 0 ? 0 : ymin - pad, ymax + pad];
  }
  yFormat = yFormat || ticks(ymin, ymax);
  const x = scale(Math.min(...xs), Math.max(...xs), PAD.left, W - PAD.right);
  const y = scale(ymin, ymax, H - PAD.bottom, PAD.top);
  for (const v of [ymin, (ymin + ymax) / 2, ymax]) {
    root.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "grid" }));
    root.append(svg("text", { x: PAD.left - 4, y: y(v) + 4, class: "tick", "text-anchor": "end" }, yFormat(v)));
  }
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  root.append(svg("text", { x: PAD.left, y: H - 6, class: "tick" }, `${xLabel} ${num(x0)}`));
  root.append(svg("text", { x: W - PAD.right, y: H - 6, class: "tick", "text-anchor": "end" }, `${num(x1)}`));
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${x(float(p[0])).toFixed(1)},${y(float(p[1])).toFixed(1)}`).join("");
    root.append(svg("path", { d, class: `line s${i}` }));
  });
  return h("figure", { class: "figure" }, h("figcaption", {}, title), root, series.length > 1 ? legend(series) : null);
}

// groups: [{label, values: [n per series]}]
export function barChart(title, names, groups, { yFormat = null } = {}) {
  const root = frame(title);
  if (groups.length === 0) return h("figure", { class: "figure" }, h("figcaption", {}, title), h("p", { class: "empty" }, "no data yet"));
  const max = Math.max(1, ...groups.flatMap((g) => g.values.map(float)));
  const y = scale(0, max, H - PAD.bottom, PAD.top);
  yFormat = yFormat || ticks(0, max);
  for (const v of [0, max / 2, max]) {
    root.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "grid" }));
    root.append(svg("text", { x: PAD.left - 4, y: y(v) + 4, class: "tick", "text-anchor": "end" }, yFormat(v)));
  }
  const slot = (W - PAD.left - PAD.right) / groups.length;
  const bar = Math.max(1, (slot * 0.8) / names.length);
  const every = Math.ceil(groups.length / 8); // at most 8 labels so they never overlap
  groups.forEach((g, i) => {
    g.values.forEach((v, j) => {
      const top = y(float(v));
      const rect = svg("rect", { x: PAD.left + i * slot + slot * 0.1 + j * bar, y: top, width: bar,
                                 height: Math.max(0, H - PAD.bottom - top), class: `bar s${j}` });
      rect.append(svg("title", {}, `${g.label}: ${names[j]} ${num(v)}`));
      root.append(rect);
    });
    if (i % every === 0) {
      root.append(svg("text", { x: PAD.left + i * slot + slot / 2, y: H - 6, class: "tick", "text-anchor": "middle" }, g.label));
    }
  });
  return h("figure", { class: "figure" }, h("figcaption", {}, title), root, names.length > 1 ? legend(names.map((name) => ({ name }))) : null);
}

// One horizontal bar per outcome, as a share of the largest.
export function outcomes(title, rows) {
  const max = Math.max(1, ...rows.map((r) => float(r[1])));
  return h("figure", { class: "figure" }, h("figcaption", {}, title),
    h("div", { class: "hbars" }, rows.map(([label, value, kind]) => {
      const bar = h("div", { class: `hbar ${kind || ""}` });
      bar.style.width = `${((float(value) / max) * 100).toFixed(1)}%`;
      return h("div", { class: "hrow" }, h("span", { class: "hlabel" }, label), h("span", { class: "htrack" }, bar),
        h("span", { class: "hvalue" }, num(value)));
    })));
}

// Per-era differences of running totals: points carry `era` and the totals.
export function perEra(points, names) {
  const last = new Map();
  for (const p of points) last.set(Number(p.era), p);
  const eras = [...last.keys()].sort((a, b) => a - b);
  let previous = null;
  const groups = [];
  for (const era of eras) {
    const p = last.get(era);
    groups.push({ label: `era ${era}`, values: names.map((n) => float(p[n]) - (previous ? float(previous[n]) : 0)) });
    previous = p;
  }
  return groups;
}
