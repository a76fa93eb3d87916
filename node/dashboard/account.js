// One account in full (balances, staking, vesting, jobs; a provider's and a
// validator's figures), and the list of accounts the page can find.

import { RpcError } from "./rpc.js";
import { lineChart } from "./chart.js";
import { jobsTable, knownProviders, modelNames } from "./market.js";
import { validatorsTable } from "./summary.js";
import {
  account, badge, blockLink, clear, empty, h, link, num, pairs, percent, progress, section, short, table, vc,
} from "./dom.js";

export function earningsChart(points) {
  const vcOf = (p, ...names) => names.reduce((sum, n) => sum + Number(p[n] || 0), 0) / 1e9;
  return lineChart("Earnings over blocks (VC, running totals)", [
    { name: "block rewards", points: points.map((p) => [p.number, vcOf(p, "rewards")]) },
    { name: "job fees", points: points.map((p) => [p.number, vcOf(p, "jobFees")]) },
    { name: "session fees", points: points.map((p) => [p.number, vcOf(p, "sessionFees")]) },
  ]);
}

function reputationChart(points) {
  // points older than this node's index of reputations have none
  const kept = points.filter((p) => p.reputation !== undefined);
  if (!kept.length) return null;
  return lineChart("Reputation (%)", [{ name: "reputation", points: kept.map((p) => [p.number, Number(p.reputation) / 1e4]) }]);
}

function sessionsList(sessions, names) {
  if (!sessions.length) return empty("No live session.");
  return table(["Session", "Role", ["Model", "wide"], "Requests", "Paid", "Status"], sessions.map((s) => [
    `#${s.id}`, s.role, names.get(s.model) || short(s.model, 8, 4), num(s.count), vc(s.paid, 4), badge(s.status, "muted")]));
}

