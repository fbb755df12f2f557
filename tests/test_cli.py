from __future__ import annotations

import json
import subprocess
import sys
import time


def test_medseg_models_lists_registry():
    out = subprocess.run(
        [sys.executable, "-m", "medseg.cli", "models", "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = json.loads(out)
    names = {r["name"] for r in rows}
    assert {
        "fcn_vgg16",
        "unet",
        "deeplabv3_resnet50",
        "lraspp_mobilenet_v3",
        "unet_medical",
    } <= names
    assert all(r["params_m"] > 0 for r in rows)


def test_help_lists_subcommands():
    out = subprocess.run(
        [sys.executable, "-m", "medseg.cli", "--help"], capture_output=True, text=True
    ).stdout
    for cmd in ("models", "train", "predict", "app"):
        assert cmd in out
    # each line's help text comes from the command module's HELP (parenthesised ones too)
    assert "benchmarks: model x backend" in out


def test_import_is_light():
    code = (
        "import sys, time; t=time.perf_counter(); import medseg, medseg.models;"
        "print(time.perf_counter()-t);"
        "print(any(m in sys.modules for m in ('gradio','onnxruntime','cv2','highdicom')))"
    )
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    del t0
    lines = out.split()
    assert lines[1] == "False", "heavy optional modules were imported by `import medseg`"


def test_main_leaves_sys_argv_alone(capsys):
    # regression: main(argv) overwrote the host's global sys.argv
    from medseg.cli import main

    before = list(sys.argv)
    assert main(["models", "--json"]) == 0
    assert sys.argv == before
    capsys.readouterr()


def test_every_option_of_every_command_has_help_and_shows_its_default():
    import argparse

    from medseg.cli import COMMANDS, build_parser

    for name in COMMANDS:
        parser = build_parser([name])
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        p = sub.choices[name]
        text = p.format_help()
        for a in p._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            assert a.help, f"medseg {name} {a.option_strings or a.dest}: no help text"
            shown = a.default not in (None, False, argparse.SUPPRESS) and a.option_strings
            if shown and not isinstance(a, argparse._StoreConstAction):
                assert "default" in p._get_formatter()._get_help_string(a), (name, a.dest)
        assert "(default: None)" not in text


def test_train_help_documents_the_quick_run_overrides():
    r = subprocess.run(
        [sys.executable, "-m", "medseg.cli", "train", "--help"], capture_output=True, text=True
    )
    assert "train.max_steps_per_epoch" in r.stdout and "data.train_length" in r.stdout
