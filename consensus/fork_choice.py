"""Fork choice: the longest chain that contains the last finalized block;
among equally long heads the lowest hash, so every node picks the same one."""

from collections.abc import Callable, Iterable

from runtime.types import Header


def choose_head(heads: Iterable[Header], contains_finalized: Callable[[Header], bool]) -> Header | None:
    eligible = [h for h in heads if contains_finalized(h)]
    if not eligible:
        return None
    return min(eligible, key=lambda h: (-h.number, h.hash))
