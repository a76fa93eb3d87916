"""A directory of small msgpack records, each replaced atomically (write,
fsync, rename), so a crash leaves either the old record or the new one. The
workers keep what they must not lose across a restart here."""

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack


class RecordDir:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self.root / f"{name}.msgpack"

    def get(self, name: str) -> dict[str, Any] | None:
        path = self._path(name)
        if not path.exists():
            return None
        record = msgpack.unpackb(path.read_bytes(), raw=False, strict_map_key=False)
        return record if isinstance(record, dict) else None

    def put(self, name: str, record: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(msgpack.packb(record, use_bin_type=True))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path(name))

    def forget(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def names(self) -> Iterator[str]:
        for path in sorted(self.root.glob("*.msgpack")):
            yield path.name.removesuffix(".msgpack")
