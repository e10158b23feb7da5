from __future__ import annotations

import threading

from kohaweb_barcode.cache import LRUCache


def test_least_recently_used_goes_first():
    cache = LRUCache(2)
    cache.put("a", b"1")
    cache.put("b", b"2")
    assert cache.get("a") == b"1"  # "b" is now the oldest
    cache.put("c", b"3")
    assert cache.get("b") is None and cache.get("a") == b"1" and cache.get("c") == b"3"
    assert (cache.hits, cache.misses) == (3, 1)


def test_many_threads_keep_the_size_bound():
    cache = LRUCache(50)
    errors = []

    def work(n: int) -> None:
        try:
            for i in range(2000):
                key = (n * 7 + i) % 120
                if cache.get(key) is None:
                    cache.put(key, str(key).encode())
                elif cache.get(key) not in (None, str(key).encode()):
                    errors.append(key)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(cache) == 50
