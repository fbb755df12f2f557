"""Load test: 20 concurrent gradio_client clients × 10 requests, mixed across all four tabs.

Runs against the default-configured app on loopback. Requirements: 0 errors; latency p50/p95
printed (overall and per endpoint; no timing threshold). This caught a real race, fixed in
4b3e193: output images returned as arrays were rewritten in place in Gradio's
content-addressed cache while being served, so concurrent identical results came back
truncated (9-12 of 200 requests). Server memory (RSS, process and
children) after the run within 10 % of before, measured after a warm-up that builds the
models and sends one concurrent burst of 20, so the comparison shows leaks rather than
first-use allocations or the allocator's high-water mark.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psutil
import pytest
from corpus import case_path
from PIL import Image

from .appserver import call

pytestmark = [pytest.mark.xdist_group("app")]


N_CLIENTS, N_REQUESTS = 20, 10
# Per-client request pattern (rotated by client index): every tab is exercised; the heavy
# calls (TTA: several forward passes; video) are rarer, keeping the run bounded on 2 cores.
PATTERN = [
    "load",
    "preview",
    "street",
    "segment",
    "preview",
    "load",
    "street",
    "segment",
    "load",
    "preview",
]
HEAVY_EVERY = 4  # clients 0, 4, 8, ... replace one call with TTA and one with video


def _rss(pid: int) -> int:
    p = psutil.Process(pid)
    return p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))


def _requests(corpus, tmp_path):
    from gradio_client import handle_file

    photo = tmp_path / "street.png"
    rng = np.random.default_rng(0)
    img = (rng.random((96, 192, 3)) * 255).astype(np.uint8)
    img[48:] = (128, 64, 128)  # a "road"
    Image.fromarray(img).save(photo)
    by = {c["name"]: c for c in corpus["cases"]}
    series = sorted(case_path(corpus, by["series_ok_ct5n"]).iterdir())
    video = case_path(corpus, by["vid_ok_tiny"])

    def files():
        return [handle_file(str(p)) for p in series]

    return {
        "load": lambda c: call(c, files(), api_name="/medical_load", timeout=240),
        "preview": lambda c: call(
            c, files(), "axial", 2, "brain", 40, 80, api_name="/medical_preview", timeout=240
        ),
        "segment": lambda c: call(
            c,
            files(),
            None,
            "axial",
            2,
            "brain",
            40,
            80,
            "unet_medical",
            "this slice",
            "ONNX Runtime",
            True,  # allow_mismatch: a CT series through the MR model (load, not models)
            api_name="/medical_segment",
            timeout=240,
        ),
        "street": lambda c: call(
            c,
            handle_file(str(photo)),
            "lraspp_mobilenet_v3",
            "PyTorch",
            0.5,
            api_name="/street_segment",
            timeout=240,
        ),
        "tta": lambda c: call(
            c,
            handle_file(str(photo)),
            None,
            "lraspp_mobilenet_v3",
            "PyTorch",
            api_name="/tta_compare",
            timeout=240,
        ),
        "video": lambda c: call(
            c,
            handle_file(str(video)),
            "lraspp_mobilenet_v3",
            "PyTorch",
            3,
            api_name="/video_process",
            timeout=240,
        ),
    }


def _plan(i: int) -> list[str]:
    plan = PATTERN[i % len(PATTERN) :] + PATTERN[: i % len(PATTERN)]
    if i % HEAVY_EVERY == 0:
        plan[1], plan[6] = "tta", "video"
    return plan[:N_REQUESTS]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_concurrent_clients(app_server, corpus, tmp_path):
    reqs = _requests(corpus, tmp_path)
    warm = app_server.client()
    for name in reqs:  # build every model / cache once
        reqs[name](warm)
    # One concurrent burst first: allocator high-water marks from 20 requests in flight are
    # not leaks. A leak grows with the number of requests; this compares before/after 200.
    with ThreadPoolExecutor(N_CLIENTS) as pool:
        list(pool.map(lambda i: reqs[_plan(i)[0]](app_server.client()), range(N_CLIENTS)))
    time.sleep(1.0)
    rss_before = _rss(app_server.proc.pid)

    start = threading.Barrier(N_CLIENTS)
    results: list[tuple[str, float, str]] = []
    lock = threading.Lock()

    def client_run(i: int) -> None:
        c = app_server.client()
        start.wait(timeout=300)
        for name in _plan(i):
            t0 = time.perf_counter()
            err = ""
            try:
                reqs[name](c)
            except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                err = f"{type(e).__name__}: {str(e)[:200]}"
            with lock:
                results.append((name, time.perf_counter() - t0, err))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(N_CLIENTS) as pool:
        list(pool.map(client_run, range(N_CLIENTS)))
    wall = time.perf_counter() - t0
    time.sleep(2.0)
    rss_after = _rss(app_server.proc.pid)

    lat = np.array([r[1] for r in results])
    errors = [r for r in results if r[2]]
    print(
        f"\nload: {len(results)} requests from {N_CLIENTS} clients in {wall:.1f} s; "
        f"errors {len(errors)}; latency p50 {np.percentile(lat, 50) * 1000:.0f} ms, "
        f"p95 {np.percentile(lat, 95) * 1000:.0f} ms; RSS {rss_before / 2**20:.0f} MiB -> "
        f"{rss_after / 2**20:.0f} MiB ({(rss_after / rss_before - 1) * 100:+.1f} %)"
    )
    for name in reqs:
        x = np.array([r[1] for r in results if r[0] == name])
        if len(x):
            print(
                f"  {name:8s} n={len(x):3d} p50 {np.percentile(x, 50) * 1000:6.0f} ms "
                f"p95 {np.percentile(x, 95) * 1000:6.0f} ms"
            )
    assert len(results) == N_CLIENTS * N_REQUESTS
    assert errors == [], errors[:5]
    assert rss_after <= 1.10 * rss_before, (rss_before, rss_after)
