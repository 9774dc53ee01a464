#!/usr/bin/env python3
"""Codes-only quality of multi-vector codecs on gcide-tokens: how training choices (sample size,
k-means iterations, OPQ, the anisotropic loss, a residual over coarse centroids) move the
exhaustive MaxSim recall@10 at a fixed code size. Exhaustive search only (no re-scoring), so
the numbers are the codes' own quality.

    python bench/multivector_codecs.py --queries 100 \
        --variants "PQ48x8@58144/25;PQ48x8@all/25;PQ48x8,aniso@all/25"

A variant is CODEC@SAMPLE/ITERS: SAMPLE the training tokens (a count, an even stride through
the collection, or "all"), ITERS the k-means (and OPQ) iterations.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Optional, Sequence

import numpy as np

import qvec

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from multivector import load, quality  # noqa: E402

DEFAULT = ("PQ48x8@58144/25;PQ48x8@all/25;PQ48x8@all/100;PQ48x8,aniso@all/25;"
           "RQ1+PQ48x8@all/25;RQ1+PQ47x8@all/25;OPQ48,PQ48x8,aniso@all/25")


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--variants", default=DEFAULT)
    args = p.parse_args(argv)
    d = load(args.queries)
    x = d["doc_tokens"]
    print("| codec | bytes/token | training tokens | iters | recall@10 | nDCG@10 | train s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for variant in args.variants.split(";"):
        codec, rest = variant.split("@")
        size, iters = rest.split("/")
        n = x.shape[0] if size == "all" else int(size)
        sample = x if n >= x.shape[0] else np.ascontiguousarray(
            x[np.linspace(0, x.shape[0] - 1, n).astype(np.int64)])
        t = time.perf_counter()
        index = qvec.MultiVectorIndex(384, codec=codec).train(sample, iters=int(iters))
        train_s = time.perf_counter() - t
        index.add(x, offsets=d["doc_offsets"])
        ids = index.search(d["queries"], k=10, mode="exhaustive")[1]
        recall, ndcg = quality(ids, d["gt"])
        print(f"| {codec} | {index.code_size} | {sample.shape[0]} | {iters} | {recall:.3f} | "
              f"{ndcg:.3f} | {train_s:.0f} |", flush=True)


if __name__ == "__main__":
    main()
