"""A bounded history of the chain, kept in LevelDB as blocks are imported,
so the dashboard's charts never rescan the chain.

Chain points (`node.history_point`): one per block for the last `RECENT`
blocks (deeper than any reorg the index must undo cheaply), and below that
one per `stride` blocks; when more than `MAX_SAMPLED` sampled points would
exist the stride doubles and every other one goes. So the index holds at
most `RECENT + MAX_SAMPLED` chain points (about 2 MB: a point is about 500 bytes) however long the
chain. Account points: each touched account's running totals, at most
`MAX_ACCOUNT_POINTS` per account (past that every other older point goes).
Accounts that earn, author or get slashed hold stake, so their number is
bounded by the staking minimums.

The index follows the canonical chain: `follow` first drops what a reorg
replaced (every point records its block's hash), then indexes at most
`budget` blocks, so a node whose index lags (an upgrade, a long sync)
catches up in bounded steps. Its writes are not synced: after a crash it
recomputes from where its last write ended.
"""

from typing import Any

import msgpack

from node.chain import Chain
from node.history_point import ACCOUNT_TOTALS, Point, account_changes, chain_point
from node.storage import STATE_FLOOR
from runtime.pallets import reputation

RECENT = 2_048
MAX_SAMPLED = 2_048
MAX_ACCOUNT_POINTS = 256
_META, _POINT, _ACCOUNT, _TOUCHED = b"m", b"p", b"a", b"t"


def _n(number: int) -> bytes:
    return number.to_bytes(8, "big")


def _pack(value: Any) -> bytes:
    return bytes(msgpack.packb(value))


def _unpack(raw: bytes) -> Any:
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


