"""What a provider keeps of each session it serves: the request log (leaves
and the requests and results behind them, for sampled verification), and
the latest cheque, which is what it settles.

One directory per session under the worker's folder, with one file:
    records   [seq, request, result, units, cheque] msgpack frames, length-prefixed
appended and synced once per request (the leaves, and the latest cheque,
are read back from it on opening). A crash may lose the tail of an append:
on opening, the file is cut back to its whole records.
"""

import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from offchain.records import RecordDir
from runtime.codec import blake2b_256
from runtime.session_log import leaf, proof, root

FRAME_HEAD = struct.Struct(">I")


@dataclass(frozen=True)
class Served:
    seq: int
    request: bytes  # canonical request bytes, whose hash the cheque names
    result: bytes  # canonical result bytes
    units: int  # this request's work units


class SessionLog:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.meta = RecordDir(folder)
        self.leaves: list[bytes] = []
        self.offsets: list[int] = []
        self.last_cheque: dict[str, Any] | None = None
        self._recover()

    def _recover(self) -> None:
        records = self.folder / "records"
        data = records.read_bytes() if records.exists() else b""
        offset = 0
        while offset + FRAME_HEAD.size <= len(data):
            (size,) = FRAME_HEAD.unpack_from(data, offset)
            end = offset + FRAME_HEAD.size + size
            if end > len(data):
                break
            try:
                seq, request, result, units, cheque = msgpack.unpackb(
                    data[offset + FRAME_HEAD.size : end], raw=False
                )
            except (ValueError, msgpack.UnpackException):
                break
            self.leaves.append(leaf(seq, blake2b_256(request), blake2b_256(result), units))
            self.offsets.append(offset)
            self.last_cheque = cheque or self.last_cheque
            offset = end
        if offset != len(data):
            with open(records, "r+b") as handle:
                handle.truncate(offset)

    @property
    def count(self) -> int:
        return len(self.leaves)

    def root(self) -> bytes:
        return root(self.leaves)

    def append(
        self, served: Served, request_hash: bytes, result_hash: bytes, cheque: dict[str, Any] | None = None
    ) -> bytes:
        """Log one served request and the cheque that pays for it, synced
        before the answer leaves the node: a settled leaf must be
        publishable after a crash."""
        item = leaf(served.seq, request_hash, result_hash, served.units)
        frame = msgpack.packb(
            [served.seq, served.request, served.result, served.units, cheque], use_bin_type=True
        )
        with open(self.folder / "records", "ab") as handle:
            offset = handle.tell()
            handle.write(FRAME_HEAD.pack(len(frame)) + frame)
            handle.flush()
            os.fsync(handle.fileno())
        self.leaves.append(item)
        self.offsets.append(offset)
        if cheque is not None:
            self.last_cheque = cheque
        return item

    def served(self, index: int) -> Served:
        with open(self.folder / "records", "rb") as handle:
            handle.seek(self.offsets[index])
            (size,) = FRAME_HEAD.unpack(handle.read(FRAME_HEAD.size))
            seq, request, result, units, _ = msgpack.unpackb(handle.read(size), raw=False)
        return Served(seq, request, result, units)

    def proof(self, index: int, count: int) -> list[bytes]:
        """Leaf `index`'s path to the root of the log's first `count` leaves (a settled batch's root)."""
        return proof(self.leaves[:count], index)

    def cheque(self) -> dict[str, Any] | None:
        """The latest cheque: what the provider settles."""
        return self.last_cheque

    def state(self) -> dict[str, Any]:
        """The provider's own bookkeeping (e.g. what was settled, sent when)."""
        return self.meta.get("state") or {}

    def keep_state(self, record: dict[str, Any]) -> None:
        self.meta.put("state", record)


class SessionStore:
    """The logs of every session this provider serves, opened on demand."""

    def __init__(self, root_folder: Path) -> None:
        self.root = root_folder
        root_folder.mkdir(parents=True, exist_ok=True)
        self.open: dict[int, SessionLog] = {}

    def log(self, session: int) -> SessionLog:
        found = self.open.get(session)
        if found is None:
            found = self.open[session] = SessionLog(self.root / str(session))
        return found

    def known(self) -> list[int]:
        return sorted(int(p.name) for p in self.root.iterdir() if p.is_dir() and p.name.isdigit())

    def forget(self, session: int) -> None:
        self.open.pop(session, None)
        shutil.rmtree(self.root / str(session), ignore_errors=True)
