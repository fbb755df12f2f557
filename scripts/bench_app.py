"""Web-app latency as a user meets it: the first street request after start, and the 256²
slice round trip, through ``gradio_client`` against ``python app.py`` on loopback.

    python scripts/bench_app.py            # with the start-up warm-up (the default)
    python scripts/bench_app.py --no-warm-up

Prints the first request and the median of the next ones (and their ratio), and the 256²
slice round trip (target < 300 ms, DESIGN.md). Nothing is asserted: this is a measurement.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PHOTO = Path("/usr/share/doc/opencv-doc/examples/data/leuvenA.jpg")
AUTO = "auto (1–99 percentile)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _slice256(folder: Path) -> Path:
    from PIL import Image

    yy, xx = np.mgrid[:256, :256]
    img = 40 + 30 * np.random.default_rng(0).random((256, 256))
    img[(yy - 128) ** 2 + (xx - 120) ** 2 < 70**2] += 120
    p = folder / "slice256.png"
    Image.fromarray(img.astype(np.uint8)).save(p)
    return p


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-warm-up", action="store_true", help="start the app without warm-up")
    ap.add_argument("--repeats", type=int, default=12, help="timed requests of each kind")
    ap.add_argument(
        "--warm-client",
        action="store_true",
        help="make one other request first, so the client's own first-call costs are not "
        "counted (a browser that has loaded the page has none)",
    )
    args = ap.parse_args()
    from gradio_client import Client, handle_file

    port = _free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False")
    cmd = [sys.executable, "app.py", *(["--no-warm-up"] if args.no_warm_up else [])]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    log: list[str] = []
    threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True).start()
    try:
        t_start = time.time()
        while True:
            try:
                c = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:
                if proc.poll() is not None or time.time() - t_start > 300:
                    raise SystemExit("the app did not start:\n" + "".join(log[-20:])) from None
                time.sleep(0.5)
        if not args.no_warm_up:  # as a user would: the page is up, the warm-up may still run
            while not any("warm-up done in" in line for line in log):
                time.sleep(0.2)
        if args.warm_client:  # the client's own first-call costs (a browser has none)
            with tempfile.TemporaryDirectory() as tmp:
                c.predict([handle_file(str(_slice256(Path(tmp))))], api_name="/medical_load")
        street = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            c.predict(handle_file(str(PHOTO)), api_name="/street_segment")
            street.append(time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as tmp:
            png = _slice256(Path(tmp))
            lean = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
            rt = []
            call = ([handle_file(str(png))], None, "axial", 0, AUTO, 40, 80, "unet_medical")
            for i in range(args.repeats + 2):
                t0 = time.perf_counter()
                lean.predict(*call, "this slice", api_name="/medical_segment")
                if i >= 2:  # two warm-up calls (the medical model may not be built yet)
                    rt.append(time.perf_counter() - t0)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    nxt = statistics.median(street[1:])
    warm = "with" if not args.no_warm_up else "without"
    print(
        f"street request after start ({warm} warm-up): first {street[0] * 1000:.0f} ms, "
        f"next median {nxt * 1000:.0f} ms (first / next = {street[0] / nxt:.2f})"
    )
    print(
        f"256x256 slice round trip: median {statistics.median(rt) * 1000:.0f} ms, "
        f"min {min(rt) * 1000:.0f} ms ({len(rt)} requests; target < 300 ms)"
    )
    print(f"1-min load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
