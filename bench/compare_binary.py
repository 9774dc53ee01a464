"""Binary codes: qvec beside faiss-cpu and rabitqlib, measured in the same run.

1. Hamming search on sign bits (bits of x - mean > 0): qvec.hamming_search vs faiss
   IndexBinaryFlat, k = 10 and 100, 1 and 2 threads; checks that the top-k distances are identical
   and reports queries/s (best of --reps runs).
2. Recall@10 against the float ground truth, 1 thread: Hamming 1 bit, qvec asymmetric 1, 2 and 4
   bits, each also with exact re-ranking of 10 * k candidates; beside faiss IndexRaBitQ and
   rabitqlib (IVF with one cluster = flat) at the same bits per dimension.
3. Extended RaBitQ: qvec BinaryQuantizer(method="extended") (pruned float-query search, its
   exhaustive form exact=True, and the bit-plane scan query_bits=8) and the residual levels
   beside rabitqlib at each of --bits bits per dimension, recall@10 without re-ranking and q/s,
   1 thread.

    python bench/compare_binary.py                      # gcide-minilm and synthetic
    python bench/compare_binary.py --datasets gcide-minilm --reps 5
    python bench/compare_binary.py --npy base.npy queries.npy --metric ip   # your own vectors
    python bench/compare_binary.py --skip hamming recall extended --seeds 5  # rotation spread

Timings are noisy on a shared machine: compare the ratios within one run.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import qvec


def best_time(fn, reps):
    best, out = float("inf"), None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def recall_at(ids, gt, k=10):
    return qvec.recall_at_k(ids, gt, k)


def rabitqlib_ids(out):
    """The int64 ids of a rabitqlib search result (its (ids, distances) order is not fixed
    across versions: the integer array is the ids)."""
    return np.asarray(out[0] if np.asarray(out[0]).dtype.kind in "iu" else out[1]).astype(np.int64)


def load_sets(args):
    if args.npy:
        base = np.load(args.npy[0]).astype(np.float32)
        queries = np.load(args.npy[1]).astype(np.float32)
        metric = args.metric or "ip"
        _, gt = qvec.exact_search(queries, base, 100, metric)
        return [{"name": args.npy[0], "base": base, "queries": queries, "gt": gt,
                 "metric": metric}]
    sys.path.insert(0, "/work/shared/data")
    from embeddings import load  # noqa: E402
    sets = [load(name) for name in args.datasets]
    for ds in sets:   # --metric: the other ground truth of a named set
        if args.metric is not None and args.metric != ds["metric"]:
            ds["name"], ds["metric"] = f"{ds['name']} ({args.metric})", args.metric
            ds["gt"] = ds[f"gt_{args.metric}"]
    return sets


def hamming_part(ds, args, rows):
    import faiss
    base, queries = ds["base"], ds["queries"][: args.queries]
    mean = base.mean(axis=0)
    codes = np.packbits(base - mean > 0, axis=1)
    qcodes = np.packbits(queries - mean > 0, axis=1)
    index = faiss.IndexBinaryFlat(codes.shape[1] * 8)
    index.add(codes)
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        qvec.set_num_threads(threads)
        for k in (10, 100):
            tf, (fd, _) = best_time(lambda: index.search(qcodes, k), args.reps)
            tq, (qd, _) = best_time(lambda: qvec.hamming_search(qcodes, codes, k), args.reps)
            same = bool(np.array_equal(fd.astype(np.int32), qd))
            rows.append((ds["name"], threads, k, len(queries) / tf, len(queries) / tq, tf / tq, same))


def recall_part(ds, args, rows):
    import faiss
    base, queries, gt, metric = ds["base"], ds["queries"][: args.queries], ds["gt"], ds["metric"]
    gt = gt[: len(queries)]
    n, dim = base.shape
    k, kc = 10, 100
    faiss.omp_set_num_threads(1)
    qvec.set_num_threads(1)

    def add(method, bits, qps, ids, cand=None, rerank_qps=None):
        r = recall_at(ids, gt)
        rr = None
        if cand is not None:
            t, (_, rids) = best_time(lambda: qvec.rerank(queries, cand, base, k, metric), args.reps)
            rr = recall_at(rids, gt)
            rerank_qps = len(queries) / (len(queries) / rerank_qps + t)
        rows.append((ds["name"], method, bits, r, qps, rr, rerank_qps))

    # Hamming on sign bits of the centred vectors, faiss and qvec.
    mean = base.mean(axis=0)
    codes = np.packbits(base - mean > 0, axis=1)
    qcodes = np.packbits(queries - mean > 0, axis=1)
    index = faiss.IndexBinaryFlat(codes.shape[1] * 8)
    index.add(codes)
    t, (_, ids) = best_time(lambda: index.search(qcodes, k), args.reps)
    tc, (_, cand) = best_time(lambda: index.search(qcodes, kc), args.reps)
    add("faiss IndexBinaryFlat (Hamming)", 1, len(queries) / t, ids, cand, len(queries) / tc)
    t, (_, ids) = best_time(lambda: qvec.hamming_search(qcodes, codes, k), args.reps)
    tc, (_, cand) = best_time(lambda: qvec.hamming_search(qcodes, codes, kc), args.reps)
    add("qvec hamming_search", 1, len(queries) / t, ids, cand, len(queries) / tc)

    # qvec asymmetric, 1 / 2 / 4 bits.
    for bits in (1, 2, 4):
        for rotate in args.rotations:
            bq = qvec.BinaryQuantizer(dim, bits, metric, rotate=None if rotate == "none" else rotate)
            bq.fit(base, seed=0)
            bcodes = bq.encode(base)
            t, (_, ids) = best_time(lambda: bq.search(queries, bcodes, k), args.reps)
            tc, (_, cand) = best_time(lambda: bq.search(queries, bcodes, kc), args.reps)
            add(f"qvec BinaryQuantizer asym (rotate={rotate})", bits, len(queries) / t, ids, cand,
                len(queries) / tc)

    fmetric = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
    for bits in (1, 2, 4):
        index = faiss.IndexRaBitQ(dim, fmetric, bits)
        index.qb = 4
        index.train(base)
        index.add(base)
        t, (_, ids) = best_time(lambda: index.search(queries, k), args.reps)
        tc, (_, cand) = best_time(lambda: index.search(queries, kc), args.reps)
        add("faiss IndexRaBitQ (qb=4)", bits, len(queries) / t, ids, cand, len(queries) / tc)

    try:
        import rabitqlib
    except ImportError:
        return
    for bits in (1, 2, 4):
        index = rabitqlib.IvfIndex(dim, n, 1, bits, metric=metric)
        index.build(base, mean[None, :].astype(np.float32), np.zeros(n, np.uint32))
        t, out = best_time(lambda: index.search(queries, k, 1), args.reps)
        tc, outc = best_time(lambda: index.search(queries, kc, 1), args.reps)
        ids, cand = rabitqlib_ids(out), rabitqlib_ids(outc)
        add("rabitqlib IvfIndex(1 cluster)", bits, len(queries) / t, ids, cand, len(queries) / tc)


def extended_part(ds, args, rows):
    """qvec extended RaBitQ (method="extended") and residual levels beside rabitqlib at each
    bit width, no re-ranking on either side, 1 thread. qvec extended runs three ways: the
    default search (float query, 1-bit pass with RaBitQ's eps = 1.9 pruning), exact=True (the
    same estimate for every code) and query_bits=8 (the bit-plane scan of the 8-bit query,
    what search did before the pruned path)."""
    import rabitqlib
    base, queries, gt, metric = ds["base"], ds["queries"][: args.queries], ds["gt"], ds["metric"]
    gt = gt[: len(queries)]
    n, dim = base.shape
    qvec.set_num_threads(1)
    mean = base.mean(axis=0)
    for bits in args.bits:
        index = rabitqlib.IvfIndex(dim, n, 1, bits, metric=metric)
        index.build(base, mean[None, :].astype(np.float32), np.zeros(n, np.uint32))
        t, out = best_time(lambda: index.search(queries, 10, 1), args.reps)
        peer = (recall_at(rabitqlib_ids(out), gt), len(queries) / t)
        runs = [("extended", "extended", {}), ("extended", "extended exact=True", {"exact": True}),
                ("extended", "extended query_bits=8", {"query_bits": 8}),
                ("residual", "residual", {})]
        if bits == 1:   # one code at 1 bit (either method): the float query against the
            # 4-bit query's bit-plane scan, which was the 1-bit default before
            runs = [("residual", "float query, pruned (the default)", {}),
                    ("residual", "query_bits=4", {"query_bits": 4})]
        for method, label, kw in runs:
            bq = qvec.BinaryQuantizer(dim, bits, metric, rotate="random", method=method)
            bq.fit(base, seed=0)
            codes = bq.encode(base)
            t, (_, qids) = best_time(lambda: bq.search(queries, codes, 10, **kw), args.reps)
            rows.append((ds["name"], bits, label, recall_at(qids, gt), len(queries) / t) + peer)


def spread_part(ds, args, rows):
    """Recall@10 over --seeds rotations: qvec's default search (extended codes; either method at
    1 bit) fitted with seeds 0..S-1 beside S rabitqlib builds (it draws its own rotation each
    build), mean / min / max: one rotation's recall moves by more than some of the gaps."""
    import rabitqlib
    base, queries, metric = ds["base"], ds["queries"][: args.queries], ds["metric"]
    gt = ds["gt"][: len(queries)]
    n, dim = base.shape
    mean = base.mean(axis=0)[None, :].astype(np.float32)
    for bits in args.bits:
        ours, theirs = [], []
        for seed in range(args.seeds):
            bq = qvec.BinaryQuantizer(dim, bits, metric, rotate="random", method="extended")
            bq.fit(base, seed=seed)
            ours.append(recall_at(bq.search(queries, bq.encode(base), 10)[1], gt))
            index = rabitqlib.IvfIndex(dim, n, 1, bits, metric=metric)
            index.build(base, mean, np.zeros(n, np.uint32))
            theirs.append(recall_at(rabitqlib_ids(index.search(queries, 10, 1)), gt))
        rows.append((ds["name"], bits, ours, theirs))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["gcide-minilm", "synthetic"])
    p.add_argument("--npy", nargs=2, metavar=("BASE", "QUERIES"))
    p.add_argument("--metric", default=None,
                   help="ip or l2; default: the named set's own, ip for --npy")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--rotations", nargs="+", default=["random", "itq"])
    p.add_argument("--skip", nargs="*", default=[], choices=["hamming", "recall", "extended"])
    p.add_argument("--seeds", type=int, default=0,
                   help="> 0: also the recall spread over this many rotations (qvec, rabitqlib)")
    p.add_argument("--bits", nargs="+", type=int, default=[1, 2, 3, 4, 5, 6, 7, 8],
                   help="bit widths of the extended-RaBitQ part")
    args = p.parse_args()
    print(f"qvec {qvec.__version__}, SIMD level {qvec.simd_level()}")
    sets = load_sets(args)
    if "hamming" not in args.skip:
        rows = []
        for ds in sets:
            hamming_part(ds, args, rows)
        print("\n## Hamming search on sign bits: qvec vs faiss IndexBinaryFlat\n")
        print("| data | threads | k | faiss q/s | qvec q/s | qvec / faiss | same distances |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:,.0f} | {r[4]:,.0f} | {r[5]:.2f}x | {r[6]} |")
    if "recall" not in args.skip:
        rows = []
        for ds in sets:
            recall_part(ds, args, rows)
        print("\n## Recall@10 vs the float ground truth, 1 thread (re-rank: 100 candidates, exact)\n")
        print("| data | method | bits/dim | recall@10 | q/s | + re-rank recall@10 | + re-rank q/s |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            rr = "" if r[5] is None else f"{r[5]:.3f}"
            rq = "" if r[6] is None else f"{r[6]:,.0f}"
            print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.3f} | {r[4]:,.0f} | {rr} | {rq} |")
    if "extended" not in args.skip:
        rows = []
        for ds in sets:
            extended_part(ds, args, rows)
        print("\n## Extended RaBitQ vs rabitqlib, recall@10 without re-ranking, 1 thread\n")
        print("| data | bits/dim | qvec method | qvec recall@10 | qvec q/s | rabitqlib recall@10 "
              "| rabitqlib q/s | recall met | q/s met |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.3f} | {r[4]:,.0f} | {r[5]:.3f} | "
                  f"{r[6]:,.0f} | {r[3] >= r[5]} | {r[4] >= r[6]} |")

    if args.seeds > 0:
        rows = []
        for ds in sets:
            spread_part(ds, args, rows)
        print(f"\n## Recall@10 over {args.seeds} rotations (seeds), default search, no re-ranking\n")
        print("| data | bits/dim | qvec mean | qvec min..max | rabitqlib mean | rabitqlib min..max |")
        print("|---|---|---|---|---|---|")
        for name, bits, ours, theirs in rows:
            print(f"| {name} | {bits} | {np.mean(ours):.4f} | {min(ours):.3f}..{max(ours):.3f} | "
                  f"{np.mean(theirs):.4f} | {min(theirs):.3f}..{max(theirs):.3f} |")


if __name__ == "__main__":
    main()
