// The compute market: models, providers, jobs, sessions, verification; one job's timeline.

import { RpcError } from "./rpc.js";
import { outcomes } from "./chart.js";
import {
  account, badge, blockLink, clear, compact, empty, h, jobLink, link, num, pairs, percent, section, short, table, vc,
} from "./dom.js";

export const STEPS = ["submitted", "assigned", "committed", "revealed", "checked", "settled"];
const FINAL = new Set(["settled", "refunded", "rejected"]);
const CHECK = {
  none: "—", waiting: "sampling draw pending", notSampled: "not sampled", open: "re-executing",
  disputed: "disputed", passed: "passed", failed: "failed", expired: "verifier silent",
};
const CHECK_KIND = { passed: "ok", notSampled: "muted", failed: "bad", disputed: "warn", open: "warn", expired: "warn" };

export function checkBadge(verification) {
  if (!verification || verification === "none") return "—";
  return badge(CHECK[verification] || verification, CHECK_KIND[verification] || "muted");
}

export function statusBadge(status) {
  const kind = { settled: "ok", refunded: "muted", rejected: "bad", pending: "warn" }[status] || "info";
  return badge(status, kind);
}

// Where a job is on submitted → … → settled, from its record alone.
function reached(job) {
  let n = 1;
  if (job.assignedAt) n = 2;
  if (job.committedAt) n = 3;
  if (job.revealedAt) n = 4;
  if (job.check && job.check !== "none" && job.check !== "open" && job.check !== "disputed") n = 5;
  if (FINAL.has(job.status)) n = 6;
  return n;
}

function dots(job) {
  const n = reached(job);
  return h("span", { class: "dots", title: STEPS.slice(0, n).join(" → ") },
    STEPS.map((step, i) => h("i", { class: i < n ? (i === 5 && job.status !== "settled" ? "bad" : "on") : "" })));
}

export function jobsTable(jobs, models, brief = false, verdicts = null) {
  if (!jobs.length) return empty("No jobs yet.");
  const name = (hash) => (models && models.get(hash)) || short(hash, 8, 4);
  const columns = [
    ["Job", (j) => jobLink(j.id)],
    [["Kind", "wide"], (j) => j.kind],
    !brief && [["Model", "wide"], (j) => name(j.model)],
    ["Status", (j) => statusBadge(j.status)],
    ["Timeline", dots],
    !brief && ["Verification", (j) => checkBadge(verdicts ? verdicts.get(Number(j.id)) : j.check)],
    !brief && [["Provider", "wide"], (j) => account(j.provider)],
    [["Fee", "wide"], (j) => (j.fee ? vc(j.fee, 6) : h("span", { class: "muted" }, "≤ ", vc(j.maxFee, 4)))],
  ].filter(Boolean);
  return table(columns.map((c) => c[0]), jobs.map((j) => ({ attrs: { "data-job": j.id }, cells: columns.map((c) => c[1](j)) })));
}

// Registered providers (`vcoin_providerSet`, a page of 100), and whoever
// served a listed job or session beyond that page.
export async function knownProviders(node, jobs = [], sessions = []) {
  const listed = await node.call("vcoin_providerSet", [100]);
  const seen = new Set(listed.map((p) => p.address));
  const more = [];
  for (const j of jobs) if (j.provider && !seen.has(j.provider)) { seen.add(j.provider); more.push(j.provider); }
  for (const s of sessions) if (s.provider && !seen.has(s.provider)) { seen.add(s.provider); more.push(s.provider); }
  const addresses = more.slice(0, 50);
  const found = addresses.length ? await node.batch(addresses.map((a) => ({ method: "vcoin_provider", params: [a] }))) : [];
  const extra = addresses.map((address, i) => ({ address, ...found[i] }))
    .filter((p, i) => !(found[i] instanceof RpcError) && p.models.length > 0);
  return [...listed, ...extra];
}

export async function modelNames(node) {
  const models = await node.call("vcoin_models", [200]);
  return { list: models, names: new Map(models.map((m) => [m.hash, m.name])) };
}

