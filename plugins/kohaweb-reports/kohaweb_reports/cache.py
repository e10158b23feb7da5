"""A small thread-safe result cache: per-entry expiry (the report's ``cache_expiry``) and a
size bound, least recently used out first. Shared by every thread of the process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class ResultCache:
    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic):
        self.max_entries = max_entries
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
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any, ttl: float) -> None:
        if ttl <= 0 or self.max_entries <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def discard_report(self, report_id: int) -> None:
        """Forget every cached result of one report (after it was edited or deleted)."""
        with self._lock:
            for key in [k for k in self._entries if isinstance(k, tuple) and k and k[0] == report_id]:
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)
