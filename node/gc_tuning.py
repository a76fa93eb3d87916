"""The cyclic collector's pacing for processes that import blocks.

CPython runs a young-generation collection every 700 net container
allocations, and each one traverses every young container, however large.
A block's import allocates a few hundred thousand short-lived containers
beside a handful of large young ones (the trie update's node maps, the
block's pending writes), so at a million accounts the collector ran ~45
times a block and took 27-57 ms of a ~550 ms import (8-30 ms at 10,000
accounts: the cost grew with the state, measured with `gc.callbacks`). The
runtime makes few reference cycles: collecting every 50,000 allocations
keeps what cycles leak bounded and costs a collection every few blocks.

`vcoin` paces its own process this way (`tools.cli.main`), the benches'
child processes too; a library caller (a test calling `main([...])`) keeps
its own collector.
"""

import gc

YOUNG_THRESHOLD = 50_000


def tune() -> None:
    """Pace the collector for block import, and move what the process holds
    now (modules, classes, the parsed configuration) out of its reach: they
    live as long as the process, and a full collection need not walk them."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    gc.collect()  # what is garbage now would never be collected once frozen
    gc.freeze()
