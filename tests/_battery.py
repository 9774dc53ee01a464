"""Runs every kernel-backed entry point on fixed data and saves the outputs to an .npz.

test_simd_levels.py runs this once per SIMD level (QVEC_SIMD set in a subprocess) and compares
each level with the scalar reference. Families added later append their own outputs here.
"""
import sys

import numpy as np

import qvec


def battery():
    out = {"level": np.array(qvec.simd_level())}
    rng = np.random.default_rng(99)
    # Odd sizes on purpose: dims not a multiple of 8/16, n not a multiple of 16/64.
    base = rng.standard_normal((1337, 45)).astype(np.float32)
    queries = rng.standard_normal((19, 45)).astype(np.float32)
    for metric in ("l2", "ip"):
        out[f"exact_{metric}_d"], out[f"exact_{metric}_i"] = qvec.exact_search(
            queries, base, 17, metric)
    scores = rng.integers(0, 50, size=(7, 1000)).astype(np.float32)
    out["topk_d"], out["topk_i"] = qvec.topk(scores, 33)

    pq_base = rng.standard_normal((2000, 24)).astype(np.float32)
    pq_queries = rng.standard_normal((13, 24)).astype(np.float32)
    for metric in ("l2", "ip"):
        pq = qvec.ProductQuantizer(24, 6, metric=metric)
        # Fixed codebooks so that every level scans the same codes.
        pq.codebooks = np.random.default_rng(5).standard_normal((6, 256, 4)).astype(np.float32)
        codes = pq.encode(pq_base)
        out[f"pq_{metric}_codes"] = codes
        out[f"pq_{metric}_tables"] = pq.distance_tables(pq_queries)
        out[f"pq_{metric}_adc_d"], out[f"pq_{metric}_adc_i"] = pq.search(pq_queries, codes, 21)
        out[f"pq_{metric}_sdc_d"], out[f"pq_{metric}_sdc_i"] = pq.search_sdc(
            pq.encode(pq_queries), codes, 21)
    trained = qvec.ProductQuantizer(24, 6).fit(pq_base, iters=3, seed=4)
    out["pq_trained_codebooks"] = trained.codebooks
    return out


if __name__ == "__main__":
    np.savez(sys.argv[1], **battery())
