// Search: an address, a block number or hash, an extrinsic hash, a job id.

import { RpcError } from "./rpc.js";
import { clear, empty, h, link, num, section, short } from "./dom.js";

async function candidates(node, q) {
  const found = [];
  const text = q.trim();
  const jobMatch = text.match(/^job\s*#?\s*(\d+)$/i);
  const blockMatch = text.match(/^(?:block\s*)?#\s*(\d+)$/i) || text.match(/^block\s+(\d+)$/i);
  if (/^vc1[a-z0-9]+$/i.test(text)) {
    const ok = await node.call("vcoin_account", [text.toLowerCase()]).then(() => true, () => false);
    if (ok) found.push([`account/${text.toLowerCase()}`, `Account ${short(text, 12, 6)}`]);
  } else if (/^0x[0-9a-f]{64}$/i.test(text)) {
    const hash = text.toLowerCase();
    const [block, tx] = await node.batch([
      { method: "chain_getHeader", params: [hash] }, { method: "vcoin_extrinsic", params: [hash] },
    ]);
    if (!(block instanceof RpcError)) found.push([`block/${block.number}`, `Block #${num(block.number)}`]);
    if (!(tx instanceof RpcError) && tx.blockNumber !== undefined) {
      found.push([`block/${tx.blockNumber}`, `Extrinsic ${tx.index} in block #${num(tx.blockNumber)}`]);
    }
    if (found.length === 0) found.push([`account/${hash}`, `Account with public key ${short(hash, 10, 6)}`]);
  } else if (/^\d+$/.test(text) || jobMatch || blockMatch) {
    const n = Number(jobMatch ? jobMatch[1] : blockMatch ? blockMatch[1] : text);
    const [hash, job] = await node.batch([
      { method: "chain_getBlockHash", params: [n] }, { method: "vcoin_job", params: [n] },
    ]);
    if (!jobMatch && typeof hash === "string") found.push([`block/${n}`, `Block #${num(n)}`]);
    if (!blockMatch && !(job instanceof RpcError)) found.push([`job/${n}`, `Job ${n} (${job.kind}, ${job.status})`]);
  }
  return found;
}

export async function searchPage(ctx) {
  const q = ctx.params[0];
  const found = await candidates(ctx.node, q);
  if (!ctx.alive) return;
  if (found.length === 1) {
    ctx.end(); // the page it names is the one that gets ready
    location.replace(`#/${found[0][0]}`);
    return;
  }
  clear(ctx.main, section(`Search: ${q}`, found.length
    ? h("ul", { class: "results" }, found.map(([route, label]) => h("li", {}, link(route, label))))
    : empty("Nothing found. Try an address (vc1…), a block number or 0x hash, an extrinsic hash or “job 12”.")));
}
