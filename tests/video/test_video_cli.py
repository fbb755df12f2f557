from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from medseg.video import auto_size

ROOT = Path(__file__).resolve().parents[2]


def test_auto_size_hand_cases():
    from medseg.models import get_model_cfg

    cfg = get_model_cfg("lraspp_mobilenet_v3")  # input (256, 512), divisor 16
    assert auto_size(61, 97, cfg) == (61, 97)  # small frames keep their size
    assert auto_size(576, 768, cfg) == (256, 336)  # 768 * 256 / 576 = 341.3 -> 21 * 16
    assert auto_size(1080, 1920, cfg) == (256, 448)  # 455.1 = 28.4 * 16 -> 28 * 16


def test_medseg_never_imports_driving_demo():
    pat = re.compile(r"^\s*(from|import)\s+driving_demo", re.M)
    offenders = [p for p in (ROOT / "medseg").rglob("*.py") if pat.search(p.read_text())]
    assert offenders == []


def test_driving_demo_cli(tmp_path, shapes_video, vt):
    from driving_demo.cli import main

    out = tmp_path / "o.webm"
    rc = main(
        [
            str(shapes_video),
            "-o",
            str(out),
            "--model",
            "unet",
            "--random-weights",
            "--backend",
            "torch",
            "--size",
            "native",
            "--smooth",
            "0.5",
            "--stride",
            "2",
            "--json",
            str(tmp_path / "c.jsonl"),
            "--masks-dir",
            str(tmp_path / "m"),
            "--summary-json",
            str(tmp_path / "s.json"),
            "--quiet",
            "--side-by-side",
        ]
    )
    assert rc == 0
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["frames"] == vt.N // 2 and s["stride"] == 2 and s["smooth"] == 0.5
    back = vt.read_video(out)
    assert len(back) == vt.N // 2 and back[0].shape == (62, 2 * vt.W, 3)
    assert len(list((tmp_path / "m").glob("*.png"))) == vt.N // 2
    assert len((tmp_path / "c.jsonl").read_text().splitlines()) == vt.N // 2


def test_medseg_video_command_errors(tmp_path, capsys):
    from medseg.cli import main

    rc = main(["video", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o.webm"), "--quiet"])
    assert rc == 2
    assert "not found" in capsys.readouterr().err
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 100)
    rc = main(["video", str(junk), "-o", str(tmp_path / "o.webm"), "--random-weights", "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "junk.mp4" in err and "Traceback" not in err


@pytest.mark.parametrize("bad", ["12", "0x5", "axb"])
def test_bad_size_flag(bad, capsys, request):
    from driving_demo.cli import build_parser

    if bad == "0x5":  # parses, but the pipeline rejects sizes under 8 px
        assert build_parser().parse_args(["v.mp4", "--size", bad]).size == (0, 5)
        from medseg.models import create_model
        from medseg.video import process_video

        model = create_model("unet", base_channels=4)
        with pytest.raises(ValueError, match="at least 8x8"):
            process_video(request.getfixturevalue("shapes_video"), None, model, size=(0, 5))
        return
    with pytest.raises(SystemExit):
        build_parser().parse_args(["v.mp4", "--size", bad])
    assert "HxW" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "sig, inherited_ignore, code",
    [
        ("SIGINT", False, 130),  # Ctrl-C in a terminal
        ("SIGINT", True, 130),  # started as a background job of a script: SIGINT ignored
        ("SIGTERM", False, 143),  # timeout, docker stop, systemd
    ],
)
def test_signal_leaves_playable_video(tmp_path, vt, sig, inherited_ignore, code):
    """A real SIGINT or SIGTERM to `python -m driving_demo`: exit 130 / 143, a decodable partial
    video whose frame count matches the masks written and the summary — also when the process
    inherited SIGINT as ignored, as a background job of a non-interactive shell does."""
    import os
    import signal
    import subprocess
    import sys
    import time

    src = vt.write_video(tmp_path / "long.avi", vt.shapes_frames(n=400))
    out, masks = tmp_path / "o.webm", tmp_path / "m"
    cmd = [
        sys.executable,
        "-m",
        "driving_demo",
        str(src),
        "-o",
        str(out),
        "--model",
        "unet",
        "--random-weights",
        "--backend",
        "torch",
        "--size",
        "native",
        "--masks-dir",
        str(masks),
        "--quiet",
        "--threads",
        "1",
        "--batch-size",
        "2",
        "--summary-json",
        str(tmp_path / "s.json"),
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def ignore_sigint():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignore_sigint if inherited_ignore else None,
    )
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None:
        if masks.is_dir() and len(list(masks.glob("*.png"))) >= 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "interrupted" in err and "Traceback" not in err
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["interrupted"] and 4 <= s["frames"] < 400
    back = vt.read_video(out)
    assert len(back) == s["frames"] == len(list(masks.glob("*.png")))


def test_good_run_prints_no_encoder_noise(tmp_path, vt):
    """Every .webm write used to print OpenCV's "tag 0x30385056/'VP80' is not supported"
    line to the user's terminal: a good run's stderr must hold no such line."""
    import os
    import subprocess
    import sys

    src = vt.write_video(tmp_path / "short.avi", vt.shapes_frames(n=6))
    cmd = [sys.executable, "-m", "driving_demo", str(src), "-o", str(tmp_path / "o.webm"),
           "--model", "unet", "--random-weights", "--backend", "torch", "--size", "native",
           "--quiet", "--threads", "1"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "is not supported with codec id" not in r.stderr and "VP80" not in r.stderr
    assert (tmp_path / "o.webm").stat().st_size > 0
