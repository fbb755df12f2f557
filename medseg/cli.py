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
    "listen": "listen",
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's default in ``--help`` (flags and unset options excepted: ``False`` and
    ``None`` say nothing); descriptions keep their line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if (
            "default" in text
            or isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction))
            or d is None
            or d is False
            or d is argparse.SUPPRESS
            or action.option_strings == []
        ):
            return text
        return f"{text} (default: %(default)s)"


def _load(name: str):
    return importlib.import_module(f"medseg.commands.{COMMANDS[name]}")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``medseg`` parser; only the subcommand named in ``argv`` is imported (the others'
    one-line help is read from their source), so ``medseg --help`` stays fast."""
    from . import __version__

    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="medseg", description="medseg: segmentation toolkit")
    parser.add_argument("--version", action="version", version=f"medseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        mod = _load(name) if (argv and argv[0] == name) else None
        help_text = getattr(mod, "HELP", None) if mod else _cheap_help(name)
        p = sub.add_parser(
            name,
            help=help_text,
            description=getattr(mod, "DESCRIPTION", None) or help_text,
            formatter_class=HelpFormatter,
        )
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
    """Run ``medseg ARGV`` (default: the process' arguments) and return the exit status.

    The host process is left as it was found (``sys.argv`` is read, never written).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    mod = args._module
    from .interrupts import exit_code, interrupts_as_keyboard_interrupt
    from .runtime import tune_allocator

    tune_allocator()  # glibc malloc keeps tensor memory for reuse (see medseg/runtime.py)
    try:
        # Ctrl-C and SIGTERM end every command the same clean way, also when the process
        # was started in the background with SIGINT ignored (see medseg/interrupts.py)
        with interrupts_as_keyboard_interrupt():
            return int(mod.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return exit_code()
    except (ValueError, FileNotFoundError) as e:
        print(f"medseg {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
