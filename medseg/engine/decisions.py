"""Decisions measured on this machine (``backend="auto"``, volume checks, TTA batching), kept
in one JSON file per machine under the user cache folder.

The file is named by :func:`medseg.engine.machine.machine_key`, a hash of the CPU model, its
flags, the thread count and the library versions: another CPU or an upgraded OpenVINO
measures again instead of trusting an old decision.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from .machine import machine_fingerprint, machine_key

log = logging.getLogger("medseg.autotune")

#: overrides the cache folder (tests point it at a temporary folder)
ENV_CACHE = "MEDSEG_CACHE_DIR"
#: bump when the way decisions are made changes (old cache entries are then ignored)
ALGORITHM = 2


def cache_dir() -> Path:
    """``$MEDSEG_CACHE_DIR``, else ``$XDG_CACHE_HOME/medseg``, else ``~/.cache/medseg``."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "medseg"


class DecisionCache:
    """Decisions measured on this machine, in one JSON file per machine key.

    Sections: ``choices`` (``auto``), ``volume_checks`` (medical Dice checks), ``tta``
    (batched vs looped TTA). Writes go to a temporary file renamed over the old one, so
    concurrent processes never read half a file (the last writer wins).
    """

    def __init__(self, path: str | Path | None = None):
        self.fingerprint = machine_fingerprint()
        self.key = machine_key(self.fingerprint)
        self.path = Path(path) if path else cache_dir() / "autotune" / f"{self.key}.json"
        self._lock = threading.Lock()

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if data.get("algorithm") == ALGORITHM else {}

    def get(self, section: str, key: str) -> dict | None:
        return self._read().get(section, {}).get(key)

    def put(self, section: str, key: str, value: dict) -> None:
        with self._lock:
            data = self._read() or {"algorithm": ALGORITHM, "machine": self.fingerprint}
            data.setdefault(section, {})[key] = value
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.part")
                tmp.write_text(json.dumps(data, indent=1, default=str))
                tmp.replace(self.path)
            except OSError as e:  # a read-only home must not stop inference
                log.warning("cannot write the back-end decision cache %s: %s", self.path, e)
