"""A small cache of values computed from an object, forgotten with the object.

The app derives a few things from a loaded scan (its content tag, its automatic window, the
NIfTI the viewer loads). Keeping them in a dict keyed by the scan would keep every scan's
voxels alive; this cache holds the objects by weak reference, so a scan evicted from the
scan cache takes its derived values with it.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any


class ObjectCache:
    """``{object: value}`` by identity, holding the objects weakly; at most ``maxsize`` items."""

    def __init__(self, maxsize: int = 32):
        self.maxsize = int(maxsize)
        self._items: OrderedDict[int, tuple[weakref.ref, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, obj: Any) -> Any:
        """The value stored for ``obj`` (this very object), or ``None``."""
        with self._lock:
            hit = self._items.get(id(obj))
            if hit is None or hit[0]() is not obj:
                return None
            self._items.move_to_end(id(obj))
            return hit[1]

    def put(self, obj: Any, value: Any) -> Any:
        key = id(obj)
        ref = weakref.ref(obj, lambda _r, key=key: self._forget(key, _r))
        with self._lock:
            self._items[key] = (ref, value)
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return value

    def _forget(self, key: int, ref: weakref.ref) -> None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] is ref:
                del self._items[key]

    def __len__(self) -> int:
        return len(self._items)
