"""Tracebacks of failed requests, at most one a minute per route or method.

Whoever can make a request fail can repeat it: a traceback per failure
would let any client fill the node's disk with its log."""

import logging
import time

TRACE_EVERY = 60.0  # seconds between two logged tracebacks under one name


class TraceLimit:
    def __init__(self, log: logging.Logger, what: str) -> None:
        self.log, self.what = log, what
        self._traced: dict[str, float] = {}  # keys: a bounded set of names (routes, the method table)
        self._untraced: dict[str, int] = {}

    def failed(self, name: str) -> None:
        """Inside an `except`: log its traceback, or count it if `name`'s
        last one was logged less than TRACE_EVERY ago."""
        now = time.monotonic()
        if now - self._traced.get(name, -TRACE_EVERY) < TRACE_EVERY:
            self._untraced[name] = self._untraced.get(name, 0) + 1
            return
        self._traced[name] = now
        hidden = self._untraced.pop(name, 0)
        self.log.exception("%s %s failed (%d more failures since its last trace)", self.what, name, hidden)
