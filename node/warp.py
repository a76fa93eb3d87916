"""Warp sync (`vcoin node --sync warp`): a fresh node fetches the finalized
state instead of replaying every block, then follows the chain from there.

1. Target: every peer is asked for its finalized header and justification
   (`node.warp_protocol`); the highest one whose justification verifies is
   chosen. What this trusts: the genesis spec's validators. A justification
   they sign (> 2/3 of their stake) is verified before anything is fetched.
   When the validator set has changed since genesis, no such proof exists
   here (there is no chain of set changes to follow), so the target is
   taken on the peers' word, its votes' signatures checked, and verified
   again once its state is complete and proven against its header's root:
   the validators and stakes that state names must sign it, or the target
   is refused, its progress dropped and another one chosen. That second
   check proves the state consistent with its own validators; a node whose
   every peer serves one forged chain could still be fooled by it, as with
   any weak-subjectivity checkpoint. Header backfill (node.backfill) then
   checks that the target descends from our genesis by hash links.
2. State: downloaded in subtrees, each proven against the root
   (`runtime.state_chunks`), by a few concurrent requests spread over peers;
   a peer that sends a bad chunk is punished and not asked again, its chunk
   goes to another peer. A subtree already held here (genesis state, an
   earlier target) is walked locally instead of fetched.
3. Resume: the target and the frontier of missing subtrees live in the
   database, written with each batch of nodes (node.warp_store).
4. Finish: the block's body is fetched, it becomes best and finalized with
   its justification, the flat table is rebuilt at its root, and block sync
   follows from there; headers below it are backfilled in the background.
"""

import logging
import time
from typing import Any, Protocol

import trio

from consensus.finality import Justification, verify_justification
from consensus.slots import verify_seal
from node.abc import ChainReader
from node.chain import Chain
from node.finality import FinalityGadget
from node.p2p import Network
from node.peer_book import Offence
from node.sync import BlockSync
from node.warp_download import Download
from node.warp_protocol import TARGET, StateProtocol
from node.warp_store import Target, forget, install, load_target, start
from runtime.codec import CodecError, decode
from runtime.pallets import staking
from runtime.types import Block, Header, extrinsics_root

log = logging.getLogger("vcoin.warp")
POLL_SECONDS = 1.0
GRACE_SECONDS = 1.0  # after the first peer answers, let the other bootnodes connect


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

    async def run(self) -> None:
        """Warp to a finalized block, unless this node already holds blocks."""
        chain = self.node.chain
        if chain.best.number > 0:
            log.info("Warp sync skipped: the database already holds blocks up to #%d", chain.best.number)
            return
        self.active = self.node.sync.syncing = True
        try:
            target = await self._download_verified()
            block = await self._body(target)
            await self._install(target, block)
        finally:
            self.active = self.node.sync.syncing = False

    async def _download_verified(self) -> Target:
        store = self.node.chain.store
        refused: set[bytes] = set()
        while True:
            target = load_target(store)
            if target is None:
                target = await self._choose(refused)
                start(store, target)
            if not await Download(self.node, self.protocol, target).run():
                log.info("Warp sync: no peer serves the state of #%d any more; choosing a newer block",
                         target.header.number)  # fmt: skip
                forget(store)
                continue
            if self._confirmed(target):
                return target
            log.error(
                "Warp sync: the validators of the state of #%d did not sign its justification: refused",
                target.header.number,
            )
            refused.add(target.header.hash)
            forget(store)

    def _confirmed(self, target: Target) -> bool:
        """The justification, checked against the downloaded state's
        validators when the genesis ones could not vouch for it."""
        if target.trusted:
            return True
        state = self.node.chain.new_state(target.header.state_root)
        stakes = {v: staking.ledger(state, v).bonded for v in staking.Active.get(state)}
        return verify_justification(target.proof, self.node.chain.spec.chain_id, stakes)

    # -- choosing the target -------------------------------------------------------
    async def _choose(self, refused: set[bytes]) -> Target:
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
            offers = [offer for peer in peers if (offer := await self._offer(peer)) is not None]
            offers = [o for o in offers if o.header.hash not in refused]
            if offers:
                best = max(offers, key=lambda o: (o.trusted, o.header.number))
                log.info(
                    "Warp sync: target #%d (%s), state root %s, %s, among %d offers",
                    best.header.number, best.header.hash.hex()[:12], best.header.state_root.hex()[:12],
                    "signed by the genesis validators" if best.trusted else "to be checked against its state",
                    len(offers),
                )  # fmt: skip
                return best
            await trio.sleep(POLL_SECONDS)

    async def _offer(self, peer: Any) -> Target | None:
        """A peer's finalized header and justification, checked."""
        network = self.node.network
        assert network is not None
        wire = await self.protocol.ask(peer, [TARGET])
        if wire is None or wire == []:
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
        stakes = self.node.finality.stakes_at(chain.genesis.hash) or {}
        trusted = verify_justification(proof, chain.spec.chain_id, stakes)
        if not trusted and not _plausible(proof, chain.spec.chain_id):
            network.punish(peer, Offence.INVALID, "a warp target whose justification is not signed")
            return None
        return Target(header, wire[1], trusted)

    # -- finishing -----------------------------------------------------------------
    async def _body(self, target: Target) -> Block:
        """The target block itself, from whichever peer has it."""
        network = self.node.network
        assert network is not None
        header = target.header
        while True:
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
