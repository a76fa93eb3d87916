"""Warp sync (`vcoin node --sync warp`): a fresh node fetches the finalized
state instead of replaying every block, then follows the chain from there.

1. Target: every peer is asked for its finalized header and justification
   (`node.warp_protocol`). A header from the future is refused: its slot
   may not pass our clock (`slot_at`, with `MAX_DRIFT_SECONDS`), nor its
   number its slot's distance from genesis (a block's slot always exceeds
   its parent's). Of the rest, the highest one whose justification the
   genesis spec's validators sign (> 2/3 of their stake) is chosen, checked
   before anything is fetched.
   When the validator set has changed since genesis, no such proof exists
   here (there is no chain of set changes to follow), so the target is
   taken on the peers' word: its votes' signatures checked, and offered by
   at least two distinct peers (the same header, or a header another peer
   finalized above it and holds at that height) whenever two or more peers
   offer one; only when a single peer answers is its lone word taken, said
   so in the log. It is verified again once its state is complete and
   proven against its header's root: the validators and stakes that state
   names must sign it. A target refused that way, whose state proves forged
   or stops coming (node.warp_download) is never chosen again by this run
   and the peers that offered it are punished.
   The trust limit that remains: with a changed validator set, a node
   whose peers are all one attacker's (or two of them, where they alone
   answer) can be given a forged chain consistent with itself, as with any
   weak-subjectivity checkpoint; bootnodes you trust, or a spec whose
   validators are current, close it. Header backfill (node.backfill) then
   checks that the target descends from our genesis by hash links, but only
   after the switch.
2. State: downloaded in subtrees, each proven against the root
   (`runtime.state_chunks`), by a few concurrent requests spread over peers;
   a peer that sends a bad chunk is punished and not asked again, its chunk
   goes to another peer. A subtree already held here (genesis state, an
   earlier target) is walked locally instead of fetched.
3. Resume: the target and the frontier of missing subtrees live in the
   database, written with each batch of nodes (node.warp_store).
4. Finish: the state is walked once more to check it is complete (a node
   missing goes back to the download), the block's body is fetched, it
   becomes best and finalized with its justification, the flat table is
   rebuilt at its root, and block sync follows from there; headers below it
   are backfilled in the background.

While a warp runs the node's old chain must not move: the node drops block
and vote gossip (node.service) and the old chain's pruner is stopped, so
no genesis-state node the download found here is deleted before the switch.
"""

import logging
import time
from collections.abc import Iterable
from typing import Any, Protocol

import trio

from consensus.finality import Justification, verify_justification
from consensus.slots import slot_at, verify_seal
from node.abc import ChainReader
from node.chain import Chain
from node.finality import FinalityGadget
from node.node_store import NODE_PREFIX, raw_node
from node.p2p import Network
from node.peer_book import Offence
from node.sync import BlockSync
from node.warp_download import MAX_SUBTREES, Download
from node.warp_protocol import BUSY, HEADERS, TARGET, StateProtocol
from node.warp_store import Target, forget, install, load_target, reopen, start
from runtime.codec import CodecError, decode
from runtime.pallets import staking
from runtime.state_chunks import ForgedState, missing_under
from runtime.types import Block, Header, extrinsics_root

log = logging.getLogger("vcoin.warp")
POLL_SECONDS = 1.0
BODY_WAIT_TOLD_SECONDS = 60.0  # how often a wait for the target block's body is logged
GRACE_SECONDS = 1.0  # after the first peer answers, let the other bootnodes connect
MAX_DRIFT_SECONDS = 1.0  # how far ahead of our clock a slot may be (as node.service's block import)
CANDIDATES = 4  # untrusted targets, highest first, a choice tries to find a second peer for
MISSING_LIMIT = 4096  # subtrees the completeness walk reports at most (the download fetches them)


