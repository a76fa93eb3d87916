"""The finality gadget as the node runs it: the vote book over this node's
chain, this validator's own votes (never a slashable pair, even across
restarts and database wipes: see `node.slashing_protection`), and
finalization with stored justifications.

It tells the vote book what it may check cheaply before a signature: our
best height, the validators of the best state and those eligible for the
next era, and, from the clock, the highest block that can exist at all. After
an import only the votes waiting for the newly arrived blocks are retried.
"""

import logging
import time
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from pathlib import Path

import msgpack

from consensus.finality import Checkpoint, Justification, Vote, verify_justification
from consensus.slots import slot_at
from consensus.votebook import Outcome, Verdict, VoteBook
from node.chain import Chain
from node.slashing_protection import SignedRange, SlashingProtection
from node.state_pruning import StatePruned
from node.storage import JUSTIFIED, LAST_VOTE
from runtime.crypto import Keypair, to_address
from runtime.merkle import MissingNode
from runtime.pallets import staking, system
from runtime.state import State
from runtime.types import Header

log = logging.getLogger("vcoin.finality")
MAX_LINK_SPAN = 4096
STAKE_CACHE = 256
CLOCK_DRIFT_SECONDS = 30  # generous: a vote is refused as impossible only well past it
REORG_WALK = 16  # after a reorg, fork blocks this far below the old best are retried too
MAX_WALK = 512  # past this many new blocks, check every parked hash instead