function providersTable(providers, names, era) {
  if (!providers.length) return empty("No provider found.");
  return table(["Provider", "Reputation", "Online", "Price / unit", ["GPU memory", "wide"], ["Stake", "wide"],
    ["Jobs done / failed", "wide"], ["Models", "wide"]], providers.map((p) => [
    account(p.address), percent(p.reputation),
    (p.online ?? Number(p.lastSeenEra) >= era - 1) ? badge("online", "ok") : badge("offline", "muted"),
    vc(p.price, 9), `${num(p.memoryMb)} MB`, vc(p.stake, 0), `${num(p.jobsDone)} / ${num(p.jobsFailed)}`,
    p.models.map((m) => names.get(m) || short(m, 8, 4)).join(", "),
  ]));
}

function modelsTable(models, providers) {
  if (!models.length) return empty("No model registered.");
  return table(["Model", ["Hash", "wide"], "Kind", "Size", ["Memory", "wide"], "Providers"], models.map((m) => [
    m.name, h("span", { class: "mono", title: m.hash }, short(m.hash, 10, 4)), m.kind, `${compact(m.params)} params`,
    `${num(m.memoryMb)} MB`, num(providers.filter((p) => p.models.includes(m.hash)).length),
  ]));
}

function sessionsTable(sessions, names) {
  if (!sessions.length) return empty("No live session.");
  return table(["Session", "User", ["Provider", "wide"], ["Model", "wide"], "Requests", ["Paid / deposit", "wide"], "Status", ["Batches", "wide"]],
    sessions.map((s) => [
      `#${s.id}`, account(s.user), account(s.provider), names.get(s.model) || short(s.model, 8, 4),
      num(s.count), h("span", {}, vc(s.paid, 4), " / ", vc(s.deposit, 2)), badge(s.status, s.status === "open" ? "ok" : "warn"),
      num(s.batches),
    ]));
}

export function verificationChart(p) {
  return outcomes("Verification outcomes (all time)", [
    ["jobs settled", p.jobsSettled, "ok"], ["checks opened", p.checksOpened, "info"], ["checks passed", p.checksPassed, "ok"],
    ["checks failed", p.checksFailed, "bad"], ["checks expired", p.checksExpired, "warn"], ["disputes", p.disputes, "warn"],
    ["known answers passed", p.knownAnswersPassed, "ok"], ["known answers failed", p.knownAnswersFailed, "bad"],
    ["batches verified", p.batchesVerified, "ok"], ["batches rejected", p.batchesRejected, "bad"],
    ["slashes", p.slashes, "bad"],
  ]);
}

export async function marketPage(ctx) {
  const { node } = ctx;
  const start = ctx.params[0] === undefined ? null : Number(ctx.params[0]);
  const render = async () => {
    const [page, sessions, history, summary] = await node.batch([
      { method: "vcoin_jobsPage", params: [{}, 25, start] },
      { method: "vcoin_sessions", params: [{}, 25] },
      { method: "vcoin_history", params: [{ points: 2 }] },
      { method: "vcoin_summary" },
    ]);
    for (const a of [page, sessions, summary]) if (a instanceof RpcError) throw a;
    const { list, names } = await modelNames(node);
    const providers = await knownProviders(node, page.jobs, sessions);
    const lines = await node.batch(page.jobs.map((j) => ({ method: "vcoin_jobTimeline", params: [j.id] })));
    const verdicts = new Map(page.jobs.map((j, i) => [Number(j.id), lines[i] instanceof RpcError ? j.check : lines[i].verification]));
    if (!ctx.alive) return;
    const latest = history instanceof RpcError ? null : history.points[history.points.length - 1];
    const disputes = page.jobs.filter((j) => ["disputed", "failed"].includes(j.check) || j.status === "rejected");
    clear(ctx.main, h("h1", { class: "page-title" }, "Market"),
      section("Models", modelsTable(list, providers)),
      section("Providers", providersTable(providers, names, Number(summary.era.index))),
      section(start === null ? "Jobs (newest first)" : `Jobs below #${start}`,
        h("p", { class: "hint" }, "Timeline: submitted → assigned → committed → revealed → checked → settled. A known-answer test looks like any other job until its validator opens it."),
        jobsTable(page.jobs, names, false, verdicts),
        h("div", { class: "pager" }, start !== null ? link("market", "← Newest") : null,
          page.next !== null && page.next > 0 ? link(`market/${page.next}`, "Older →") : null)),
      section("Sessions", sessionsTable(sessions, names)),
      section("Disputes", disputes.length ? table(["Job", "Provider", "Check", "Verdict"], disputes.map((j) => [
        jobLink(j.id), account(j.provider), checkBadge(j.check), statusBadge(j.status)])) : empty("No dispute among these jobs."),
      latest ? h("p", { class: "hint" }, `${num(latest.disputes)} disputes, ${num(latest.checksFailed)} failed checks and ${num(latest.slashes)} slashes in all.`) : null),
      latest ? section("Verification", verificationChart(latest)) : null);
  };
  await render();
  if (start === null) ctx.live(render);
}

