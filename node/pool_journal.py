"""The pool's journal: transactions this node accepted from its own users
(RPC) and its own workers, kept on disk until they leave the pool, and
submitted again when the node starts (geth's `transactions.rlp`).

Without it, a node killed right after answering `author_submitExtrinsic`
with a hash loses transactions it had not gossiped yet, and every later
transaction of those senders waits forever on the nonce gap. Appends reach
the operating system at once (a killed process loses nothing); they are
not fsynced per transaction (a power cut may lose the tail, as any pool
would). The file is rewritten with only what is still pending once it
outgrows `MAX_BYTES`, and at every start.
"""

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from runtime.constants import MAX_EXTRINSIC_BYTES

log = logging.getLogger("vcoin.txpool")
MAX_BYTES = 16 * 1024 * 1024
HEADER = 4


class PoolJournal:
    def __init__(self, path: Path, max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab")  # noqa: SIM115 - open for the node's lifetime
        self.size = self._file.tell()

    def record(self, raw: bytes) -> None:
        self._file.write(len(raw).to_bytes(HEADER, "big") + raw)
        self._file.flush()
        self.size += HEADER + len(raw)

    def due(self) -> bool:
        """Whether the journal outgrew its bound and should be rewritten."""
        return self.size > self.max_bytes

    def replay(self) -> list[bytes]:
        """The recorded transactions, oldest first; a torn last record is dropped."""
        data = self.path.read_bytes() if self.path.exists() else b""
        found: list[bytes] = []
        offset = 0
        while offset + HEADER <= len(data):
            size = int.from_bytes(data[offset : offset + HEADER], "big")
            if size > MAX_EXTRINSIC_BYTES or offset + HEADER + size > len(data):
                break  # torn or garbage tail: what follows cannot be trusted
            found.append(data[offset + HEADER : offset + HEADER + size])
            offset += HEADER + size
        return found

    def rewrite(self, pending: Iterable[bytes]) -> None:
        """Keep only `pending` (what is still in the pool), atomically."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as handle:
            for raw in pending:
                handle.write(len(raw).to_bytes(HEADER, "big") + raw)
        os.replace(tmp, self.path)
        self._file.close()
        self._file = open(self.path, "ab")  # noqa: SIM115
        self.size = self._file.tell()

    def close(self) -> None:
        self._file.close()


def restore(
    journal: PoolJournal, submit: Callable[[bytes], object], pending: Callable[[], Iterable[bytes]]
) -> int:
    """Submit what the journal holds again; the journal then holds only what
    the pool took back (the rest was included meanwhile, or is now invalid)."""
    taken = 0
    for raw in journal.replay():
        try:
            submit(raw)
            taken += 1
        except Exception:  # stale, included, no longer payable: gone for good
            continue
    journal.rewrite(pending())
    if taken:
        log.info("Pool journal: %d of this node's transactions submitted again", taken)
    return taken
