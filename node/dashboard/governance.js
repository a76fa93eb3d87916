// Governance: proposals with their tallies and time left; the treasury.

import { RpcError } from "./rpc.js";
import {
  account, badge, blockLink, clear, duration, empty, h, jsonText, num, pairs, percent, progress, section, vc,
} from "./dom.js";

const STATUS_KIND = { voting: "warn", passed: "ok", enacted: "ok", rejected: "muted", failed: "bad" };

function what(p, params) {
  const args = p.args || {};
  if (p.action === "set_param") {
    const now = params[args.name];
    return h("span", {}, "set ", h("code", {}, String(args.name)), " to ", h("code", {}, String(args.value)),
      now !== undefined ? h("span", { class: "muted" }, ` (now ${now})`) : null);
  }
  if (p.action === "treasury_spend") {
    return h("span", {}, "spend ", vc(args.amount ?? 0, 4), ` from ${args.source} to `, account(args.to));
  }
  if (p.action === "set_validator_count") return h("span", {}, "set the validator count to ", num(args.count));
  return h("code", {}, `${p.action} ${jsonText(args)}`);
}

function card(p, params, best, staked, slotSeconds) {
  const ayes = Number(p.ayes), nays = Number(p.nays), turnout = ayes + nays;
  const quorum = (Number(staked) * Number(params.quorum_ppm)) / 1e6;
  const left = Number(p.end) - best;
  return h("article", { class: "proposal", "data-proposal": p.id },
    h("header", {}, h("strong", {}, `#${p.id}`), " ", what(p, params), " ", badge(p.status, STATUS_KIND[p.status] || "muted")),
    pairs([
      ["Proposer", account(p.proposer)], ["Deposit", vc(p.deposit, 4)],
      ["Ayes", h("span", {}, vc(p.ayes, 0), " ", turnout ? `(${percent((ayes / turnout) * 1e6)})` : "")],
      ["Nays", vc(p.nays, 0)],
      ["Turnout", h("span", {}, progress(turnout, quorum || 1, "against the quorum"),
        `${percent(staked ? (turnout / Number(staked)) * 1e6 : 0)} of stake; quorum ${percent(params.quorum_ppm)}, approval ${percent(params.approval_ppm)}`)],
      p.status === "voting" ? ["Time left", left > 0 ? `${num(left)} blocks (~${duration(left * slotSeconds)}), ends at #${num(p.end)}` : "closing"]
        : ["Voting ended", blockLink(p.end)],
      p.enactAt ? ["Enacted at", blockLink(p.enactAt)] : null,
    ]));
}

export async function governancePage(ctx) {
  const { node } = ctx;
  const info = await node.chainInfo();
  const constants = await fetch("constants.json").then((r) => r.json());
  const treasury = Object.entries(constants.treasury);
  const render = async () => {
    const proposals = [];
    let start = null;
    for (let page = 0; page < 10; page++) { // 2,000 proposals at most: the page never walks an unbounded list
      const got = await node.call("vcoin_proposals", [200, start]);
      proposals.push(...got);
      if (got.length < 200) break;
      start = got[got.length - 1].id;
    }
    const [summary, ...balances] = await node.batch([
      { method: "vcoin_summary" }, ...treasury.map(([, a]) => ({ method: "vcoin_account", params: [a] })),
    ]);
    if (summary instanceof RpcError) throw summary;
    if (!ctx.alive) return;
    const best = Number(summary.best.number);
    const params = info.params;
    proposals.reverse();
    clear(ctx.main, h("h1", { class: "page-title" }, "Governance"),
      section("Proposals", proposals.length
        ? proposals.map((p) => card(p, params, best, summary.totalStaked, Number(params.slot_seconds)))
        : empty("No proposal yet. Anyone with stake may propose: vcoin gov propose …")),
      section("Rules", pairs([
        ["Voting period", `${num(params.voting_period)} blocks`], ["Enactment delay", `${num(params.enactment_delay)} blocks`],
        ["Quorum", percent(params.quorum_ppm)], ["Approval", percent(params.approval_ppm)],
        ["Deposit", vc(params.proposal_deposit, 4)], ["Total staked", vc(summary.totalStaked, 0)],
      ])),
      section("Treasury", pairs(treasury.map(([name, a], i) => [name,
        h("span", {}, balances[i] instanceof RpcError ? "—" : vc(balances[i].free, 0), " ", account(a))]))));
  };
  await render();
  ctx.live(render);
}
