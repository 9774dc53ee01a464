"""Memory read bandwidth of this machine, to report scan rates as a fraction of it.

Runs the C++ probe (bench/cpp/bandwidth_main.cpp, built as qvec_bandwidth with
-DQVEC_BUILD_BENCH=ON) when it can find it, and falls back to numpy otherwise: a bitwise-or
reduction over 64-bit words, one slice per thread (numpy releases the GIL), which reads at
nearly the same rate as the C++ loop.

    python bench/bandwidth.py [--mib 512]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def find_probe() -> Optional[str]:
    """Path of the qvec_bandwidth binary: $QVEC_BANDWIDTH_BIN, a build*/bench/ folder of this
    repository, or the PATH."""
    env = os.environ.get("QVEC_BANDWIDTH_BIN")
    if env:
        return env if os.access(env, os.X_OK) else None
    for candidate in sorted(REPO.glob("build*/bench/qvec_bandwidth")):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("qvec_bandwidth")


def _numpy_probe(mib: int, threads: int, repeats: int) -> float:
    words = np.ones((mib << 20) // 8, dtype=np.uint64)
    slices = np.array_split(words, threads)
    best = 0.0
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(np.bitwise_or.reduce, slices))
            best = max(best, words.nbytes / (time.perf_counter() - start) / 1e9)
    return best


def measure(mib: int = 256, threads: Optional[int] = None, repeats: int = 3,
            use_probe: bool = True) -> dict:
    """Read bandwidth in GB/s: {"read_gbps_1", "read_gbps_all", "threads", "bytes", "source"}.

    mib: buffer size in MiB (several times the last-level cache). threads: the "all threads"
    count (default: os.cpu_count()).
    """
    threads = threads or os.cpu_count() or 1
    probe = find_probe() if use_probe else None
    if probe is not None:
        try:
            env = dict(os.environ, OMP_NUM_THREADS=str(threads))
            out = subprocess.run([probe, str(mib), str(repeats)], capture_output=True, text=True,
                                 check=True, timeout=120, env=env).stdout
            result = json.loads(out)
            result["source"] = "c++ " + probe
            return result
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
    one = _numpy_probe(mib, 1, repeats)
    many = _numpy_probe(mib, threads, repeats) if threads > 1 else one
    return {"bytes": mib << 20, "threads": threads, "read_gbps_1": one, "read_gbps_all": many,
            "source": "numpy"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512, help="buffer size in MiB")
    parser.add_argument("--numpy", action="store_true", help="skip the C++ probe")
    args = parser.parse_args()
    print(json.dumps(measure(args.mib, use_probe=not args.numpy)))


if __name__ == "__main__":
    main()
