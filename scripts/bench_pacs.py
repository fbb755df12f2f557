"""PACS round trip: last instance received -> SEG stored in Orthanc, through ``medseg listen``.

Usage: python scripts/bench_pacs.py [--stable-seconds 10] [--runs 3] [--backend torch] [--no-ahead]
       [--burst 20] [--threads 2]

A real Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``, started here on loopback ports)
holds the whole Colin27 head (mricron-data ``ch2.nii.gz``, 181 x 217 x 181, written as an MR
series of 181 instances, fresh UIDs each run). Each run: Orthanc pushes the series to the
listener (``/modalities/medseg/store``, synchronous: it returns once the listener has
acknowledged the last instance); the clock stops when the SEG series appears in Orthanc
(REST, polled every 50 ms). The breakdown comes from the listener's job record: waiting for
the series to be stable, queue, inference (load + model + SEG writing), C-STORE back.
Target (DESIGN.md): median <= stable-seconds + 5 s on 2 cores.

``--burst N``: N small series (4 slices each) pushed in one go; every one must be answered
exactly once; reports the time until the last SEG is stored.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def cpu_description() -> tuple[str, str]:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("", platform.machine()):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")
    return model, " ".join(f for f in wanted if f in flags) or "(none of avx2/avx512/amx)"


def _series(vol, folder: Path, z: slice | None = None, study: str | None = None) -> Path:
    from medseg.io import write_dicom_series

    if z is not None:
        arr = vol.array[10:171, 10:207, z].copy()
        aff = vol.affine.copy()
        aff[:3, 3] = vol.affine[:3, :3] @ [10, 10, z.start] + vol.affine[:3, 3]
        vol = replace(vol, array=arr, affine=aff, source_files=[])
    write_dicom_series(vol, folder, study_instance_uid=study, body_part="head")
    return folder


def _wait(cond, timeout: float, interval: float = 0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise TimeoutError("timed out")


def _n_seg_series(pacs, orthanc_study: str) -> int:
    n = 0
    for s in pacs.get(f"/studies/{orthanc_study}/series"):
        n += s["MainDicomTags"].get("Modality") == "SEG"
    return n


def _job(state: Path, series_key: str) -> dict | None:
    for p in (state / "jobs").glob(f"*-{series_key}-*/job.json"):
        j = json.loads(p.read_text())
        if j["state"] == "delivered":
            return j
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stable-seconds", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--backend", default="torch")
    ap.add_argument(
        "--no-ahead", action="store_true", help="listener without segmenting ahead of time"
    )
    ap.add_argument("--burst", type=int, default=20, help="0 to skip the burst")
    ap.add_argument("--threads", type=int, default=2, help="OMP/torch threads of the listener")
    args = ap.parse_args()

    from medseg.data.samples import sample_path
    from medseg.io import load_volume
    from medseg.pacs.common import uid_key
    from medseg.pacs.orthanc import Orthanc, find_orthanc, free_port

    try:
        ch2 = sample_path("ch2")
    except FileNotFoundError:
        ch2 = None
    if find_orthanc() is None or ch2 is None:
        print("skipped: needs Debian orthanc, orthanc-dicomweb and mricron-data (scripts/setup.sh)")
        return 0
    model, flags = cpu_description()
    print(
        f"CPU: {model}; flags: {flags}; {os.cpu_count()} cores visible, "
        f"{args.threads} threads; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    print(
        f"Orthanc {_orthanc_version()}, medseg listen --stable-seconds {args.stable_seconds:g} "
        f"--backend {args.backend}{' --no-ahead' if args.no_ahead else ''}; whole head: ch2 "
        "181 x 217 x 181 (181 MR instances)"
    )
    vol = load_volume(ch2)
    tmp = Path(tempfile.mkdtemp(prefix="medseg-bench-pacs-"))
    port = free_port()
    pacs = Orthanc(tmp / "orthanc", modalities={"medseg": ("MEDSEG", "127.0.0.1", port)}).start()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONPATH=str(REPO))
    log = open(tmp / "listener.log", "wb")
    lis = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "medseg.cli",
            "listen",
            "--port",
            str(port),
            "--state-dir",
            str(tmp / "state"),
            "--send-to",
            f"ORTHANC@127.0.0.1:{pacs.dicom_port}",
            "--stable-seconds",
            str(args.stable_seconds),
            "--backend",
            args.backend,
            *(["--no-ahead"] if args.no_ahead else []),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        _wait(lambda: b"listening as" in (tmp / "listener.log").read_bytes(), 300, 0.2)
        rows = []
        for r in range(args.runs):
            folder = _series(vol, tmp / f"head{r}")
            up = pacs.upload(sorted(folder.glob("*.dcm")))
            sid, study = up[0]["ParentSeries"], up[0]["ParentStudy"]
            t0 = time.perf_counter()
            pacs.post("/modalities/medseg/store", {"Resources": [sid], "Synchronous": True})
            t_sent = time.perf_counter() - t0
            t1 = time.perf_counter()
            _wait(lambda st=study: _n_seg_series(pacs, st) >= 1, 600)
            total = time.perf_counter() - t1
            import pydicom

            key = uid_key(
                pydicom.dcmread(
                    next(folder.glob("*.dcm")), stop_before_pixels=True
                ).SeriesInstanceUID
            )
            job = _wait(lambda k=key: _job(tmp / "state", k), 30)
            rows.append(
                {
                    "run": r + 1,
                    "push": t_sent,
                    "total": total,
                    "ahead": bool(job.get("ahead")),
                    # with --ahead the model ran during the stable wait: time it anyway
                    "inference": job["inferred_at"] - job["started_at"]
                    if not job.get("ahead")
                    else None,
                    "delivery": job["delivered_at"] - job["inferred_at"],
                }
            )
        print()
        print(
            "| run | push 181 instances s | last instance -> SEG in Orthanc s | segmented "
            "while waiting | inference after stable (load+model+SEG) s | C-STORE back s |"
        )
        print("|---|---|---|---|---|---|")
        for x in rows:
            inf = "-" if x["inference"] is None else f"{x['inference']:.1f}"
            print(
                f"| {x['run']} | {x['push']:.1f} | **{x['total']:.1f}** | "
                f"{'yes' if x['ahead'] else 'no'} | {inf} | {x['delivery']:.2f} |"
            )
        med = statistics.median(x["total"] for x in rows)
        target = args.stable_seconds + 5
        print(
            f"\nmedian last instance -> SEG stored: {med:.1f} s (target <= {target:g} s = "
            f"stable-seconds + 5: {'met' if med <= target else 'MISSED'})"
        )
        if args.burst:
            _burst(args, vol, pacs, tmp)
    finally:
        lis.terminate()
        lis.wait(60)
        log.close()
        pacs.stop()
    return 0


def _burst(args, vol, pacs, tmp: Path) -> None:
    from pydicom.uid import generate_uid

    study = generate_uid()
    ids = []
    for i in range(args.burst):
        z0 = 40 + (4 * i) % 120
        f = _series(vol, tmp / f"burst{i:02d}", slice(z0, z0 + 4), study)
        ids.append(pacs.upload(sorted(f.glob("*.dcm")))[0]["ParentSeries"])
    ostudy = pacs.get(f"/series/{ids[0]}")["ParentStudy"]
    t0 = time.perf_counter()
    pacs.post("/modalities/medseg/store", {"Resources": ids, "Synchronous": True})
    t_sent = time.perf_counter() - t0
    _wait(lambda: _n_seg_series(pacs, ostudy) >= args.burst, 900, 0.2)
    total = time.perf_counter() - t0
    time.sleep(args.stable_seconds + 3)
    n = _n_seg_series(pacs, ostudy)
    print(
        f"\nburst: {args.burst} series (161 x 197 x 4 each) pushed in {t_sent:.1f} s; all "
        f"answered {total:.1f} s after the push began; SEG series in Orthanc: {n} "
        f"({'each exactly once' if n == args.burst else 'NOT exactly once'})"
    )


def _orthanc_version() -> str:
    try:
        out = subprocess.run(["Orthanc", "--version"], capture_output=True, text=True).stdout
        return out.split()[1]
    except (OSError, IndexError):
        return "?"


if __name__ == "__main__":
    raise SystemExit(main())
