// The summary: the chain and the market at a glance, live.

import { RpcError } from "./rpc.js";
import { recentBlocks, blocksTable } from "./blocks.js";
import { lineChart } from "./chart.js";
import { jobsTable } from "./market.js";
import {
  account, age, badge, clear, duration, h, link, num, percent, progress, section, table, vc,
} from "./dom.js";

function card(label, value, note, testid) {
  return h("div", { class: "card", "data-testid": testid || null }, h("div", { class: "label" }, label),
    h("div", { class: "value" }, value), note ? h("div", { class: "note" }, note) : null);
}

export function supplyCharts(points) {
  const series = (name) => points.map((p) => [p.number, Number(p[name]) / 1e9]);
  return h("div", { class: "charts" },
    lineChart("Minted (VC)", [{ name: "minted", points: series("minted") }]),
    lineChart("Burned (VC)", [{ name: "burned", points: series("burned") }]),
    lineChart("Reward pool (VC)", [{ name: "reward pool", points: series("rewardPool") }]));
}

export function validatorsTable(validators) {
  return table(["Validator", "Bonded", ["Blocks", "wide"], ["Last vote", "wide"], "Slashes"], validators.map((v) => [
    h("span", {}, account(v.address), " ", v.active ? badge("active", "ok") : badge("candidate", "muted")),
    vc(v.bonded, 0),
    num(v.authored),
    v.votedLastJustification === null ? "—" : v.votedLastJustification ? badge("voted", "ok") : badge("missing", "warn"),
    v.slashes ? h("span", {}, num(v.slashes), " (", vc(v.slashed, 2), ")") : "0",
  ]));
}

export async function summaryPage(ctx) {
  const { node } = ctx;
  const cards = h("div", { class: "cards", "data-testid": "summary-cards" });
  const blocksPanel = section("Latest blocks");
  const jobsPanel = section("Latest jobs");
  const chartPanel = section("Supply over blocks");
  const validatorsPanel = section("Validators");
  clear(ctx.main, h("h1", { class: "page-title" }, "Summary"), cards,
    h("div", { class: "columns" }, blocksPanel, jobsPanel), chartPanel, validatorsPanel);
  let heads = 0;

  const renderCards = async () => {
    const [s, health] = await node.batch([{ method: "vcoin_summary" }, { method: "system_health" }]);
    if (s instanceof RpcError) throw s;
    const blocks = await recentBlocks(node, Number(s.best.number), 10);
    const jobs = await node.call("vcoin_jobs", [{}, 8]);
    if (!ctx.alive) return s;
    const slot = Number(s.slotSeconds);
    // genesis has slot 0, not a time: a chain's first blocks would show decades between blocks
    const timed = blocks.filter((b) => Number(b.number) > 0);
    const last = timed.length > 1 ? (Number(timed[0].slot) - Number(timed[1].slot)) * slot : null;
    const span = timed.length > 1 ? ((Number(timed[0].slot) - Number(timed[timed.length - 1].slot)) * slot) / (timed.length - 1) : null;
    const lag = Number(s.best.number) - Number(s.finalized.number);
    const supply = s.supply;
    clear(cards,
      card("Best block", h("span", { "data-testid": "best-number", "data-number": s.best.number }, `#${num(s.best.number)}`), age(s.best.time), "best"),
      card("Finalized", h("span", { "data-testid": "finalized-number" }, `#${num(s.finalized.number)}`),
        h("span", {}, `${lag} behind · `, age(s.finalized.time))),
      card("Block time", last === null ? "—" : `${duration(last)}`,
        `slot ${slot} s${span === null ? "" : ` · mean ${span.toFixed(2)} s over ${timed.length - 1}`}`),
      card("Era", `${num(s.era.index)}`, h("span", {}, progress(s.era.progress, s.era.length, `${s.era.progress} of ${s.era.length} blocks`),
        `${num(s.era.progress)} / ${num(s.era.length)} blocks`)),
      card("Peers", num(s.peers), s.isSyncing ? badge("syncing", "warn") : "in sync"),
      card("Minted", vc(supply.minted, 0), h("span", {}, "of cap ", vc(supply.cap, 0))),
      card("Burned", vc(supply.burned, 4), "job fees' burn"),
      card("Reward pool", vc(supply.rewardPool, 0), "compute rewards still to emit"),
      card("Issuance", vc(supply.issuance, 0), percent((Number(supply.issuance) / Number(supply.cap)) * 1e6) + " of cap"),
      card("Total staked", vc(s.totalStaked, 0), null),
      card("Validators", num(s.validators), `${num(s.candidates)} candidates`),
      card("Providers online", `${num(s.providers.online)} / ${num(s.providers.registered)}`, s.providers.complete ? "registered" : "first models only"),
      card("Jobs running", num(s.jobs.running), `${num(s.jobs.submitted)} submitted`),
      card("Sessions running", num(s.sessions.running), `${num(s.sessions.opened)} opened`),
      card("Requests today", num(s.requestsServedToday), `${num(s.requestsServed)} in all`),
      card("Slashes this era", num(s.slashesThisEra), s.indexedTo !== null && Number(s.indexedTo) < Number(s.best.number) ? `index at #${num(s.indexedTo)}` : null),
    );
    if (!(health instanceof RpcError)) cards.dataset.health = health.bestNumber;
    clear(blocksPanel, h("h2", {}, "Latest blocks"), blocksTable(blocks, Number(s.finalized.number), slot),
      h("div", { class: "pager" }, link("blocks", "All blocks →")));
    clear(jobsPanel, h("h2", {}, "Latest jobs"), jobsTable(jobs, null, true), h("div", { class: "pager" }, link("market", "Market →")));
    return s;
  };

  const renderSlow = async (s) => {
    const [history, validators] = await node.batch([
      { method: "vcoin_history", params: [{ points: 120 }] },
      { method: "vcoin_validatorSet", params: [20] },
    ]);
    if (!ctx.alive) return;
    if (!(history instanceof RpcError)) {
      clear(chartPanel, h("h2", {}, "Supply over blocks"), supplyCharts(history.points),
        h("p", { class: "hint" }, `${history.points.length} points from the node's history index (stride ${history.stride}) up to #${num(history.indexedTo)}.`),
        h("div", { class: "pager" }, link("charts", "More charts →")));
    }
    if (!(validators instanceof RpcError)) clear(validatorsPanel, h("h2", {}, "Validators"), validatorsTable(validators));
    void s;
  };

  const s = await renderCards();
  await renderSlow(s);
  ctx.live(async () => {
    const fresh = await renderCards();
    if (++heads % 10 === 0) await renderSlow(fresh);
  });
}
