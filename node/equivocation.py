"""Block equivocation: two different sealed blocks by one author for one slot.

Every imported block is remembered by (author, slot) for a while; a second,
different block for the same pair yields the evidence the slashing pallet's
`report_equivocation` takes: both encoded headers with their seals.
"""

from collections import OrderedDict

from consensus.finality import Vote
from runtime.codec import encode
from runtime.types import Block, Call

REMEMBERED_SLOTS = 4096
Sealed = tuple[bytes, bytes]  # (encoded header, seal)


class SlotWatch:
    def __init__(self) -> None:
        self._seen: OrderedDict[tuple[bytes, int], Sealed] = OrderedDict()
        self._reported: set[tuple[bytes, int]] = set()

    def observe(self, block: Block) -> tuple[Sealed, Sealed] | None:
        """Evidence if `block` conflicts with one seen for its author and slot."""
        key = (block.header.author, block.header.slot)
        sealed = (block.header.encode(), block.seal)
        earlier = self._seen.get(key)
        if earlier is None:
            self._seen[key] = sealed
            while len(self._seen) > REMEMBERED_SLOTS:
                self._seen.popitem(last=False)
            return None
        if earlier[0] == sealed[0] or key in self._reported:
            return None
        self._reported.add(key)
        return earlier, sealed


def block_evidence(first: Sealed, second: Sealed) -> Call:
    args = {"header_a": first[0], "seal_a": first[1], "header_b": second[0], "seal_b": second[1]}
    return Call("slashing", "report_equivocation", args)


def vote_evidence(first: Vote, second: Vote) -> Call:
    args = {"vote_a": encode(first.to_wire()), "vote_b": encode(second.to_wire())}
    return Call("slashing", "report_vote_equivocation", args)
