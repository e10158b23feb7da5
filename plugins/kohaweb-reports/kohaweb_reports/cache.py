"""A small thread-safe result cache: per-entry expiry (the report's ``cache_expiry``), a bound
on entries and one on bytes (``Result.size``), least recently used out first. Shared by every
thread of the process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class ResultCache:
    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic, max_bytes: int = 0):
        """``max_bytes`` bounds the sum of the values' ``size`` attributes (0: no bound)."""
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, value = entry
            if expires <= self._clock():
                self._remove(key)
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any, ttl: float) -> None:
        size = getattr(value, "size", 0)
        if ttl <= 0 or self.max_entries <= 0 or (self.max_bytes and size > self.max_bytes):
            return
        with self._lock:
            if key in self._entries:
                self._remove(key)
            self._entries[key] = (self._clock() + ttl, value)
            self.bytes += size
            while len(self._entries) > self.max_entries or (self.max_bytes and self.bytes > self.max_bytes):
                self._remove(next(iter(self._entries)))

    def _remove(self, key: Hashable) -> None:
        _expires, value = self._entries.pop(key)
        self.bytes -= getattr(value, "size", 0)

    def discard_report(self, report_id: int) -> None:
        """Forget every cached result of one report (after it was edited or deleted)."""
        with self._lock:
            for key in [k for k in self._entries if isinstance(k, tuple) and k and k[0] == report_id]:
                self._remove(key)

    def __len__(self) -> int:
        return len(self._entries)
