"""IVF with int8 scalar-quantized lists: qvec IVFIndex codec "sq8" (factory "IVF<n>,SQ8")
beside faiss IndexIVFScalarQuantizer(QT_8bit) ("IVF<n>,SQ8"), measured in the same run on the
same data, the same nlist, both by_residual (the faiss default), each trained by its own
k-means on the same training sample.

For each nprobe: recall@10 against the float ground truth and queries/s at 1 and 2 threads
(best of --reps, the whole query batch per call). Bytes per vector are the same (dim int8
codes plus an 8-byte id). Compare ratios within one run; absolute numbers are noisy on a shared
machine.

    python bench/ivf_sq8.py                                   # gcide-minilm
    python bench/ivf_sq8.py --dataset synth:n=50000,d=64,nq=500 --nlist 256
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
from qvec.index.ivf import auto_nlist  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="gcide-minilm")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--nlist", type=int, default=None, help="default: qvec's auto_nlist(n)")
    p.add_argument("--nprobe", default="1,2,4,8,16,32,64")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--k", type=int, default=10)
    args = p.parse_args()
    import faiss

    ds = load_dataset(args.dataset, args.queries)
    base, queries, gt, metric = ds.base, ds.queries[: args.queries], ds.gt, ds.metric
    gt, k = gt[: len(queries)], args.k
    n, dim = base.shape
    nlist = args.nlist or auto_nlist(n)
    train = base[np.random.default_rng(0).choice(n, min(n, 64 * nlist), replace=False)]
    qmetric = "ip" if metric == "ip" else "l2"
    ours = qvec.IVFIndex(dim, nlist, "sq8", qmetric)
    ours.fit(train, seed=1, max_train=len(train))
    ours.add(base)
    fmetric = faiss.METRIC_INNER_PRODUCT if qmetric == "ip" else faiss.METRIC_L2
    coarse = faiss.IndexFlatIP(dim) if qmetric == "ip" else faiss.IndexFlatL2(dim)
    theirs = faiss.IndexIVFScalarQuantizer(coarse, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                           fmetric, True)
    theirs.cp.niter = 10                      # qvec's coarse k-means iterations
    theirs.train(train)
    theirs.add(base)
    print(f"qvec {qvec.__version__} (SIMD {qvec.simd_level()}), faiss {faiss.__version__}; "
          f"{ds.name}: n={n}, d={dim}, nq={len(queries)}, metric={qmetric}, k={k}, "
          f"nlist={nlist}, best of {args.reps}")
    threads = [int(t) for t in args.threads.split(",")]
    header = f"{'nprobe':>6s} {'qvec R@10':>9s} {'faiss R@10':>10s}"
    for t in threads:
        header += f" {f'qvec q/s {t}t':>13s} {f'faiss q/s {t}t':>14s} {'ratio':>6s}"
    print(header)
    for nprobe in [int(x) for x in args.nprobe.split(",")]:
        theirs.nprobe = nprobe
        line, recalls = "", []
        for t in threads:
            qvec.set_num_threads(t)
            faiss.omp_set_num_threads(t)
            tq, (_, qi) = best_time(lambda: ours.search(queries, k, nprobe=nprobe), args.reps)
            tf, (_, fi) = best_time(lambda: theirs.search(queries, k), args.reps)
            recalls = [qvec.recall_at_k(np.asarray(qi, np.int64), gt, k),
                       qvec.recall_at_k(np.asarray(fi, np.int64), gt, k)]
            line += f" {len(queries) / tq:13.1f} {len(queries) / tf:14.1f} {tf / tq:6.2f}"
        print(f"{nprobe:6d} {recalls[0]:9.4f} {recalls[1]:10.4f}" + line, flush=True)


if __name__ == "__main__":
    main()
