"""Log lines of third-party libraries (py-libp2p, trio, hypercorn) through
the node's own format: one line each, with a timestamp, never a traceback
unless the node logs at debug level, and at most once a minute per message
so that a storm of one library error cannot bury the node's own lines."""

import logging
import time
from collections.abc import Callable

REPEAT_SECONDS = 60.0
OWN_PREFIX = "vcoin"


class LibraryLogFilter(logging.Filter):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self.last: dict[tuple[str, str], float] = {}
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".")[0] == OWN_PREFIX:
            return True
        debugging = logging.getLogger().isEnabledFor(logging.DEBUG)
        if record.levelno < logging.WARNING and not debugging:
            return False  # a library's routine chatter (py-libp2p's dialer sets its own INFO level)
        key = (record.name, str(record.msg)[:200])
        now = self.clock()
        if now - self.last.get(key, -REPEAT_SECONDS) < REPEAT_SECONDS:
            self.suppressed += 1
            return False
        if len(self.last) > 1024:
            self.last.clear()
        self.last[key] = now
        if "\n" in record.getMessage():  # one record, one line: py-libp2p writes tables
            record.msg, record.args = record.getMessage().replace("\n", " | "), None
        if record.exc_info and not debugging:
            error = record.exc_info[1]
            if error is not None:
                record.msg = f"{record.getMessage()} ({type(error).__name__}: {error})"
                record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def install() -> LibraryLogFilter:
    """Put the filter on every handler of the root logger (filters on a
    logger would miss the records of its children). py-libp2p detaches its
    logger (no handler, no propagation), so its errors reached Python's
    last-resort handler: raw lines without a timestamp. It propagates again."""
    library = logging.getLogger("libp2p")
    library.handlers.clear()
    library.propagate = True
    found = LibraryLogFilter()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, LibraryLogFilter) for f in handler.filters):
            handler.addFilter(found)
    return found
