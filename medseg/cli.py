"""``medseg`` console script.

Subcommands live in ``medseg/commands/<name>.py``; each module defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only for the
subcommand being run, so ``medseg --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: subcommand name → module under medseg.commands
COMMANDS: dict[str, str] = {
    "models": "models",
    "train": "train",
    "evaluate": "evaluate",
    "predict": "predict",
    "export": "export",
    "bench": "bench",
    "video": "video",
    "app": "app",
}


def _load(name: str):
    try:
        return importlib.import_module(f"medseg.commands.{COMMANDS[name]}")
    except ModuleNotFoundError as e:
        if e.name == f"medseg.commands.{COMMANDS[name]}":
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="medseg", description="medseg: segmentation toolkit")
    parser.add_argument("--version", action="version", version=f"medseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        mod = _load(name) if (len(sys.argv) > 1 and sys.argv[1] == name) else None
        help_text = getattr(mod, "HELP", None) if mod else _cheap_help(name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        if mod is not None:
            mod.add_arguments(p)
            p.set_defaults(_module=mod)
    return parser


def _cheap_help(name: str) -> str:
    # Read HELP without importing the module (keeps `medseg --help` light).
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("medseg.commands")
    if spec is None or not spec.submodule_search_locations:
        return ""
    path = Path(list(spec.submodule_search_locations)[0]) / f"{COMMANDS[name]}.py"
    if not path.is_file():
        return "(not available yet)"
    import ast

    # Parse rather than match lines, so a HELP wrapped in parentheses reads right too.
    for node in ast.parse(path.read_text()).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "HELP" for t in node.targets)
            and isinstance(node.value, ast.Constant)
        ):
            return str(node.value.value)
    return ""


def main(argv: list[str] | None = None) -> int:
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:])
    if not args.command:
        parser.print_help()
        return 0
    mod = getattr(args, "_module", None)
    if mod is None:
        mod = _load(args.command)
        if mod is None:
            print(f"medseg {args.command}: not available in this version", file=sys.stderr)
            return 2
        p = argparse.ArgumentParser(prog=f"medseg {args.command}")
        mod.add_arguments(p)
        args = p.parse_args(sys.argv[2:])
    from .runtime import tune_allocator

    tune_allocator()  # glibc malloc keeps tensor memory for reuse (see medseg/runtime.py)
    try:
        return int(mod.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as e:
        print(
            f"medseg {args.command if hasattr(args, 'command') else ''}: error: {e}",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
