// The blocks list (paged, newest first) and one block decoded.

import { RpcError } from "./rpc.js";
import {
  account, age, badge, blockLink, clear, empty, h, jobLink, jsonText, link, num, pairs, section, short, table, vc,
} from "./dom.js";

export const PAGE = 25;

// Headers of blocks top, top-1, ... (count of them) with their extrinsic
// counts where the history index still keeps every block (the recent ones).
export async function recentBlocks(node, top, count) {
  const numbers = [];
  for (let n = top; n >= 0 && numbers.length < count; n--) numbers.push(n);
  if (numbers.length === 0) return [];
  const hashes = await node.batch(numbers.map((n) => ({ method: "chain_getBlockHash", params: [n] })));
  const known = hashes.map((hash, i) => [numbers[i], hash]).filter(([, hash]) => typeof hash === "string");
  const low = Math.max(0, numbers[numbers.length - 1] - 1);
  const answers = await node.batch([
    { method: "vcoin_history", params: [{ from: low, to: top, points: 1000 }] },
    ...known.map(([, hash]) => ({ method: "chain_getHeader", params: [hash] })),
  ]);
  const history = answers[0] instanceof RpcError ? { points: [] } : answers[0];
  const points = new Map(history.points.map((p) => [Number(p.number), p]));
  return answers.slice(1).filter((header) => !(header instanceof RpcError)).map((header) => {
    const n = Number(header.number), here = points.get(n), before = points.get(n - 1);
    const extrinsics = here && (before || n === 0) ? Number(here.extrinsics) - (before ? Number(before.extrinsics) : 0) : null;
    return { ...header, extrinsics };
  });
}

export function blocksTable(blocks, finalized, slotSeconds) {
  return table(["Block", ["Hash", "wide"], "Author", "Extrinsics", "Age"], blocks.map((b) => ({
    attrs: { "data-number": b.number },
    cells: [
      h("span", {}, blockLink(b.number), " ", Number(b.number) <= finalized ? badge("final", "ok") : badge("new", "muted")),
      link(`block/${b.hash}`, short(b.hash, 10, 6), { class: "mono" }),
      account(b.author),
      b.extrinsics === null ? "—" : num(b.extrinsics),
      age(Number(b.slot) * slotSeconds),
    ],
  })), { class: "blocks" });
}

export async function blocksPage(ctx) {
  const { node } = ctx;
  const info = await node.chainInfo();
  const slotSeconds = Number(info.params.slot_seconds);
  const from = ctx.params[0] === undefined ? null : Number(ctx.params[0]);
  const panel = section("Blocks");
  clear(ctx.main, panel);
  const render = async () => {
    const health = await node.call("system_health");
    const top = from === null ? Number(health.bestNumber) : Math.min(from, Number(health.bestNumber));
    const blocks = await recentBlocks(node, top, PAGE);
    if (!ctx.alive) return;
    const older = top - PAGE >= 0 ? link(`blocks/${top - PAGE}`, "Older →") : null;
    const newer = from !== null ? link(top + PAGE >= Number(health.bestNumber) ? "blocks" : `blocks/${top + PAGE}`, "← Newer") : null;
    clear(panel, h("h2", {}, "Blocks"),
      h("p", { class: "hint" }, from === null ? "Live: the newest blocks arrive as they are imported." : `From block #${num(top)} down.`),
      blocksTable(blocks, Number(health.finalizedNumber), slotSeconds),
      h("div", { class: "pager" }, newer, older));
  };
  await render();
  if (from === null) ctx.live(render);
}

function value(key, v) {
  if (typeof v === "string" && /^vc1[a-z0-9]{20,}$/.test(v)) return account(v);
  if (key === "job" && (typeof v === "number" || typeof v === "bigint")) return jobLink(v);
  if (["amount", "fee", "max_fee", "value", "deposit", "price", "tip", "refunded", "reward"].includes(key) &&
      (typeof v === "number" || typeof v === "bigint")) return vc(v, 9);
  if (v !== null && typeof v === "object") return h("code", { class: "json" }, jsonText(v));
  return h("span", { class: typeof v === "string" && v.startsWith("0x") ? "mono" : "" }, String(v));
}

function args(data) {
  const entries = Object.entries(data || {});
  if (entries.length === 0) return null;
  return h("dl", { class: "args" }, entries.map(([k, v]) => [h("dt", {}, k), h("dd", {}, value(k, v))]));
}