function stepState(timeline, job) {
  const at = new Map(timeline.steps.map((s) => [s.step, s]));
  const v = timeline.verification;
  const last = timeline.steps[timeline.steps.length - 1];
  const final = FINAL.has(job.status) ? job.status : null;
  return STEPS.map((step) => {
    if (step === "checked") {
      const done = ["notSampled", "passed", "failed", "expired"].includes(v);
      const active = ["waiting", "open", "disputed"].includes(v);
      const note = v === "none" ? (final ? "—" : "") : CHECK[v] || v;
      return { step, state: done ? "done" : active ? "current" : final ? "skipped" : "pending", note,
        at: at.get("checked") ? at.get("checked").deadline : null, deadline: !!at.get("checked") };
    }
    if (step === "settled") {
      const label = final || "settled";
      return { step: label, state: final ? (final === "settled" ? "done" : "failed") : "pending", note: "", at: null };
    }
    const found = at.get(step);
    if (found) return { step, state: "done", at: found.at, note: "" };
    const upcoming = !final && last && STEPS.indexOf(last.step) === STEPS.indexOf(step) - 1;
    return { step, state: final ? "skipped" : upcoming ? "current" : "pending", at: null, note: "" };
  });
}

export function timelineView(timeline, job) {
  return h("ol", { class: "timeline", "data-testid": "timeline" }, stepState(timeline, job).map((s) =>
    h("li", { class: `step ${s.state}`, "data-step": s.step, "data-state": s.state },
      h("span", { class: "dot", "aria-hidden": "true" }),
      h("span", { class: "name" }, s.step),
      h("span", { class: "when" }, s.at ? (s.deadline ? h("span", {}, "by ", blockLink(s.at)) : blockLink(s.at)) : "",
        s.note ? h("span", { class: "note" }, " ", s.note) : ""))));
}

export async function jobPage(ctx) {
  const { node } = ctx;
  const id = Number(ctx.params[0]);
  const render = async () => {
    const [job, timeline] = await node.batch([
      { method: "vcoin_job", params: [id] }, { method: "vcoin_jobTimeline", params: [id] },
    ]);
    if (job instanceof RpcError) throw new Error(`No job ${id}: ${job.message}`);
    if (timeline instanceof RpcError) throw timeline;
    let model = job.model;
    try { model = (await node.call("vcoin_model", [job.model])).name; } catch { /* a removed model keeps its hash */ }
    if (!ctx.alive) return true;
    clear(ctx.main,
      section(`Job ${id}`,
        h("div", { class: "job-head" }, statusBadge(job.status), " ", h("span", { "data-testid": "verification" }, checkBadge(timeline.verification))),
        timelineView(timeline, job)),
      section("Details", pairs([
        ["Kind", job.kind], ["Model", h("span", { title: job.model }, model)],
        ["Submitter", account(job.submitter)], ["Provider", account(job.provider)],
        ["Submitted in", blockLink(job.created)], ["Deadline", blockLink(job.deadline)],
        ["Work units", num(job.units)], ["Price / unit", job.price ? vc(job.price, 9) : "—"],
        ["Fee", job.fee ? vc(job.fee, 9) : "—"], ["Max fee", vc(job.maxFee, 9)],
        ["Min reputation", percent(job.minReputation)], ["Attempts", num(job.attempts)],
        ["Input", h("span", { class: "mono wrap" }, `${job.inputHash} (${num(job.inputSize)} bytes)`)],
        ["Result", job.resultHash ? h("span", { class: "mono wrap" }, job.resultHash) : "—"],
      ])));
    return FINAL.has(job.status) && !["waiting", "open", "disputed"].includes(timeline.verification);
  };
  const done = await render();
  if (!done) ctx.live(async () => { if (await render()) ctx.end(); });
}