export async function accountPage(ctx) {
  const { node } = ctx;
  const address = ctx.params[0];
  let charted = -1;
  const chartPanel = h("div", {});
  const render = async () => {
    let view;
    try {
      view = await node.call("vcoin_accountView", [address]);
    } catch (error) {
      if (error instanceof RpcError) throw new Error(`Not an account: ${address} (${error.message})`);
      throw error;
    }
    const isValidator = view.staking.role === "validator" || view.staking.active;
    const [models, validators] = await Promise.all([
      view.provider || view.jobs.length || view.sessions.length ? modelNames(node) : { names: new Map() },
      isValidator ? node.call("vcoin_validatorSet", [200]) : [],
    ]);
    const me = validators.find((v) => v.address === view.address);
    const total = [view.free, view.reserved, view.locked].reduce((a, b) => a + BigInt(b), 0n);
    const sessions = view.sessions.map((s) => ({ ...s, role: s.user === view.address ? "user" : "provider" }));
    const activity = view.activity;
    if (!ctx.alive) return;
    const p = view.provider;
    const v = view.vesting;
    clear(ctx.main,
      h("h1", { class: "page-title" }, "Account"),
      section("Address", h("p", { class: "mono wrap", "data-testid": "address" }, view.address),
        h("p", { class: "mono wrap muted" }, view.publicKey),
        h("div", {}, p ? badge("provider", "info") : null, " ", isValidator ? badge("validator", "info") : null)),
      section("Balances", h("div", { "data-testid": "balances" }, pairs([
        ["Free", h("span", { "data-testid": "free", "data-value": String(view.free) }, vc(view.free, 9))],
        ["Reserved", vc(view.reserved, 9)], ["Locked", vc(view.locked, 9)], ["Total", vc(total, 9)],
        ["Nonce", num(view.nonce)],
      ]))),
      section("Staking", pairs([
        ["Role", view.staking.role], ["Bonded", vc(view.staking.bonded, 4)],
        ["Unbonding", view.staking.unbondingChunks.length
          ? h("ul", {}, view.staking.unbondingChunks.map((c) => h("li", {}, vc(c.amount, 4), " unlocks at ", blockLink(c.unlocksAt))))
          : vc(view.staking.unbonding, 4)],
        ["Active validator", view.staking.active ? "yes" : "no"], ["Era", num(view.staking.era)],
      ])),
      v ? section("Vesting", pairs([
        ["Total", vc(v.total, 0)], ["Vested", h("span", {}, vc(v.vested, 0), progress(v.vested, v.total))],
        ["Released", vc(v.released, 0)], ["Starts", blockLink(v.start)], ["Cliff", `${num(v.cliff)} blocks`],
        ["Duration", `${num(v.duration)} blocks`],
      ])) : null,
      me ? section("Validator", pairs([
        ["Bonded", vc(me.bonded, 4)], ["Status", me.active ? badge("active", "ok") : badge("candidate", "muted")],
        ["Blocks authored", h("span", { "data-testid": "authored" }, num(me.authored))],
        ["Vote in the last justification", me.votedLastJustification === null ? "—" : me.votedLastJustification ? "yes" : "no"],
        ["Slashes", `${num(me.slashes)} (${vc(me.slashed, 4).textContent})`], ["Offences this era", num(me.offencesThisEra)],
      ])) : null,
      p ? section("Provider", h("div", { "data-testid": "provider" }, pairs([
        ["Status", p.online ? badge("online", "ok") : badge("offline", "muted")],
        ["Models", h("ul", { class: "plain" }, p.models.map((m) => h("li", {}, models.names.get(m) || short(m, 10, 6))))],
        ["Price / work unit", vc(p.price, 9)], ["Reputation", h("span", { "data-testid": "reputation" }, percent(p.reputation, 2))],
        ["GPU memory", `${num(p.memoryMb)} MB`], ["Stake", vc(p.stake, 4)],
        ["Jobs done / failed / open", `${num(p.jobsDone)} / ${num(p.jobsFailed)} / ${num(p.openJobs)}`],
        ["Slashes this era", num(p.slashes)], p.chilledUntil ? ["Chilled until era", num(p.chilledUntil)] : null,
        p.apiUrl ? ["API", h("span", { class: "mono wrap" }, p.apiUrl)] : null,
      ]))) : null,
      activity ? section("Earnings and work", pairs([
        ["Block rewards", vc(activity.rewards, 4)], ["Job fees (kept)", vc(activity.jobFees, 6)],
        ["Session fees (kept)", vc(activity.sessionFees, 6)], ["Clawed back", vc(activity.clawedBack, 6)],
        ["Work units", num(activity.units)], ["Jobs settled / failed", `${num(activity.jobsSettled)} / ${num(activity.jobsFailed)}`],
        ["Batches verified", num(activity.batchesVerified)], ["Verdicts given", num(activity.verdicts)],
        ["Slashes", `${num(activity.slashes)} (${vc(activity.slashed, 4).textContent})`], ["As of", blockLink(activity.number)],
      ]), chartPanel) : null,
      section("Jobs submitted", jobsTable(view.jobs, models.names)),
      section("Sessions", sessionsList(sessions, models.names)));
    if (activity && Number(activity.number) !== charted && (charted < 0 || Number(activity.number) - charted >= 10)) {
      charted = Number(activity.number);
      const history = await node.call("vcoin_providerHistory", [view.address, { points: 120 }]);
      if (ctx.alive) clear(chartPanel, earningsChart(history.points), reputationChart(history.points));
    }
  };
  await render();
  ctx.live(render);
}

export async function accountsPage(ctx) {
  const { node } = ctx;
  const [validators, constants] = await Promise.all([
    node.call("vcoin_validatorSet", [200]),
    fetch("constants.json").then((r) => r.json()),
  ]);
  const providers = await knownProviders(node, await node.call("vcoin_jobs", [{}, 50]));
  const treasury = Object.entries(constants.treasury);
  const balances = await node.batch(treasury.map(([, a]) => ({ method: "vcoin_account", params: [a] })));
  if (!ctx.alive) return;
  clear(ctx.main, h("h1", { class: "page-title" }, "Accounts"),
    section("Find an account", h("p", {}, "Search an address (vc1…) or a 0x public key in the box at the top.")),
    section("Validators", validatorsTable(validators)),
    section("Providers", providers.length ? table(["Provider", "Reputation", "Jobs done"], providers.map((p) => [
      account(p.address), percent(p.reputation), num(p.jobsDone)])) : empty("No provider found.")),
    section("Treasury", table(["Account", "Free"], treasury.map(([name, a], i) => [
      h("span", {}, name, " ", link(`account/${a}`, short(a, 10, 6), { class: "mono" })),
      balances[i] instanceof RpcError ? "—" : vc(balances[i].free, 0)]))));
}