function eventItem(e) {
  return h("li", { class: "event" }, h("span", { class: "call" }, `${e.pallet}.${e.name}`), args(e.data));
}

function extrinsicCard(x, events) {
  const own = events.filter((e) => e.index === x.index && e.pallet !== "system");
  const outcome = x.success ? badge("success", "ok") : badge(x.error ? `failed: ${x.error}` : "failed", "bad");
  return h("article", { class: "extrinsic", "data-index": x.index },
    h("header", {}, h("span", { class: "index" }, `#${x.index}`), " ",
      h("span", { class: "call" }, x.pallet ? `${x.pallet}.${x.call}` : "undecodable"), " ", outcome),
    pairs([
      ["Signer", account(x.signer)],
      ["Nonce", num(x.nonce)],
      ["Fee", x.fee === null || x.fee === undefined ? "—" : vc(x.fee, 9)],
      x.tip ? ["Tip", vc(x.tip, 9)] : null,
      ["Hash", h("span", { class: "mono wrap" }, x.hash)],
      x.detail ? ["Detail", String(x.detail)] : null,
    ]),
    x.args ? h("div", { class: "sub" }, h("h4", {}, "Arguments"), args(x.args)) : null,
    own.length ? h("div", { class: "sub" }, h("h4", {}, "Events"), h("ul", { class: "events" }, own.map(eventItem))) : null);
}

const SHOWN = 50; // a full block holds thousands: the rest on request

function extrinsicList(detail) {
  const all = detail.extrinsics;
  if (!all.length) return empty("No extrinsics in this block.");
  const list = h("div", {}, all.slice(0, SHOWN).map((x) => extrinsicCard(x, detail.events)));
  if (all.length <= SHOWN) return list;
  const more = h("button", { type: "button", class: "more" }, `Show all ${num(all.length)}`);
  more.addEventListener("click", () => {
    list.append(...all.slice(SHOWN).map((x) => extrinsicCard(x, detail.events)));
    more.remove();
  });
  return [list, more];
}

export async function blockPage(ctx) {
  const { node } = ctx;
  const raw = ctx.params[0];
  const at = /^\d+$/.test(raw) ? Number(raw) : raw;
  const render = async () => {
    const detail = await node.call("vcoin_blockDetail", [at]);
    if (!ctx.alive) return detail;
    const head = detail.header, n = Number(head.number);
    const status = !detail.canonical ? badge("not on the best chain", "bad")
      : detail.finalized ? badge("finalized", "ok") : badge("not yet finalized", "warn");
    const blockEvents = detail.events.filter((e) => e.index === null || e.index === undefined);
    clear(ctx.main,
      section(`Block #${num(n)}`,
        h("div", { class: "pager" }, n > 0 ? blockLink(n - 1, "← previous") : null, node.best && Number(node.best.number) > n ? blockLink(n + 1, "next →") : null),
        pairs([
          ["Status", h("span", { "data-testid": "block-status" }, status)],
          ["Hash", h("span", { class: "mono wrap" }, head.hash)],
          ["Parent", link(`block/${head.parentHash}`, short(head.parentHash, 10, 8), { class: "mono" })],
          ["Author", account(head.author)],
          ["Slot", num(head.slot)],
          ["Time", h("span", {}, new Date(Number(detail.time) * 1000).toISOString().replace(".000Z", "Z"), " (", age(detail.time), ")")],
          ["State root", h("span", { class: "mono wrap" }, head.stateRoot)],
          ["Extrinsics root", h("span", { class: "mono wrap" }, head.extrinsicsRoot)],
          ["Justified by", detail.justifiedBy ? h("span", {}, detail.justifiedBy.map((a) => [account(a), " "])) : "a later block's justification"],
        ])),
      section(`Extrinsics (${detail.extrinsics.length})`, extrinsicList(detail)),
      section(`Block events (${blockEvents.length})`,
        blockEvents.length ? h("ul", { class: "events" }, blockEvents.map(eventItem))
          : empty(detail.eventsPruned ? "Pruned with the block's state: this node keeps the recent states only."
            : "None: every event belongs to an extrinsic.")));
    return detail;
  };
  let detail;
  try {
    detail = await render();
  } catch (error) {
    if (error instanceof RpcError) throw new Error(`No such block: ${raw} (${error.message})`);
    throw error;
  }
  // a block not yet final (or one on a fork) changes status: follow finality
  if (!detail.finalized) ctx.live(async () => { const d = await render(); if (d.finalized) ctx.end(); }, "finalized");
}
