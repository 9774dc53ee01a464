"""Index persistence benchmark: build, size on disk, load (read vs mmap), search (in memory vs
mapped), qvec.PQIndex beside faiss.IndexPQ on the same synthetic data, same run.

    python bench/bench_index.py --n 1000000 --dim 128 --m 16

Load times are with a warm page cache (the file was just written); a cold-cache mmap load is
the same (nothing is read), a cold-cache read load is bounded by the disk.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import qvec


def clustered(n, dim, clusters, rng):
    centers = rng.standard_normal((clusters, dim)).astype(np.float32) * 4.0
    out = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000)
        labels = rng.integers(0, clusters, size=e - s)
        out[s:e] = centers[labels] + rng.standard_normal((e - s, dim)).astype(np.float32)
    return out


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def best_of(fn, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--train", type=int, default=65_536)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    base = clustered(args.n, args.dim, 1000, rng)
    queries = clustered(args.nq, args.dim, 1000, np.random.default_rng(1))
    train = base[np.sort(rng.choice(args.n, args.train, replace=False))]
    raw = base.nbytes
    folder = tempfile.mkdtemp(dir=args.dir)
    rows = []
    print(f"n={args.n} dim={args.dim} PQ{args.m}x8 threads={qvec.get_num_threads()} "
          f"simd={qvec.simd_level()} raw float32 {raw / 1e6:.1f} MB")

    # -- qvec ---------------------------------------------------------------------------
    index = qvec.PQIndex(args.dim, args.m, 8, "l2")
    t = time.perf_counter()
    index.train(train, iters=args.iters, max_train=args.train)
    t_train = time.perf_counter() - t
    t = time.perf_counter()
    index.add(base)
    t_add = time.perf_counter() - t
    path = os.path.join(folder, "pq.qvec")
    t_save, size = best_of(lambda: index.save(path), 1)
    r0 = rss_mb()
    t_mmap, mapped = best_of(lambda: qvec.load(path, mmap=True), args.repeat)
    r1 = rss_mb()
    t_load, loaded = best_of(lambda: qvec.load(path), args.repeat)
    r2 = rss_mb()
    print(f"qvec RSS growth: load(mmap=True) {r1 - r0:.1f} MB, load() {r2 - r1:.1f} MB "
          f"(file {size / 1e6:.1f} MB)")
    t_mem, ref = best_of(lambda: loaded.search(queries, args.k), args.repeat)
    t_map, got = best_of(lambda: mapped.search(queries, args.k), args.repeat)
    assert (ref[1] == got[1]).all()
    rows.append(("qvec PQIndex", t_train, t_add, t_save, size, t_load, t_mmap,
                 args.nq / t_mem, args.nq / t_map))

    # -- faiss --------------------------------------------------------------------------
    try:
        import faiss
    except ImportError:
        faiss = None
    if faiss is not None:
        faiss.omp_set_num_threads(qvec.get_num_threads())
        fi = faiss.IndexPQ(args.dim, args.m, 8)
        fi.pq.cp.niter = args.iters
        fi.pq.cp.max_points_per_centroid = args.train // 256 + 1
        t = time.perf_counter()
        fi.train(train)
        f_train = time.perf_counter() - t
        t = time.perf_counter()
        fi.add(base)
        f_add = time.perf_counter() - t
        fpath = os.path.join(folder, "pq.faiss")
        f_save, _ = best_of(lambda: faiss.write_index(fi, fpath), 1)
        f_load, fl = best_of(lambda: faiss.read_index(fpath), args.repeat)
        f_mmap, fm = best_of(lambda: faiss.read_index(fpath, faiss.IO_FLAG_MMAP), args.repeat)
        f_mem, _ = best_of(lambda: fl.search(queries, args.k), args.repeat)
        f_map, _ = best_of(lambda: fm.search(queries, args.k), args.repeat)
        rows.append(("faiss IndexPQ", f_train, f_add, f_save, os.path.getsize(fpath), f_load,
                     f_mmap, args.nq / f_mem, args.nq / f_map))

    print(f"{'':16}{'train s':>9}{'add s':>8}{'save s':>8}{'file MB':>9}{'ratio':>7}"
          f"{'load s':>9}{'mmap s':>9}{'QPS mem':>9}{'QPS mmap':>9}")
    for name, tr, ad, sv, sz, ld, mm, qm, qmm in rows:
        print(f"{name:16}{tr:9.2f}{ad:8.2f}{sv:8.3f}{sz / 1e6:9.1f}{raw / sz:7.1f}"
              f"{ld:9.4f}{mm:9.5f}{qm:9.0f}{qmm:9.0f}")
    for p in os.listdir(folder):
        os.unlink(os.path.join(folder, p))
    os.rmdir(folder)


if __name__ == "__main__":
    main()
