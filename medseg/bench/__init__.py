"""The benchmark suite behind ``medseg bench``: back-ends, TTA and int8 accuracy, timed as ratios
against a baseline measured in the same run, with the CPU model and flags printed.

It sits above :mod:`medseg.engine` and :mod:`medseg.export` (it builds runners and exports
models to time them); nothing in the package imports it.
"""

from __future__ import annotations

from .suite import bench_backends, bench_tta, format_table, int8_accuracy, machine_info, run_suite

__all__ = [
    "bench_backends",
    "bench_tta",
    "format_table",
    "int8_accuracy",
    "machine_info",
    "run_suite",
]