class HistoryIndex:
    def __init__(self, db: Any) -> None:
        self.db = db  # a plyvel (prefixed) DB of its own keys
        raw = db.get(_META)
        meta = {} if raw is None else _unpack(raw)
        self.tip: int | None = meta.get("tip")
        self.stride: int = meta.get("stride", 1)

    # -- reading ------------------------------------------------------------
    def point(self, number: int) -> Point | None:
        raw = self.db.get(_POINT + _n(number))
        return None if raw is None else _unpack(raw)

    def at_or_before(self, number: int) -> Point | None:
        with self.db.iterator(start=_POINT, stop=_POINT + _n(number + 1), reverse=True) as found:
            for _, raw in found:
                return dict(_unpack(raw))
        return None

    def numbers(self, first: int, last: int) -> list[int]:
        """The blocks of the kept points from `first` to `last` (keys only:
        at most RECENT + MAX_SAMPLED of them)."""
        if last < first:
            return []
        start, stop = _POINT + _n(first), _POINT + _n(last + 1)
        with self.db.iterator(start=start, stop=stop, include_value=False) as found:
            return [int.from_bytes(key[1:], "big") for key in found]

    def account(self, who: bytes) -> list[Point]:
        with self.db.iterator(prefix=_ACCOUNT + who) as found:
            return [_unpack(raw) for _, raw in found]

    def account_latest(self, who: bytes) -> Point | None:
        with self.db.iterator(prefix=_ACCOUNT + who, reverse=True) as found:
            for _, raw in found:
                return dict(_unpack(raw))
        return None

    # -- following the chain -------------------------------------------------
    def behind(self, chain: Chain) -> bool:
        return self.tip is None or self.tip != chain.best.number or not self._canonical(chain, self.tip)

    def _canonical(self, chain: Chain, number: int) -> bool:
        point = self.point(number)
        return point is not None and chain.store.hash_at(number) == point["hash"]

    def follow(self, chain: Chain, budget: int = 256) -> int:
        """Catch up with the canonical chain by at most `budget` blocks; the
        blocks indexed. Each block's points go in one write with the tip."""
        with self.db.write_batch() as batch:
            base = self._rewind(chain, batch)
            self._put_meta(batch)
        previous = None if base is None else self.point(base)
        first = 0 if base is None else base + 1
        floor = chain.store.meta(STATE_FLOOR)
        if floor is not None and first < int.from_bytes(floor, "big"):  # no state below it (warp sync)
            previous, first = None, int.from_bytes(floor, "big")
        for number in range(first, min(chain.best.number, first + budget - 1) + 1):
            with self.db.write_batch() as batch:
                previous = self._index(chain, number, previous, batch)
                if previous is None:
                    break
                self.tip = number
                self._put_meta(batch)
        return 0 if self.tip is None else max(0, self.tip - first + 1)

    def _put_meta(self, batch: Any) -> None:
        batch.put(_META, _pack({"tip": self.tip, "stride": self.stride}))

    def _rewind(self, chain: Chain, batch: Any) -> int | None:
        """Drop the points of blocks no longer canonical; the highest kept one."""
        if self.tip is None or (self.tip <= chain.best.number and self._canonical(chain, self.tip)):
            return self.tip
        with self.db.iterator(start=_POINT, stop=_POINT + _n(self.tip + 1), reverse=True) as found:
            base = None
            for key, raw in found:
                number = int.from_bytes(key[1:], "big")
                if number <= chain.best.number and chain.store.hash_at(number) == _unpack(raw)["hash"]:
                    base = number
                    break
                batch.delete(key)
        self._drop_accounts_above(-1 if base is None else base, batch)
        self.tip = base
        return base

    def _drop_accounts_above(self, base: int, batch: Any) -> None:
        assert self.tip is not None
        touched: set[bytes] = set()
        complete = base >= self.tip - RECENT  # the touched lists reach back that far
        for number in range(base + 1, self.tip + 1):
            raw = self.db.get(_TOUCHED + _n(number))
            touched.update(_unpack(raw) if raw is not None else [])
            batch.delete(_TOUCHED + _n(number))
        keys = (k for who in touched for k in self.db.iterator(prefix=_ACCOUNT + who, include_value=False))
        if not complete:  # a reorg deeper than the window: look at every account's points
            keys = self.db.iterator(prefix=_ACCOUNT, include_value=False)
        for key in list(keys):
            if int.from_bytes(key[-8:], "big") > base:
                batch.delete(key)

    def _index(self, chain: Chain, number: int, previous: Point | None, batch: Any) -> Point | None:
        block_hash = chain.store.hash_at(number)
        header = None if block_hash is None else chain.store.header(block_hash)
        state = None if block_hash is None else chain.state_at(block_hash)
        if header is None or state is None or block_hash is None:
            return None
        events = chain.store.events(block_hash)
        point = chain_point(header, state, events, previous)
        batch.put(_POINT + _n(number), _pack(point))
        changes = account_changes(header, state, events)
        batch.put(_TOUCHED + _n(number), _pack(sorted(changes)))
        for who, added in changes.items():
            self._account_point(who, number, added, batch, reputation.score(state, who))
        self._thin(number, batch)
        return point

    def _account_point(self, who: bytes, number: int, added: Point, batch: Any, score: int) -> None:
        latest = self.account_latest(who) or {}
        point = {name: latest.get(name, 0) + added.get(name, 0) for name in ACCOUNT_TOTALS}
        point["number"] = number
        point["reputation"] = score  # after the block: a snapshot, not a total (its history is the series)
        batch.put(_ACCOUNT + who + _n(number), _pack(point))
        keys = list(self.db.iterator(prefix=_ACCOUNT + who, include_value=False))
        if len(keys) + 1 > MAX_ACCOUNT_POINTS:  # totals: the points kept stay exact
            for key in keys[1::2]:
                batch.delete(key)

    def _thin(self, number: int, batch: Any) -> None:
        """Leave the dense window behind; double the stride when sampled points overflow."""
        old = number - RECENT
        if old < 0:
            return
        batch.delete(_TOUCHED + _n(old))
        if old % self.stride:
            batch.delete(_POINT + _n(old))
        if old // self.stride + 1 <= MAX_SAMPLED:
            return
        self.stride *= 2
        for key in self.db.iterator(start=_POINT, stop=_POINT + _n(old + 1), include_value=False):
            if int.from_bytes(key[1:], "big") % self.stride:
                batch.delete(key)
