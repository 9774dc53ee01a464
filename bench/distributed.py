"""Sharded build and search on a local Ray cluster: 1, 2 and 4 shards beside one in-process
index of the same codec, data and parameters; the per-query overhead of the scatter / gather;
where a batch's time goes; and the figures of the README's 1B sizing plan (bytes per vector by
codec, bytes on the network per query batch), all measured here.

    python bench/distributed.py                       # synth:n=50000,d=96, PQ16x8, nq=1000
    python bench/distributed.py --n 200000 --codec PQ32x4fs --shards 1 2 4 --json out.json

Each shard runs with --threads native threads (default 1) so the shard count, not qvec's own
threading, is what varies; the in-process index runs with the same thread count. Times are the
minimum of --repeat runs (the machine may be shared). Needs ``pip install 'qvec[ray]'``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import qvec  # noqa: E402
from datasets import make_synthetic  # noqa: E402
from qvec.distributed import merge_topk, sample_rows  # noqa: E402

CODECS_1B = [("Flat", None), ("PQ16x8", None), ("PQ32x4fs", None), ("PQ64x8", None),
             ("BIN1", None), ("BIN1,Refine", None)]


def best(fn: Callable[[], Any], repeat: int) -> float:
    """Minimum wall time of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def local_run(x: np.ndarray, q: np.ndarray, codec: str, k: int, train_size: int,
              repeat: int) -> Dict[str, Any]:
    t = time.perf_counter()
    index = qvec.index_factory(x.shape[1], codec)
    if not index.is_trained:
        index.fit(x[sample_rows(x.shape[0], train_size, 0)], seed=0)
    index.add(x)
    build = time.perf_counter() - t
    batch = best(lambda: index.search(q, k), repeat)
    one = best(lambda: index.search(q[:1], k), repeat * 5)
    return {"index": index, "build_s": build, "batch_s": batch, "one_s": one,
            "result": index.search(q, k)}


def sharded_run(ray: Any, x: np.ndarray, q: np.ndarray, codec: str, shards: int, k: int,
                train_size: int, threads: int, repeat: int,
                reference: Any) -> Dict[str, Any]:
    from qvec.distributed import ShardedIndex

    t = time.perf_counter()
    index = ShardedIndex.build(x, codec, shards, train_size=train_size, threads=threads)
    build = time.perf_counter() - t
    try:
        dist, ids = index.search(q, k)
        exact = bool(np.array_equal(ids, reference[1]) and np.array_equal(dist, reference[0]))
        batch = best(lambda: index.search(q, k), repeat)
        one = best(lambda: index.search(q[:1], k), repeat * 5)
        # where a batch's time goes: the shards' own search (each timed alone, no transfer),
        # the merge on the driver, and the rest (serialization, scheduling, transfers)
        qref = ray.put(q)
        shard_s = [best(lambda s=s: ray.get(index._slots[s].handle.search.remote(qref, k, {})),
                        repeat) for s in range(shards)]
        parts = [ray.get(slot.handle.search.remote(qref, k, {})) for slot in index._slots]
        merge = best(lambda: merge_topk(parts, k, index.metric), repeat)
    finally:
        index.close()
    return {"shards": shards, "build_s": build, "batch_s": batch, "one_s": one,
            "shard_search_s": shard_s, "merge_s": merge, "exact": exact}


def sizing(dim: int) -> List[Dict[str, Any]]:
    """Bytes per vector of each codec at ``dim`` (from an index holding 256 vectors), and
    what 1B vectors take."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4096, dim)).astype(np.float32)
    rows = []
    for codec, _ in CODECS_1B:
        try:
            index = qvec.index_factory(dim, codec)
        except ValueError:
            continue
        if not index.is_trained:
            index.fit(x, seed=0, max_train=4096)
        index.add(x[:256])
        per = index.bytes_per_vector
        rows.append({"codec": codec, "dim": dim, "bytes_per_vector": per,
                     "gib_per_1b": per * 1e9 / 2**30})
    return rows


def main(argv: Any = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=50_000)
    p.add_argument("--d", type=int, default=96)
    p.add_argument("--nq", type=int, default=1000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--codec", default="PQ16x8")
    p.add_argument("--train-size", type=int, default=20_000)
    p.add_argument("--shards", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)

    import ray

    data = make_synthetic(n=args.n, d=args.d, nq=args.nq, metric="l2")
    x, q = data.base, data.queries
    qvec.set_num_threads(args.threads)
    local = local_run(x, q, args.codec, args.k, args.train_size, args.repeat)
    ray.init(num_cpus=max(args.shards), include_dashboard=False, log_to_driver=False,
             object_store_memory=max(80 << 20, 3 * x.nbytes))
    try:
        runs = [sharded_run(ray, x, q, args.codec, s, args.k, args.train_size, args.threads,
                            args.repeat, local["result"]) for s in args.shards]
    finally:
        ray.shutdown()
    net = {"query_batch_bytes_per_node": q.nbytes,
           "result_bytes_per_shard": args.nq * args.k * (4 + 8)}
    report(args, local, runs, net)
    if args.json:
        out = {"args": {k: str(v) for k, v in vars(args).items()},
               "local": {k: v for k, v in local.items() if k.endswith("_s")},
               "sharded": runs, "network": net,
               "sizing": sizing(128) + sizing(768)}
        args.json.write_text(json.dumps(out, indent=1))
    return 0


def report(args: Any, local: Dict[str, Any], runs: List[Dict[str, Any]],
           net: Dict[str, int]) -> None:
    print(f"# {args.codec}, n={args.n}, d={args.d}, nq={args.nq}, k={args.k}, "
          f"{args.threads} thread(s) per shard; times: min of {args.repeat}")
    print()
    print("| layout | build s | batch QPS | QPS vs local | 1-query ms | overhead ms/query "
          "| exact |")
    print("|---|---|---|---|---|---|---|")
    print(f"| local index | {local['build_s']:.2f} | {args.nq / local['batch_s']:.0f} | 1.00 "
          f"| {local['one_s'] * 1e3:.2f} | - | - |")
    for r in runs:
        print(f"| {r['shards']} shard(s) | {r['build_s']:.2f} | {args.nq / r['batch_s']:.0f} "
              f"| {local['batch_s'] / r['batch_s']:.2f} | {r['one_s'] * 1e3:.2f} "
              f"| {(r['one_s'] - local['one_s']) * 1e3:.2f} | {r['exact']} |")
    print()
    print("| shards | batch ms | slowest shard's search ms | merge ms | rest (scatter, "
          "transfer, gather) ms |")
    print("|---|---|---|---|---|")
    for r in runs:
        slow = max(r["shard_search_s"])
        print(f"| {r['shards']} | {r['batch_s'] * 1e3:.1f} | {slow * 1e3:.1f} "
              f"| {r['merge_s'] * 1e3:.2f} | {(r['batch_s'] - slow - r['merge_s']) * 1e3:.1f} |")
    print()
    print(f"network per batch: {net['query_batch_bytes_per_node']} B of queries to each node, "
          f"{net['result_bytes_per_shard']} B of results from each shard")
    print()
    print("| codec | dim | bytes/vector | GiB per 1B vectors |")
    print("|---|---|---|---|")
    for row in sizing(128) + sizing(768):
        print(f"| {row['codec']} | {row['dim']} | {row['bytes_per_vector']} "
              f"| {row['gib_per_1b']:.0f} |")


if __name__ == "__main__":
    sys.exit(main())
