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
