"""Int8 scalar quantization: qvec beside faiss-cpu and usearch, measured in the same run.

Exact (brute-force) search of every query over int8 codes, k = 10, one thread, best of --reps:

- qvec ScalarQuantizer, asymmetric (float query against the decoded codes), on the scan layout
  built once (what SQ8Index searches) -- beside faiss IndexScalarQuantizer(QT_8bit), which
  scores the float query against its decoded 8-bit codes the same way;
- qvec ScalarQuantizer.search_symmetric (int8 query codes against int8 codes, exact int32 dot
  products) -- beside usearch's exact search of the same int8 codes with metric "ip" and dtype
  "i8" (what sentence-transformers' semantic_search_usearch does with int8 embeddings);
- qvec RescoreSQ8Index ("BIN1,RescoreSQ8": Hamming shortlist of rescore * k, int8 rescoring).

Recall@10 is against the float ground truth; codes use sentence-transformers' min/max ranges
(faiss trains its own per-dimension ranges the same way). Ratios are qvec time / peer time
inverted (speedup); compare within one run, absolute numbers are noisy on a shared machine.

    python bench/compare_sq.py                          # gcide-minilm
    python bench/compare_sq.py --dataset synth:n=20000,d=64,nq=200,metric=ip --reps 5
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import qvec  # noqa: E402
from compare_binary import best_time  # noqa: E402
from datasets import load_dataset  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="gcide-minilm")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--k", type=int, default=10)
    args = p.parse_args()
    ds = load_dataset(args.dataset, args.queries)
    base, queries, gt, metric = ds.base, ds.queries[: args.queries], ds.gt, ds.metric
    gt, k = gt[: len(queries)], args.k
    n, dim = base.shape
    qvec.set_num_threads(1)
    print(f"qvec {qvec.__version__}, SIMD level {qvec.simd_level()}; {ds.name}: n={n}, d={dim}, "
          f"nq={len(queries)}, metric={metric}, k={k}, 1 thread, best of {args.reps}")
    rows = []

    def add(name, seconds, ids):
        rows.append((name, qvec.recall_at_k(np.asarray(ids, np.int64), gt, k),
                     len(queries) / seconds))

    sq = qvec.ScalarQuantizer(dim, metric=metric).fit(base)
    codes = sq.encode(base)
    packed = sq.pack(codes)
    t, (_, ids) = best_time(lambda: sq.search_packed(queries, packed, n, k), args.reps)
    add("qvec ScalarQuantizer asymmetric (SQ8Index)", t, ids)
    qcodes = sq.encode(queries)
    t, (_, ids) = best_time(lambda: sq.search_symmetric(qcodes, codes, k), args.reps)
    add("qvec ScalarQuantizer symmetric int8", t, ids)
    index = qvec.index_factory(dim, "BIN1,RescoreSQ8", metric=metric).fit(base)
    index.add(base)
    t, (_, ids) = best_time(lambda: index.search(queries, k), args.reps)
    add(f"qvec BIN1,RescoreSQ8 (rescore={index.rescore})", t, ids)

    try:
        import faiss
        faiss.omp_set_num_threads(1)
        fmetric = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
        findex = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, fmetric)
        findex.train(base)
        findex.add(base)
        t, (_, ids) = best_time(lambda: findex.search(queries, k), args.reps)
        add("faiss IndexScalarQuantizer(QT_8bit)", t, ids)
    except ImportError:
        print("faiss not installed: skipped")
    try:
        from usearch.index import MetricKind, search
        umetric = MetricKind.IP if metric == "ip" else MetricKind.L2sq
        t, m = best_time(lambda: search(codes, qcodes, k, umetric, exact=True, threads=1),
                         args.reps)
        add("usearch exact i8 (same int8 codes)", t, m.keys)
    except ImportError:
        print("usearch not installed: skipped")

    print(f"{'method':48s} {'recall@10':>9s} {'queries/s':>10s}")
    for name, recall, qps in rows:
        print(f"{name:48s} {recall:9.4f} {qps:10.1f}")
    qps = {name: q for name, _, q in rows}

    def ratio(a, b):
        if a in qps and b in qps:
            print(f"{a} / {b}: {qps[a] / qps[b]:.2f}x")

    ratio("qvec ScalarQuantizer asymmetric (SQ8Index)", "faiss IndexScalarQuantizer(QT_8bit)")
    ratio("qvec ScalarQuantizer symmetric int8", "usearch exact i8 (same int8 codes)")
    ratio("qvec ScalarQuantizer asymmetric (SQ8Index)", "usearch exact i8 (same int8 codes)")


if __name__ == "__main__":
    main()
