"""Fork choice, the finality gadget's rule (Casper FFG's "follow the highest
justified checkpoint"): the best chain is the longest one that contains the
highest justified block; among equally long heads the lowest hash wins, so
every node that knows the same blocks and justifications picks the same head
whatever the order it learned them in.

Which justified block counts: the highest one, and among justified blocks of
equal height (only possible when more than a third of the stake voted twice,
which is slashable) the lowest hash. The node only ever offers blocks that
descend from its finalized block, so a head chosen by this rule never
reverts finality.

`node.chain.Chain` applies the rule: on every import (is the new block a
better head than the best one, and does its chain hold the justified block?)
and whenever the finality gadget reports a newly justified block (then the
best head among the known leaves that hold it becomes best, even when a
longer fork without it exists).
"""

from collections.abc import Callable, Iterable

from consensus.finality import Checkpoint
from runtime.types import Header


def head_key(head: Header) -> tuple[int, bytes]:
    """Sorts the preferred head first: the highest, then the lowest hash."""
    return (-head.number, head.hash)


def better_head(candidate: Header, incumbent: Header) -> bool:
    """Would `candidate` win over `incumbent` if both held the justified block?"""
    return head_key(candidate) < head_key(incumbent)


def higher_justified(candidate: Checkpoint, incumbent: Checkpoint) -> bool:
    """Does `candidate` take over as the justified block fork choice follows?"""
    if candidate.number != incumbent.number:
        return candidate.number > incumbent.number
    return candidate.hash < incumbent.hash


def choose_head(heads: Iterable[Header], contains_justified: Callable[[Header], bool]) -> Header | None:
    """The best of `heads` (the leaves of the block tree) whose chain holds
    the highest justified block; None when none does."""
    eligible = [h for h in heads if contains_justified(h)]
    if not eligible:
        return None
    return min(eligible, key=head_key)
