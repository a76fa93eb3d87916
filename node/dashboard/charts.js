// Charts from the node's history index: thinned series, never a chain scan.

import { RpcError } from "./rpc.js";
import { barChart, perEra } from "./chart.js";
import { supplyCharts } from "./summary.js";
import { earningsChart } from "./account.js";
import { knownProviders, verificationChart } from "./market.js";
import { account, clear, empty, h, num, section } from "./dom.js";

export async function chartsPage(ctx) {
  const { node } = ctx;
  const [history, jobs] = await node.batch([
    { method: "vcoin_history", params: [{ points: 1000 }] }, { method: "vcoin_jobs", params: [{}, 50] },
  ]);
  if (history instanceof RpcError) throw history;
  const providers = await knownProviders(node, jobs instanceof RpcError ? [] : jobs);
  const earnings = await node.batch(providers.slice(0, 4).map((p) => ({ method: "vcoin_providerHistory", params: [p.address, { points: 200 }] })));
  if (!ctx.alive) return;
  const points = history.points;
  const latest = points[points.length - 1];
  clear(ctx.main, h("h1", { class: "page-title" }, "Charts"),
    h("p", { class: "hint" }, `${num(points.length)} points from the node's history index (one per block for the last 2,048, thinned before), up to #${num(history.indexedTo)}.`),
    section("Supply over blocks", supplyCharts(points.filter((p, i) => i % Math.ceil(points.length / 200) === 0 || i === points.length - 1))),
    section("Per era", h("div", { class: "charts" },
      barChart("Jobs submitted and settled per era", ["submitted", "settled"], perEra(points, ["jobsSubmitted", "jobsSettled"])),
      barChart("Requests served per era", ["requests"], perEra(points, ["requestsServed"])),
      barChart("Transfers and extrinsics per era", ["transfers", "extrinsics"], perEra(points, ["transfers", "extrinsics"])))),
    latest ? section("Verification", verificationChart(latest)) : null,
    section("Providers' earnings", providers.length ? h("div", { class: "charts" }, providers.slice(0, 4).map((p, i) =>
      earnings[i] instanceof RpcError ? null : h("div", {}, h("p", {}, account(p.address)), earningsChart(earnings[i].points))))
      : empty("No provider found.")));
}