class WarpHost(ChainReader, Protocol):
    """What warp sync reads of the node and calls on it."""

    @property
    def network(self) -> Network | None: ...

    @property
    def finality(self) -> FinalityGadget: ...

    @property
    def sync(self) -> BlockSync: ...

    @property
    def chain_lock(self) -> trio.Lock: ...

    def open_chain(self) -> Chain:
        """The chain read afresh from the store (worker-thread safe)."""
        ...

    def use_chain(self, chain: Chain) -> None:
        """Run on `chain` from now on (its finality gadget too)."""
        ...


class WarpSync:
    def __init__(self, node: WarpHost, protocol: StateProtocol) -> None:
        self.node = node
        self.protocol = protocol
        self.active = False
        self.refused: set[bytes] = set()  # target hashes never chosen again by this run
        self.offered_by: dict[bytes, list[Any]] = {}  # target hash -> the peers that offered it

    async def run(self) -> None:
        """Warp to a finalized block, unless this node already holds blocks."""
        chain = self.node.chain
        if chain.best.number > 0:
            if load_target(chain.store) is not None:  # (an install cut short is finished by node.service)
                log.error(
                    "Warp sync: a warp was under way, but the database now holds blocks up to #%d; "
                    "following them instead (start from an empty database to warp again)",
                    chain.best.number,
                )
            else:
                log.info("Warp sync skipped: the database already holds blocks up to #%d", chain.best.number)
            return
        self.active = self.node.sync.syncing = True
        # The old chain must not move or lose nodes meanwhile: the download
        # counts the genesis state's nodes as held (gossip is dropped: node.service).
        await trio.to_thread.run_sync(chain.pruner.stop)
        try:
            target = await self._download_verified()
            block = await self._body(target)
            await self._install(target, block)
        finally:
            self.active = self.node.sync.syncing = False

    async def _download_verified(self) -> Target:
        store = self.node.chain.store
        while True:
            target = load_target(store)
            if target is None:
                target = await self._choose()
                if start(store, target):
                    log.info("Warp sync: the state root of #%d was chosen before: going on from there",
                             target.header.number)  # fmt: skip
            download = Download(self.node, self.protocol, target)
            if not await download.run():
                self._refuse(target, download.failure, Offence.INVALID if download.forged else Offence.SLOW)
                continue
            try:
                missing = await trio.to_thread.run_sync(self._missing, target)
            except ForgedState as exc:
                self._refuse(target, str(exc), Offence.INVALID)
                continue
            if missing:
                log.warning(
                    "Warp sync: %d subtrees of the state of #%d went missing after their download; fetching "
                    "them again", len(missing), target.header.number,
                )  # fmt: skip
                await trio.to_thread.run_sync(reopen, store, missing)
                continue
            if self._confirmed(target):
                return target
            self._refuse(
                target, "the validators its state names did not sign its justification", Offence.INVALID
            )

    def _refuse(self, target: Target, reason: str, offence: Offence) -> None:
        """Never choose `target` again in this run; its offering peers pay."""
        log.error(
            "Warp sync: target #%d (%s) refused: %s",
            target.header.number,
            target.header.hash.hex()[:12],
            reason,
        )
        self.refused.add(target.header.hash)
        network = self.node.network
        for peer in self.offered_by.get(target.header.hash, []):
            if network is not None:
                network.punish(
                    peer, offence, f"offered warp target #{target.header.number}, refused: {reason}"
                )
        forget(self.node.chain.store)

    def _missing(self, target: Target) -> list[Any]:
        """(worker thread) Subtrees of the target's state not held here."""
        get = self.node.chain.store.db.get
        return missing_under(
            lambda h: raw_node(get(NODE_PREFIX + h)), target.header.state_root, MISSING_LIMIT, MAX_SUBTREES
        )

    def _confirmed(self, target: Target) -> bool:
        """The justification, checked against the downloaded state's
        validators when the genesis ones could not vouch for it."""
        if target.trusted:
            return True
        state = self.node.chain.new_state(target.header.state_root)
        try:
            stakes = {v: staking.ledger(state, v).bonded for v in staking.Active.get(state)}
        except Exception as exc:  # a forged state need not even decode: refused, not a crash loop
            log.error(
                "Warp sync: the validators of the state of #%d do not read: %r", target.header.number, exc
            )
            return False
        return verify_justification(target.proof, self.node.chain.spec.chain_id, stakes)

    # -- choosing the target -------------------------------------------------------
    async def _choose(self) -> Target:
        network = self.node.network
        assert network is not None
        waited = False
        while True:
            await network.connect_bootnodes()
            peers = network.peers()
            if peers and not waited:
                waited = True
                await trio.sleep(GRACE_SECONDS)
                continue
            offers = [(peer, offer) for peer in peers if (offer := await self._offer(peer)) is not None]
            chosen = await self._pick(offers)
            if chosen is not None:
                return chosen
            await trio.sleep(POLL_SECONDS)

    async def _pick(self, offers: list[tuple[Any, Target]]) -> Target | None:
        """The target among peers' offers (see the module's docstring)."""
        answered = {str(peer) for peer, _ in offers}
        offers = [(peer, o) for peer, o in offers if o.header.hash not in self.refused]
        by_hash: dict[bytes, list[Any]] = {}
        for peer, offer in offers:
            by_hash.setdefault(offer.header.hash, []).append(peer)
        unique = {o.header.hash: o for _, o in offers}
        ranked = sorted(unique.values(), key=lambda o: (o.trusted, o.header.number), reverse=True)
        for rank, best in enumerate(ranked):
            offering = by_hash[best.header.hash]
            if best.trusted:
                how = "signed by the genesis validators"
            elif len(answered) < 2:
                how = "NOT corroborated: the only peer that answered, taken on its word"
                log.warning("Warp sync: only one peer (%s) offers a target; its word is taken", offering[0])
            else:
                if rank >= CANDIDATES:
                    break
                others = [p for p, o in offers if o.header.number > best.header.number]
                vouching = await self._vouching(best, offering, others)
                if len({str(p) for p in vouching}) < 2:
                    continue
                offering = vouching
                how = f"vouched for by {len(vouching)} peers, to be checked against its state"
            log.info(
                "Warp sync: target #%d (%s), state root %s, %s, among %d offers",
                best.header.number, best.header.hash.hex()[:12], best.header.state_root.hex()[:12],
                how, len(offers),
            )  # fmt: skip
            self.offered_by[best.header.hash] = offering
            return best
        if offers:
            log.info(
                "Warp sync: no target offered by two peers among %d offers yet; asking again", len(offers)
            )
        return None

    async def _vouching(self, target: Target, offering: list[Any], others: Iterable[Any]) -> list[Any]:
        """The peers offering `target`, and those that finalized above it and
        hold it at its height, up to two."""
        vouching = list(offering)
        for peer in others:
            if len({str(p) for p in vouching}) >= 2:
                break
            if str(peer) in {str(p) for p in vouching}:
                continue
            wire = await self.protocol.ask(peer, [HEADERS, target.header.number, 1])
            try:
                shaped = type(wire) is list and len(wire) == 1 and type(wire[0]) is bytes
                if shaped and Header.from_wire(decode(wire[0])).hash == target.header.hash:
                    vouching.append(peer)
            except CodecError:
                pass
        return vouching

    async def _offer(self, peer: Any) -> Target | None:
        """A peer's finalized header and justification, checked."""
        network = self.node.network
        assert network is not None
        wire = await self.protocol.ask(peer, [TARGET])
        if wire is None or wire == [] or wire == [BUSY, []]:
            return None
        chain = self.node.chain
        try:
            if not (type(wire) is list and len(wire) == 2 and all(type(x) is bytes for x in wire)):
                raise CodecError("a target is [header, justification]")
            header = Header.from_wire(decode(wire[0]))
            proof = Justification.decode(wire[1])
        except CodecError as exc:
            network.punish(peer, Offence.INVALID_SYNC_RESPONSE, f"a malformed warp target ({exc})")
            return None
        if proof.source.number != header.number or proof.source.hash != header.hash:
            network.punish(peer, Offence.INVALID_SYNC_RESPONSE, "a justification of another block")
            return None
        if header.number == 0:
            return None  # nothing to warp to
        if not self._in_time(peer, header):
            return None
        stakes = self.node.finality.stakes_at(chain.genesis.hash) or {}
        trusted = verify_justification(proof, chain.spec.chain_id, stakes)
        if not trusted and not _plausible(proof, chain.spec.chain_id):
            network.punish(peer, Offence.INVALID, "a warp target whose justification is not signed")
            return None
        return Target(header, wire[1], trusted)

    def _in_time(self, peer: Any, header: Header) -> bool:
        """A header no later than our clock allows, its number within its slots."""
        network = self.node.network
        assert network is not None
        genesis = self.node.chain.genesis.slot
        now = slot_at(time.time() + MAX_DRIFT_SECONDS, self.node.chain.spec.params.slot_seconds)
        if header.slot > now:
            log.warning(
                "Warp sync: %s offers #%d of slot %d, past ours (%d): refused (is this machine's clock right?)",
                peer, header.number, header.slot, now,
            )  # fmt: skip
            network.punish(peer, Offence.SPAM, "a warp target from the future")
            return False
        if header.number > header.slot - genesis:
            network.punish(peer, Offence.INVALID, "a warp target with more blocks than slots")
            return False
        return True

    # -- finishing -----------------------------------------------------------------
    async def _body(self, target: Target) -> Block:
        """The target block itself, from whichever peer has it."""
        network = self.node.network
        assert network is not None
        header = target.header
        told_at = time.monotonic() + BODY_WAIT_TOLD_SECONDS
        while True:
            if time.monotonic() >= told_at:  # said, not silent: the state is here, the block is not
                told_at += BODY_WAIT_TOLD_SECONDS
                log.warning(
                    "Warp sync: the state of #%d is here, but none of %d peers has served its block yet; "
                    "still asking (a peer keeps at least 256 bodies below finality even with --blocks-pruning)",
                    header.number, len(network.peers()),
                )  # fmt: skip
            for peer in network.peers():
                answer = await network.request_blocks(peer, header.number, 1)
                if answer is None or not answer.items:
                    continue
                block = answer.items[0][0]
                if block.hash != header.hash:
                    continue  # not its canonical block at that height (yet): ask another
                if extrinsics_root(block.extrinsics) != header.extrinsics_root or not verify_seal(
                    header, block.seal
                ):
                    network.punish(peer, Offence.INVALID, "a warp block with a wrong body or seal")
                    continue
                return block
            await network.connect_bootnodes()
            await trio.sleep(POLL_SECONDS)

    async def _install(self, target: Target, block: Block) -> None:
        node = self.node
        started = time.monotonic()
        async with node.chain_lock:
            node.chain.flat.begin_move()  # the old chain's reads walk the trie while the table is replaced
            await trio.to_thread.run_sync(install, node.chain.store, target, block)
            chain = await trio.to_thread.run_sync(node.open_chain)  # rebuilds the flat table
            node.use_chain(chain)
        log.info(
            "Warp sync: #%d (%s) is best and finalized (set up in %.1f s); following the chain from there",
            block.header.number, block.hash.hex()[:12], time.monotonic() - started,
        )  # fmt: skip


def _plausible(proof: Justification, chain_id: bytes) -> bool:
    """A finalizing link whose votes are each validly signed for it (who
    signed, and with what stake, is checked against the state later)."""
    if proof.target.number != proof.source.number + 1 or not proof.votes:
        return False
    voters = {v.voter for v in proof.votes}
    return len(voters) == len(proof.votes) and all(
        v.source == proof.source and v.target == proof.target and v.verify(chain_id) for v in proof.votes
    )
