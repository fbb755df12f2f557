"""The bad-input corpus: generated on demand by ``scripts/make_corpus.py`` (never checked in).

``ensure_corpus()`` builds ``tests/corpus/generated/`` once (under a file lock, so parallel
pytest workers share one build) and rebuilds it when the generator script changes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import tempfile
from pathlib import Path

from filelock import FileLock

HERE = Path(__file__).resolve().parent
GENERATED = HERE / "generated"
SCRIPT = HERE.parents[1] / "scripts" / "make_corpus.py"


def generator():
    # scripts/ is not a package: load the generator module from its file.
    spec = importlib.util.spec_from_file_location("medseg_make_corpus", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def ensure_corpus() -> dict:
    """Build the corpus if missing or stale; return the manifest (paths made absolute)."""
    gen = generator()
    key = hashlib.sha1(str(GENERATED).encode()).hexdigest()[:12]
    with FileLock(str(Path(tempfile.gettempdir()) / f"medseg-corpus-{key}.lock"), timeout=300):
        mpath = GENERATED / "manifest.json"
        manifest = json.loads(mpath.read_text()) if mpath.is_file() else None
        stale = (
            manifest is None
            or manifest.get("version") != gen.VERSION
            or manifest.get("script_sha256") != gen.script_sha256()
            or manifest.get("root") != str(GENERATED)
            or not all((GENERATED / c["path"]).exists() for c in manifest["cases"])
        )
        if stale:
            manifest = gen.build_corpus(GENERATED)
    return manifest


def case_path(manifest: dict, case: dict) -> Path:
    """Absolute path of a case's file or folder."""
    return Path(manifest["root"]) / case["path"]


def message_matches(case: dict, message: str) -> bool:
    """Whether ``message`` contains one of the case's expected phrases (case-insensitive)."""
    low = message.lower()
    return any(p.lower() in low for p in case["phrases"])


def names_file(path: Path, message: str) -> bool:
    """Whether ``message`` names the file, or for a folder the folder or one file in it."""
    path = Path(path)
    names = [path.name] + ([p.name for p in path.iterdir()] if path.is_dir() else [])
    return any(n in message for n in names)
