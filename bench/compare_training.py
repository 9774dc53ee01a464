"""Codebook training quality: qvec PQ (mse, anisotropic, OPQ) beside faiss PQ / OPQ and ScaNN AH
at the same bytes per vector, same data, same process, 1 thread, one run. Prints Markdown.

    python bench/compare_training.py                       # descriptors (L2) and gcide-minilm (ip)
    python bench/compare_training.py --sets descriptors --iters 25

Recall@10 against the exact top-10; every method returns its own top-10 from its codes (no
re-ranking with the float vectors). qvec 4-bit searches with its default quantized tables
(rescore=0), as ScaNN's LUT16 and faiss fast-scan do.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import qvec

sys.path.insert(0, str(Path(__file__).resolve().parent))
import descriptors  # noqa: E402
from datasets import load_dataset  # noqa: E402


def recall10(ids, gt):
    return float(np.mean([len(set(a[:10]) & set(b[:10])) / 10 for a, b in zip(ids, gt)]))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def qvec_rows(ds, m, nbits, iters, opq_iters):
    metric = ds["metric"]
    variants = [("qvec PQ", {})]
    if metric == "ip":
        variants.append(("qvec PQ anisotropic", {"loss": "anisotropic"}))
    variants.append(("qvec OPQ", {"opq": True}))
    for name, kw in variants:
        pq = qvec.ProductQuantizer(ds["dim"], m, nbits, metric, **kw)
        t_train, _ = timed(lambda: pq.fit(ds["base"], iters=iters, seed=1, opq_iters=opq_iters))
        codes = pq.pack(pq.encode(ds["base"]))
        t, (_, ids) = timed(lambda: pq.search(ds["queries"], codes, 10))
        yield name, recall10(ids, ds["gt"]), len(ds["queries"]) / t, t_train


def faiss_rows(ds, m, nbits, iters, opq_iters):
    import faiss
    faiss.omp_set_num_threads(1)
    mt = faiss.METRIC_L2 if ds["metric"] == "l2" else faiss.METRIC_INNER_PRODUCT
    d = ds["dim"]
    for name, opq in (("faiss PQ", False), ("faiss OPQ", True)):
        if nbits == 4:
            index = faiss.IndexPQFastScan(d, m, 4, mt)
        else:
            index = faiss.IndexPQ(d, m, nbits, mt)
        index.pq.cp.niter = iters
        index.pq.cp.seed = 1
        if opq:
            mat = faiss.OPQMatrix(d, m)
            mat.niter, mat.niter_pq = opq_iters, 4
            index = faiss.IndexPreTransform(mat, index)
        t_train, _ = timed(lambda: index.train(ds["base"]))
        index.add(ds["base"])
        t, (_, ids) = timed(lambda: index.search(ds["queries"], 10))
        yield name, recall10(ids, ds["gt"]), len(ds["queries"]) / t, t_train


def scann_rows(ds, m, nbits):
    try:
        import scann
    except Exception as e:  # noqa: BLE001
        yield f"ScaNN AH (not available: {type(e).__name__})", float("nan"), float("nan"), 0.0
        return
    if nbits != 4:
        return  # AH codes are 4-bit blocks; its 8-bit-equivalent bytes would be another layout
    dims_per_block = ds["dim"] // m
    dist = "squared_l2" if ds["metric"] == "l2" else "dot_product"
    threshold = 0.2 if ds["metric"] == "ip" else float("nan")
    builder = scann.scann_ops_pybind.builder(ds["base"], 10, dist)
    builder = builder.score_ah(dims_per_block, anisotropic_quantization_threshold=threshold,
                               training_iterations=10)
    builder.set_n_training_threads(1)
    t_train, searcher = timed(builder.build)
    t, (ids, _) = timed(lambda: searcher.search_batched(ds["queries"], final_num_neighbors=10))
    yield f"ScaNN AH ({dims_per_block} dims/block)", recall10(ids, ds["gt"]), \
        len(ds["queries"]) / t, t_train


def load(name):
    if name == "descriptors":
        ds = descriptors.load()
        ds["name"] = "descriptors-daisy (L2)"
    else:
        d = load_dataset(name)
        ds = {"base": d.base, "queries": d.queries, "gt": d.gt, "metric": d.metric,
              "name": f"{name} ({d.metric})"}
    ds["dim"] = ds["base"].shape[1]
    return ds


CONFIGS = {"descriptors": [(16, 8), (32, 4)], "gcide-minilm": [(48, 8), (192, 4)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sets", nargs="+", default=["descriptors", "gcide-minilm"])
    parser.add_argument("--iters", type=int, default=25, help="k-means iterations (both)")
    parser.add_argument("--opq-iters", type=int, default=10, help="OPQ alternations (both)")
    args = parser.parse_args()
    qvec.set_num_threads(1)
    print(f"qvec {qvec.__version__} ({qvec.simd_level()}), 1 thread, k-means iters "
          f"{args.iters}, OPQ alternations {args.opq_iters} x 4 PQ iterations\n")
    print("| set | bytes | m x nbits | method | recall@10 | queries/s | train s |")
    print("|---|---|---|---|---|---|---|")
    for name in args.sets:
        ds = load(name)
        for m, nbits in CONFIGS[name]:
            rows = list(qvec_rows(ds, m, nbits, args.iters, args.opq_iters))
            rows += list(faiss_rows(ds, m, nbits, args.iters, args.opq_iters))
            rows += list(scann_rows(ds, m, nbits))
            for method, rec, qps, tt in rows:
                print(f"| {ds['name']} | {m * nbits // 8} | {m}x{nbits} | {method} | {rec:.3f} "
                      f"| {qps:,.0f} | {tt:.1f} |", flush=True)


if __name__ == "__main__":
    main()
