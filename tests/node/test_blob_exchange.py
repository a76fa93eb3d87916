"""The blob exchange's wanted set: bounded (the oldest wish gives way), and
a hash nobody has is asked for again only after a growing backoff."""

from pathlib import Path
from typing import Any

import trio
import trio.testing

from node import blob_exchange
from node.blob_exchange import MAX_WANTED, RETRY_SECONDS, BlobExchange
from offchain.blobs import BlobStore


class Peers:
    """The part of `Network` the exchange uses, with one peer that has nothing."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.limits: list[int] = []

    def peers(self) -> list[str]:
        return ["peer"]

    def set_stream_handler(self, protocol: Any, handler: Any) -> None:
        pass


def exchange(tmp_path: Path) -> tuple[BlobExchange, Peers]:
    peers = Peers()
    ex = BlobExchange(peers, BlobStore(tmp_path), b"g" * 32)  # type: ignore[arg-type]

    async def fetch(peer: Any, digest: bytes, max_size: int = 0) -> bytes | None:
        peers.asked.append(trio.current_time())
        peers.limits.append(max_size)
        return None

    ex.fetch = fetch  # type: ignore[method-assign]
    return ex, peers


def test_the_wanted_set_is_bounded_and_keeps_the_newest(tmp_path: Path) -> None:
    ex, _ = exchange(tmp_path)
    digests = [i.to_bytes(32, "big") for i in range(MAX_WANTED * 4)]

    async def main() -> None:
        for digest in digests:
            ex.want(digest)

    trio.run(main)
    assert len(ex.wanted) == MAX_WANTED
    assert list(ex.wanted) == digests[-MAX_WANTED:]


def test_a_missing_blob_is_asked_for_with_a_growing_backoff(tmp_path: Path) -> None:
    ex, peers = exchange(tmp_path)

    async def main() -> None:
        ex.want(b"x" * 32, max_size=1_234)  # a job's input: as large as its fee says
        with trio.move_on_after(40):
            await ex.run()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    gaps = [b - a for a, b in zip(peers.asked, peers.asked[1:], strict=False)]
    assert len(peers.asked) <= 7  # not 80 polls' worth
    assert set(peers.limits) == {1_234}
    assert all(later >= earlier for earlier, later in zip(gaps, gaps[1:], strict=False))
    assert gaps[0] >= RETRY_SECONDS[0] and RETRY_SECONDS[0] * 2 > blob_exchange.POLL_SECONDS