class FinalityGadget:
    def __init__(
        self, chain: Chain, key: Keypair | None, protection: SlashingProtection | None = None
    ) -> None:
        self.chain = chain
        self.key = key
        self.protection: SlashingProtection | None = None
        if key is not None:
            self.protection = protection or SlashingProtection(_base_path(chain), chain.spec.chain_id)
            _migrate_last_vote(chain, self.protection, key.public)
            last = self.protection.get(key.public)
            if last is not None:
                log.info(
                    "Slashing protection: %s last voted #%d -> #%d (%s)",
                    to_address(key.public), last.source, last.target, self.protection.root,
                )  # fmt: skip
        self._held_back = False  # logged that protection holds our votes back
        self._stakes: OrderedDict[bytes, dict[bytes, int]] = OrderedDict()
        final = chain.finalized
        self.book = VoteBook(
            chain.spec.chain_id, self.stakes_at, self._descends, [Checkpoint(final.number, final.hash)],
            best_number=lambda: chain.best.number, known_voters=self.known_voters,
        )  # fmt: skip
        self._voters: tuple[bytes, frozenset[bytes]] = (b"", frozenset())
        self._last_best = (chain.best.number, chain.best.hash)
        self.own_vote: Vote | None = None
        justified = chain.store.meta(JUSTIFIED)
        if justified is not None:  # what this node saw justified before a restart
            number, block_hash = msgpack.unpackb(justified)
            self.book.mark_justified(Checkpoint(number, block_hash))
        self._saved_justified = -1

    # -- what the vote book asks about the chain -----------------------------
    def stakes_at(self, block_hash: bytes) -> Mapping[bytes, int] | None:
        cached = self._stakes.get(block_hash)
        if cached is not None:
            return cached
        try:
            state = self.chain.state_at(block_hash)
        except StatePruned:  # a vote from below the kept states: nothing to weigh it by
            return None
        try:
            return self._stakes_of(block_hash, state)
        except MissingNode:  # pruned while read: the same
            return None

    def _stakes_of(self, block_hash: bytes, state: State | None) -> Mapping[bytes, int] | None:
        if state is None:
            return None
        stakes = {v: staking.ledger(state, v).bonded for v in staking.Active.get(state)}
        self._stakes[block_hash] = stakes
        while len(self._stakes) > STAKE_CACHE:
            self._stakes.popitem(last=False)
        return stakes

    def _descends(self, ancestor: Checkpoint, descendant: Checkpoint) -> bool | None:
        header = self.chain.store.header(descendant.hash)
        if header is None:
            return None
        if header.number != descendant.number or descendant.number - ancestor.number > MAX_LINK_SPAN:
            return False
        while header.number > ancestor.number:
            parent = self.chain.store.header(header.parent_hash)
            if parent is None:
                return False
            header = parent
        return header.hash == ancestor.hash

    def known_voters(self) -> frozenset[bytes]:
        """Validators of the best state, and candidates bonded enough to be
        elected next era: who may sign a vote about a block we lack."""
        best = self.chain.best
        if self._voters[0] != best.hash:
            state = self.chain.state
            minimum = system.params(state).min_validator_bond
            eligible = {
                c for c in staking.Candidates.get(state) if staking.ledger(state, c).bonded >= minimum
            }
            self._voters = (best.hash, frozenset(staking.Active.get(state)) | eligible)
        return self._voters[1]

    def highest_possible(self) -> int:
        """No block can be higher than the slots elapsed since genesis."""
        now = slot_at(time.time() + CLOCK_DRIFT_SECONDS, self.chain.spec.params.slot_seconds)
        return now - self.chain.genesis.slot

    # -- votes in and out ------------------------------------------------------
    def on_vote(self, vote: Vote, origin: Hashable | None = None) -> Outcome:
        """A vote from `origin` (a peer id; None for this node)."""
        if vote.target.number > self.highest_possible():
            return Outcome(Verdict.INVALID)
        outcome = self.book.add(vote, origin)
        self._apply(outcome)
        return outcome

    def after_import(self) -> Outcome:
        """Retry the votes that waited for the blocks imported since the last call."""
        outcome = self.book.retry(self._arrived())
        self._apply(outcome)
        return outcome

    def _arrived(self) -> list[bytes]:
        """Hashes of the blocks that became known since the last call: the
        new best chain down to the previous best (or a little below it)."""
        best = self.chain.best
        last_number, last_hash = self._last_best
        self._last_best = (best.number, best.hash)
        floor = min(last_number, best.number) - REORG_WALK
        arrived: list[bytes] = []
        header: Header | None = best
        while header is not None and header.hash != last_hash and header.number > floor:
            if len(arrived) >= MAX_WALK:  # a long sync: cheaper to ask per parked hash
                return [k for k in self.book.parked.waited_for() if self.chain.store.has_block(k)]
            arrived.append(header.hash)
            header = self.chain.store.header(header.parent_hash)
        return arrived

    def _apply(self, outcome: Outcome) -> None:
        if outcome.justified:
            top = max(outcome.justified)
            if top.number > self._saved_justified:
                self._saved_justified = top.number
                self.chain.store.put_meta(JUSTIFIED, msgpack.packb([top.number, top.hash]))
            for checkpoint in outcome.justified:  # fork choice follows the highest (node.chain)
                self.chain.justify(checkpoint)
        for just in sorted(outcome.finalized, key=lambda j: j.source.number):
            if self.chain.finalize(just.source.hash, just.encode()):
                log.debug("finalized #%d by %d votes", just.source.number, len(just.votes))
                self.book.prune_below(just.source.number)

    def highest_justified_below(self, number: int) -> Checkpoint | None:
        """The highest justified block on the canonical chain below `number`."""
        best: Checkpoint | None = None
        for block_hash, height in self.book.justified.items():
            higher = height < number and (best is None or height > best.number)
            if higher and self.chain.is_canonical(height, block_hash):
                best = Checkpoint(height, block_hash)
        return best

    def vote_on_best(self) -> tuple[Vote | None, Outcome | None]:
        """This validator's vote for its best block, if the rules allow one:
        target heights strictly increase and sources never go down, so no two
        of its votes are ever a double or surround vote."""
        if self.key is None or self.protection is None:
            return None, None
        best = self.chain.best
        source = self.highest_justified_below(best.number)
        if source is None:
            return None, None
        if not self.protection.permits(self.key.public, source.number, best.number):
            self._hold_back(best.number)
            return None, None
        stakes = self.stakes_at(source.hash)
        if stakes is None or self.key.public not in stakes:
            return None, None
        # Persist before signing: a crash after broadcasting, or a wiped and
        # resynced database, must not let this key vote again at this height.
        try:
            if not self.protection.register(self.key.public, source.number, best.number, best.hash):
                return None, None
        except OSError as exc:
            log.error("not voting: cannot write the slashing protection record: %s", exc)
            return None, None
        self._held_back = False
        vote = Vote.sign(self.key, self.chain.spec.chain_id, source, Checkpoint(best.number, best.hash))
        self.own_vote = vote
        return vote, self.on_vote(vote)

    def _hold_back(self, best: int) -> None:
        """Say once why a validator that just resynced stays silent for a while."""
        assert self.key is not None and self.protection is not None
        last = self.protection.get(self.key.public)
        if self._held_back or last is None or best >= last.target:  # equal: the usual, just voted
            return
        self._held_back = True
        log.info(
            "Slashing protection: this key already voted up to #%d; no votes until the chain is past it",
            last.target,
        )

    def rebroadcast(self) -> list[Vote]:
        """What to gossip again each slot: this validator's latest vote and the
        votes behind the highest justified block. Gossip may lose messages and
        restarted peers forget; without these, finality could stall."""
        votes = self.book.highest_proof()
        if self.own_vote is not None and self.own_vote not in votes:
            votes.append(self.own_vote)
        return votes

    def on_justification(self, just: Justification) -> bool:
        """A justification that came with synced blocks; True if it finalized."""
        stakes = self.stakes_at(just.source.hash)
        if stakes is None or not verify_justification(just, self.chain.spec.chain_id, stakes):
            return False
        self.book.mark_justified(just.source)
        self.book.mark_justified(just.target)
        self.chain.justify(just.source)  # fork choice follows it: the source becomes canonical
        self.chain.justify(just.target)
        if self.chain.finalize(just.source.hash, just.encode()):
            self.book.prune_below(just.source.number)
            return True
        return False


def _base_path(chain: Chain) -> Path:
    """The base path that holds the chain database (BASE/db)."""
    return Path(chain.store.db.name).parent


def _migrate_last_vote(chain: Chain, protection: SlashingProtection, voter: bytes) -> None:
    """Bring the last vote older nodes kept in the chain database into the
    protection store, keeping the higher of both. The old record did not say
    which key voted; crediting it to the present key can only make it wait
    longer before voting, never let it sign something slashable."""
    stored = chain.store.meta(LAST_VOTE)
    if stored is None:
        return
    source, target = msgpack.unpackb(stored)
    if target < 0 or source < 0:  # never voted
        return
    before = protection.get(voter)
    after = protection.merge(voter, SignedRange(source, target))
    if after != before:
        log.info("Slashing protection: took the last vote (#%d -> #%d) from the database", source, target)
