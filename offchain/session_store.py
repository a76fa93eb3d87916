"""What a provider keeps of each session it serves: the request log (leaves
and the requests and results behind them, for sampled verification), and
the latest cheque, which is what it settles.

One directory per session under the worker's folder:
    leaves    32 bytes per served request, appended (the Merkle log)
    records   [seq, request, result, units] msgpack frames, length-prefixed
    cheque    the latest cheque, replaced atomically
A crash may lose the tail of an append: on opening, the log is cut back to
the records that are whole in both files, so leaves and records agree.
"""

import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from offchain.records import RecordDir
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
        self._recover()

    def _recover(self) -> None:
        records, leaves_path = self.folder / "records", self.folder / "leaves"
        data = records.read_bytes() if records.exists() else b""
        ends: list[int] = []
        offset = 0
        while offset + FRAME_HEAD.size <= len(data):
            (size,) = FRAME_HEAD.unpack_from(data, offset)
            if offset + FRAME_HEAD.size + size > len(data):
                break
            self.offsets.append(offset)
            offset += FRAME_HEAD.size + size
            ends.append(offset)
        raw = leaves_path.read_bytes() if leaves_path.exists() else b""
        whole = min(len(raw) // 32, len(ends))
        self.leaves = [raw[i * 32 : (i + 1) * 32] for i in range(whole)]
        self.offsets = self.offsets[:whole]
        for path, size, keep in (
            (records, len(data), ends[whole - 1] if whole else 0),
            (leaves_path, len(raw), whole * 32),
        ):
            if size != keep:
                with open(path, "r+b") as handle:
                    handle.truncate(keep)

    @property
    def count(self) -> int:
        return len(self.leaves)

    def root(self) -> bytes:
        return root(self.leaves)

    def append(self, served: Served, request_hash: bytes, result_hash: bytes) -> bytes:
        """Log one served request (synced before the answer leaves the node:
        a settled leaf must be publishable after a crash)."""
        item = leaf(served.seq, request_hash, result_hash, served.units)
        frame = msgpack.packb([served.seq, served.request, served.result, served.units], use_bin_type=True)
        with open(self.folder / "records", "ab") as handle:
            offset = handle.tell()
            handle.write(FRAME_HEAD.pack(len(frame)) + frame)
            handle.flush()
            os.fsync(handle.fileno())
        with open(self.folder / "leaves", "ab") as handle:
            handle.write(item)
            handle.flush()
            os.fsync(handle.fileno())
        self.leaves.append(item)
        self.offsets.append(offset)
        return item

    def served(self, index: int) -> Served:
        with open(self.folder / "records", "rb") as handle:
            handle.seek(self.offsets[index])
            (size,) = FRAME_HEAD.unpack(handle.read(FRAME_HEAD.size))
            seq, request, result, units = msgpack.unpackb(handle.read(size), raw=False)
        return Served(seq, request, result, units)

    def proof(self, index: int, count: int) -> list[bytes]:
        """Leaf `index`'s path to the root of the log's first `count` leaves (a settled batch's root)."""
        return proof(self.leaves[:count], index)

    def cheque(self) -> dict[str, Any] | None:
        return self.meta.get("cheque")

    def keep_cheque(self, cheque: dict[str, Any]) -> None:
        self.meta.put("cheque", cheque)

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
