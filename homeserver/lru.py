"""A dict with a written bound: at most ``max_size`` entries, the least recently used
evicted first. Every in-memory cache keyed by something a remote party chooses (a server
name, a user ID) is one of these, so no stream of made-up names can grow memory."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LruDict(Generic[K, V]):
    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, default: V | None = None) -> V | None:
        if key not in self._items:
            return default
        self._items.move_to_end(key)
        return self._items[key]

    def __setitem__(self, key: K, value: V) -> None:
        self.put(key, value)

    def put(self, key: K, value: V) -> list[K]:
        """Store ``key`` as the most recently used; the keys evicted to make room."""
        self._items[key] = value
        self._items.move_to_end(key)
        evicted = []
        while len(self._items) > self.max_size:
            evicted.append(self._items.popitem(last=False)[0])
        return evicted

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def pop(self, key: K, default: V | None = None) -> V | None:
        return self._items.pop(key, default)
