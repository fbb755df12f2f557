"""Benchmark plumbing on tiny inputs (no timing thresholds: timings are only reported)."""

from __future__ import annotations

import argparse

import pytest

from medseg.bench.suite import BACKEND_COLUMNS, bench_backends, bench_tta, format_table
from medseg.commands import bench as bench_cmd


def test_bench_backends_rows():
    rows = bench_backends(
        "unet",
        ("torch", "onnxruntime", "torchscript"),
        ((32, 48),),
        reps=2,
        warmup=1,
        pretrained=False,
        model_kwargs={"base_channels": 8},
    )
    assert [r["backend"] for r in rows] == ["torch", "onnxruntime", "torchscript"]
    for r in rows:
        assert r["size"] == "32x48" and r["median_ms"] > 0 and r["p90_ms"] >= r["median_ms"]
        assert r["fps"] == pytest.approx(1000 / r["median_ms"])
        assert r["max_abs_diff"] < 1e-4
    assert rows[0]["speedup"] == pytest.approx(1.0)
    assert rows[1]["speedup"] == pytest.approx(rows[0]["median_ms"] / rows[1]["median_ms"])
    table = format_table(rows, BACKEND_COLUMNS)
    assert table.count("\n") == 4 and "| unet | onnxruntime | 32x48 |" in table


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_bench_tta_same_result(backend):
    r = bench_tta(
        "unet",
        (32, 32),
        backend=backend,
        reps=1,
        warmup=0,
        pretrained=False,
        model_kwargs={"base_channels": 8},
    )
    assert r["views"] == 6 and r["max_abs_diff"] < 1e-5 and r["speedup"] > 0
    assert r["backend"] == backend


def test_bench_all_runs_helpers_and_skips_missing(tmp_path, monkeypatch):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "bench_metrics.py").write_text(
        "def run(n_images=100, repeats=3):\n    return {'n': n_images}\n"
        "def format_markdown(res):\n    return f'| n |\\n|---|\\n| {res[\"n\"]} |\\n'\n"
    )
    (scripts / "bench_video.py").write_text("def run():\n    raise RuntimeError('boom')\n")
    (scripts / "bench_training.py").write_text(
        "import argparse\n"
        "def main(argv=None):\n"
        "    ap = argparse.ArgumentParser()\n"
        '    ap.add_argument("--reps", type=int, default=3)\n'
        '    ap.add_argument("--out")\n'
        "    a = ap.parse_args(argv)\n"
        "    open(a.out, 'w').write(f'# Training\\n\\nreps={a.reps}\\n')\n"
        "    return 0\n"
    )
    out_md = tmp_path / "BENCHMARKS.md"
    p = argparse.ArgumentParser()
    bench_cmd.add_arguments(p)
    args = p.parse_args(
        [
            "backends",
            "--models",
            "unet_medical",
            "--backends",
            "torch",
            "--sizes",
            "32x32",
            "--reps",
            "1",
            "--quick",
            "--all",
            "--scripts-dir",
            str(scripts),
            "--benchmarks-md",
            str(out_md),
            "--out",
            str(tmp_path / "inf.md"),
        ]
    )
    assert bench_cmd.run(args) == 0
    text = out_md.read_text()
    assert "| unet_medical | torch | 32x32 |" in text
    assert "| 10 |" in text  # the helper ran with the --quick settings it accepts
    assert (
        "reps=1" in text and "\n# Training" not in text
    )  # main(argv) fallback, quick, own title dropped
    (scripts / "bench_training.py").unlink()
    assert bench_cmd.run(args) == 0
    assert "bench_training.py not found" in out_md.read_text()
    assert "bench_video.py failed: RuntimeError: boom" in text
    assert (tmp_path / "inf.md").read_text().startswith("# Inference benchmarks")


def test_bench_parser_defaults_to_every_sub_benchmark():
    p = argparse.ArgumentParser()
    bench_cmd.add_arguments(p)
    assert p.parse_args([]).what in (None, [])
    assert p.parse_args(["--all", "--quick", "--threads", "2"]).all
    assert p.parse_args(["tta", "int8"]).what == ["tta", "int8"]
