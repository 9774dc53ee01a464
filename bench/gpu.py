"""GPU benchmark of qvec's CUDA path (issue 12), run by bench/gpu_check.sh on a lent GPU.

For 10,000 queries over 1M and 10M codes: queries/s of PQ 8-bit (m=16), PQ 4-bit (m=32),
Hamming (256 bits) and asymmetric 1-bit binary (dim 128, 4-bit queries), with the effective
code scan rate as a fraction of the device memory bandwidth measured in the same run (a
device-to-device copy); exact search and top-k beside PyTorch (torch.matmul + torch.topk) on the
same card; and the same workloads on the machine's CPU cores with qvec's CPU path (fewer queries
there, reported as queries/s). Codes are random (the scan cost does not depend on their values).
Without a GPU it says so and writes {"gpu": false, ...}.

    python bench/gpu.py --out results.json [--sizes 1000000 10000000] [--nq 10000] [--k 10]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable, Dict, List

import numpy as np

import qvec
from qvec import _core

DIM = 128


def timed(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Minimum wall time of fn() over `repeat` runs (after one warm-up)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def device_bandwidth() -> Dict[str, Any]:
    """Device memory bandwidth from a 4 GiB device-to-device copy (read + write bytes / s)."""
    try:
        import torch
    except ImportError:
        return {"error": "torch not installed"}
    src = torch.empty(1 << 30, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)

    def copy() -> None:
        dst.copy_(src)
        torch.cuda.synchronize()

    t = timed(copy, 5)
    return {"bytes_per_s": 2 * src.numel() * 4 / t, "method": "torch copy_ 4 GiB"}


def workloads(n: int, seed: int) -> Dict[str, Dict[str, Any]]:
    """(name -> GPU index factory, CPU search, bytes per code) for n random codes."""
    r = np.random.default_rng(seed)
    train = r.standard_normal((5000, DIM)).astype(np.float32)
    out: Dict[str, Dict[str, Any]] = {}
    pq8 = qvec.ProductQuantizer(DIM, m=16, nbits=8).fit(train, seed=0, iters=2)
    c8 = r.integers(0, 256, (n, 16), dtype=np.uint8)
    out["pq8"] = {"upload": lambda: _core.gpu_index_pq(0, pq8._pq, c8), "bytes": 16,
                  "cpu": lambda q, k: pq8.search(q, c8, k), "float": True}
    pq4 = qvec.ProductQuantizer(DIM, m=32, nbits=4).fit(train, seed=0, iters=2)
    c4 = r.integers(0, 256, (n, 16), dtype=np.uint8)
    packed4 = pq4.pack(c4)
    out["pq4"] = {"upload": lambda: _core.gpu_index_pq(0, pq4._pq, c4), "bytes": 16,
                  "cpu": lambda q, k: pq4.search(q, packed4, k, rescore="exact"), "float": True}
    hc = r.integers(0, 256, (n, 32), dtype=np.uint8)
    hq = r.integers(0, 256, (10000, 32), dtype=np.uint8)
    out["hamming"] = {"upload": lambda: _core.gpu_index_hamming(0, hc), "bytes": 32,
                      "cpu": lambda q, k: qvec.hamming_search(hq[:len(q)], hc, k),
                      "float": False, "queries": hq}
    bq = qvec.BinaryQuantizer(DIM, bits=1).fit(train, seed=0)
    bcodes = r.integers(0, 256, (n, 16), dtype=np.uint8)
    factors = np.empty((n, 4), np.float32)
    factors[:, 0] = r.uniform(100, 150, n)
    factors[:, 1] = r.normal(0, 0.1, n)
    factors[:, 2] = r.uniform(1.1, 1.3, n)
    factors[:, 3] = r.uniform(0.7, 0.9, n)
    out["binary1"] = {"upload": lambda: _core.gpu_index_binary(0, bq._bq, bcodes, factors),
                      "bytes": 16 + 16, "query_bits": 4,
                      "cpu": lambda q, k: bq._bq.search(q, bcodes, factors, k, 4),
                      "float": True}
    return out


def bench_codecs(sizes: List[int], nq: int, k: int, cpu_nq: int, bw: float,
                 results: Dict[str, Any], save: Callable[[], None]) -> None:
    queries = np.random.default_rng(1).standard_normal((nq, DIM)).astype(np.float32)
    for n in sizes:
        for name, w in workloads(n, n).items():
            row: Dict[str, Any] = {"codec": name, "n": n, "nq": nq, "k": k}
            t0 = time.perf_counter()
            gpu = w["upload"]()
            row["upload_s"] = time.perf_counter() - t0
            if w["float"]:
                search = lambda q: gpu.search(q, k, w.get("query_bits", 0))  # noqa: E731
                q_all = queries
            else:
                search = lambda q: gpu.search_hamming(q, k)  # noqa: E731
                q_all = w["queries"][:nq]
            t = timed(lambda: search(q_all), 2)
            row["gpu_s"] = t
            row["gpu_qps"] = nq / t
            scanned = n * w["bytes"] * nq / t
            row["scan_bytes_per_s"] = scanned
            row["scan_fraction_of_bandwidth"] = scanned / bw if bw else None
            # the same search on the CPU, on fewer queries (all cores)
            cq = q_all[:cpu_nq]
            tc = timed(lambda: w["cpu"](cq, k), 1)
            row["cpu_nq"] = cpu_nq
            row["cpu_qps"] = cpu_nq / tc
            row["gpu_over_cpu"] = row["gpu_qps"] / row["cpu_qps"]
            # agreement on the CPU's queries (ids, first rows)
            g = search(cq)
            c = w["cpu"](cq, k)
            row["ids_equal_fraction"] = float(np.mean(g[1] == c[1]))
            results["codecs"].append(row)
            print(json.dumps(row), flush=True)
            save()
            del gpu


def bench_exact(n: int, nq: int, ks: List[int], results: Dict[str, Any],
                save: Callable[[], None]) -> None:
    r = np.random.default_rng(2)
    base = r.standard_normal((n, DIM)).astype(np.float32)
    queries = r.standard_normal((nq, DIM)).astype(np.float32)
    gpu = _core.gpu_index_exact(0, base, "l2")
    try:
        import torch
        tb = torch.from_numpy(base).cuda()
        bn = (tb * tb).sum(1)
    except ImportError:
        torch = None
    for k in ks:
        row: Dict[str, Any] = {"n": n, "nq": nq, "k": k}
        row["qvec_gpu_s"] = timed(lambda: gpu.search(queries, k), 2)
        row["qvec_gpu_qps"] = nq / row["qvec_gpu_s"]
        if torch is not None:
            def torch_search() -> Any:
                out = []
                for s in range(0, nq, 1000):   # 1000 x n distances per step fit the card
                    tq = torch.from_numpy(queries[s:s + 1000]).cuda()
                    d = (tq * tq).sum(1)[:, None] + bn[None, :] - 2 * torch.matmul(tq, tb.T)
                    v, i = torch.topk(d, k, dim=1, largest=False)
                    out.append((v.cpu().numpy(), i.cpu().numpy()))
                return out
            row["torch_s"] = timed(torch_search, 2)
            row["torch_qps"] = nq / row["torch_s"]
            row["qvec_over_torch"] = row["qvec_gpu_qps"] / row["torch_qps"]
        cq = queries[:100]
        tc = timed(lambda: qvec.exact_search(cq, base, k), 1)
        row["cpu_qps"] = 100 / tc
        g = gpu.search(cq, k)
        c = qvec.exact_search(cq, base, k)
        row["ids_equal_fraction"] = float(np.mean(g[1] == c[1]))
        results["exact"].append(row)
        print(json.dumps(row), flush=True)
        save()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="bench/results/gpu.json")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--nq", type=int, default=10_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--cpu-nq", type=int, default=200)
    ap.add_argument("--exact-n", type=int, default=1_000_000)
    args = ap.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    results: Dict[str, Any] = {"gpu": qvec.cuda_available(), "codecs": [], "exact": [],
                               "cpu_threads": qvec.get_num_threads(),
                               "simd": qvec.simd_level()}

    def save() -> None:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)

    if not results["gpu"]:
        results["reason"] = qvec.cuda_unavailable_reason()
        print(f"no GPU: {results['reason']}")
        save()
        return 0
    results["device"] = _core.cuda_device_name(0)
    bw = device_bandwidth()
    results["bandwidth"] = bw
    print(results["device"], bw, flush=True)
    save()
    # Smallest size, then exact search, then the larger sizes: each row is saved as it comes,
    # so a run cut short by the device's time limit still has one row of every kind.
    sizes = sorted(args.sizes)
    bw_s = bw.get("bytes_per_s", 0.0)
    bench_codecs(sizes[:1], args.nq, args.k, args.cpu_nq, bw_s, results, save)
    bench_exact(args.exact_n, args.nq, [args.k, 1024, 4096], results, save)
    bench_codecs(sizes[1:], args.nq, args.k, args.cpu_nq, bw_s, results, save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
