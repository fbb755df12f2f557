"""The package's layers (DESIGN.md): no import cycles, nothing imports upward.

Every ``import`` in ``medseg/`` is read with ``ast`` — also those inside functions, which run
later but are dependencies all the same — and checked against the layer table below. A cycle
between two modules (``a`` imports ``b`` and ``b`` imports ``a``, however indirectly) fails,
as does an import from a lower layer into a higher one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "medseg"

#: top-level package -> layer; a module may import only its own layer or lower ones.
LAYERS = {
    # ground floor: data in, numbers out; no inference machinery
    "medseg": 0,  # the lazy top-level __init__ (version, attribute access)
    "labels": 0,
    "runtime": 0,
    "interrupts": 0,
    "io": 0,
    "transforms": 0,
    "models": 0,
    "losses": 0,
    "metrics": 0,
    "viz": 0,
    "data": 0,
    "runners": 0,
    # deployment formats: models and the ground floor only
    "export": 1,
    # inference and training engines (may use export to build a back-end)
    "engine": 2,
    # everything that serves people or other programs
    "monai": 3,
    "bench": 3,
    "batch": 3,
    "video": 3,
    "pacs": 3,
    "app": 3,
    "commands": 4,
    "cli": 5,
}

#: imports that are fine although they point upward; each needs a reason.
ALLOWED_UPWARD: set[tuple[str, str]] = {
    # deprecated alias of the moved batch job (warns on import; removed in the next release)
    ("medseg.engine.batch", "medseg.batch"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """medseg modules imported by ``name`` (resolving relative imports and ``from pkg import
    submodule``)."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
            froms: list[tuple[str, str]] = []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = []
            froms = [(mod, a.name) for a in node.names]
        else:
            continue
        for t in targets:
            if t == "medseg" or t.startswith("medseg."):
                out.add(t)
        for mod, attr in froms:
            if not (mod == "medseg" or mod.startswith("medseg.")):
                continue
            sub = f"{mod}.{attr}"
            out.add(sub if sub in known else mod)
    out.discard(name)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: {t for t in _imports(m, p, known) if t in known} for m, p in mods.items()}


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "medseg"
    if top not in LAYERS:
        raise AssertionError(f"{module}: package {top!r} has no layer in tests/test_layers.py")
    return LAYERS[top]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_package_init(module: str) -> bool:
    return (ROOT.parent / Path(*module.split(".")) / "__init__.py").is_file()


def test_every_package_has_a_layer():
    for m in _modules():
        _layer(m)


def test_no_upward_imports():
    bad = []
    for a, targets in _graph().items():
        for b in targets:
            if _layer(b) > _layer(a) and (a, b) not in ALLOWED_UPWARD:
                bad.append(f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})")
    assert not bad, "upward imports:\n" + "\n".join(sorted(bad))


def test_no_import_cycles():
    graph = _graph()
    # A package's __init__ re-exporting its submodules, which import siblings through the
    # package, is how Python packages work, not a design cycle: drop edges into a package's
    # own __init__ from inside it.
    pruned = {
        a: {b for b in targets if not (_is_package_init(b) and a.startswith(b + "."))}
        for a, targets in graph.items()
    }
    cycles = _cycles(pruned)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_driving_demo_or_network_in_the_package():
    for m, p in _modules().items():
        text = p.read_text()
        assert "driving_demo" not in {
            n.split(".")[0]
            for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for n in (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
        }, f"{m} imports driving_demo"


def test_detector_finds_a_planted_cycle_and_upward_import(tmp_path, monkeypatch):
    # The checks above must be able to fail: plant a cycle and an upward import in a copy.
    fake = tmp_path / "medseg"
    (fake / "io").mkdir(parents=True)
    (fake / "engine").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "io" / "__init__.py").write_text("")
    (fake / "engine" / "__init__.py").write_text("")
    (fake / "io" / "a.py").write_text("def f():\n    from ..engine import b\n")
    (fake / "engine" / "b.py").write_text("from ..io import a\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", fake)
    assert _cycles(_graph()) == [["medseg.engine.b", "medseg.io.a"]]
    with pytest.raises(AssertionError, match="medseg.io.a .layer 0. imports medseg.engine.b"):
        test_no_upward_imports()
