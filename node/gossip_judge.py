"""What a gossip message of transactions or finality votes is worth, item by
item, and whether it may travel on.

Gossipsub relays a message whole, so a message is relayed only when every
item in it was verified here (admitted, or the very same as one already
held). A message that mixes good items with junk is not relayed; the good
items are handed back for this node to publish in a message of its own, so
nothing unverified ever leaves this node with its blessing.
"""

from collections.abc import Callable
from typing import Any

from consensus.finality import Vote
from consensus.votebook import Outcome, Verdict
from node.finality import FinalityGadget
from node.gossip import Gossiped
from node.pool_admission import Blame, PoolError
from node.txpool import TxPool
from runtime.codec import CodecError, decode
from runtime.state import State

Judged = tuple[Gossiped, list[bytes]]  # the verdict, and the items to publish anew


def _verdict(fresh: list[bytes], clean: bool, spam: bool) -> Judged:
    if fresh and clean:
        return Gossiped.RELAY, []
    return (Gossiped.SPAM if spam else Gossiped.DROP), fresh


def judge_extrinsics(pool: TxPool, state: State, items: list[bytes]) -> Judged:
    fresh: list[bytes] = []
    clean, spam = True, False
    for raw in items:
        try:
            pool.submit(state, raw)
        except PoolError as exc:
            if exc.blame is Blame.BAD:
                return Gossiped.BAD, []
            if exc.blame is Blame.SPAM:
                clean, spam = False, True
            continue
        fresh.append(raw)
    return _verdict(fresh, clean, spam)


def judge_votes(
    gadget: FinalityGadget, peer: Any, items: list[bytes], step: Callable[[Outcome], None]
) -> Judged:
    """`step` is run on each vote's outcome (to vote on and report what it justified)."""
    fresh: list[bytes] = []
    clean, spam = True, False
    for raw in items:
        try:
            vote = Vote.from_wire(decode(raw, max_len=256))
        except CodecError:
            return Gossiped.BAD, []
        outcome = gadget.on_vote(vote, None if peer is None else str(peer))
        if outcome.verdict is Verdict.INVALID:
            return Gossiped.BAD, []
        step(outcome)
        if outcome.verdict in (Verdict.COUNTED, Verdict.PENDING):
            fresh.append(raw)
        elif outcome.verdict is not Verdict.DUPLICATE:
            clean = False
            spam = spam or outcome.verdict is Verdict.SPAM
    return _verdict(fresh, clean, spam)
