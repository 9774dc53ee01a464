"""Writes the qvec 0.1.0 fixture files in this folder (run once, with qvec 0.1.0 installed).

    python tests/data/make_fixtures_0_1_0.py

The files were written by the 0.1.0 code (python/qvec/index.py, before the index package) and
are committed; tests/test_index_compat.py loads them with today's code and checks every answer
against ``expected_0_1_0.npz``, which holds the queries, the search results 0.1.0 gave and the
stored arrays (ids, codes, vectors). Do not regenerate them with a newer qvec: that would test
nothing. Only the 0.1.0 API is used here (``train``, ``rotate=True``).
"""
from __future__ import annotations

import os

import numpy as np

import qvec

HERE = os.path.dirname(os.path.abspath(__file__))
DIM = 8
K = 5
RERANK = 20


def _data():
    rng = np.random.default_rng(20240101)
    train = rng.standard_normal((300, DIM)).astype(np.float32)
    base = rng.standard_normal((60, DIM)).astype(np.float32)
    queries = rng.standard_normal((6, DIM)).astype(np.float32)
    return train, base, queries


def _indexes(train, base):
    """name -> index, each built with the 0.1.0 API."""
    out = {}
    out["flat_l2"] = qvec.FlatIndex(DIM, "l2")
    out["flat_l2"].add(base)
    out["flat_ip"] = qvec.FlatIndex(DIM, "ip")
    out["flat_ip"].add(base)

    pq8 = qvec.PQIndex(DIM, 2, nbits=8, metric="l2")
    pq8.train(train, iters=4, seed=1)
    pq8.add(base)
    out["pq8"] = pq8
    pq4 = qvec.PQIndex(DIM, 4, nbits=4, metric="ip", keep_vectors=True)
    pq4.train(train, iters=4, seed=2)
    pq4.add(base)
    out["pq4fs"] = pq4

    b1 = qvec.BinaryIndex(DIM, bits=1, metric="l2", rotate=True, keep_vectors=True)
    b1.train(train, seed=3)
    b1.add(base)
    out["bin1"] = b1
    b2 = qvec.BinaryIndex(DIM, bits=2, metric="ip", rotate=True, keep_vectors=True)
    b2.train(train, seed=4)
    b2.add(base)
    out["bin2"] = b2
    b0 = qvec.BinaryIndex(DIM, bits=1, metric="ip", rotate=False)
    b0.train(train, seed=6)
    b0.add(base)
    out["bin1_norot"] = b0

    # user ids (not a range) and removed ids: the ids array is stored
    ids = qvec.PQIndex(DIM, 2, nbits=8, metric="l2", keep_vectors=True)
    ids.train(train, iters=4, seed=5)
    ids.add(base[:30], ids=np.arange(30, dtype=np.int64) * 7 + 100)
    ids.add(base[30:])                    # sequential ids after the largest one used
    ids.remove([107, 114, 100 + 7 * 29, 310])
    out["pq8_ids"] = ids
    flat_ids = qvec.FlatIndex(DIM, "l2")
    flat_ids.add(base, ids=np.arange(len(base), dtype=np.int64)[::-1] * 3)
    flat_ids.remove(np.arange(0, 60, 4) * 3)
    out["flat_ids"] = flat_ids

    out["pq8_untrained"] = qvec.PQIndex(DIM, 2, nbits=8, metric="l2")
    out["bin1_untrained"] = qvec.BinaryIndex(DIM, bits=1, metric="l2", rotate=True)
    return out


def main() -> None:
    train, base, queries = _data()
    expected = {"queries": queries, "base": base}
    for name, index in _indexes(train, base).items():
        index.save(os.path.join(HERE, f"{name}_0_1_0.qvec"))
        expected[f"{name}.ntotal"] = np.int64(len(index))
        expected[f"{name}.ids"] = index.ids
        if not index.is_trained:
            continue
        dist, ids = index.search(queries, K)
        expected[f"{name}.dist"], expected[f"{name}.labels"] = dist, ids
        dist, ids = index.search(queries, 70)           # k > ntotal: padding
        expected[f"{name}.pad_dist"], expected[f"{name}.pad_labels"] = dist, ids
        if index.keeps_vectors:
            expected[f"{name}.vectors"] = index.reconstruct(index.ids)
            if not isinstance(index, qvec.FlatIndex):
                dist, ids = index.search(queries, K, rerank=RERANK)
                expected[f"{name}.rr_dist"], expected[f"{name}.rr_labels"] = dist, ids
        if isinstance(index, qvec.PQIndex):
            expected[f"{name}.codes"] = np.array(index.codes)
            expected[f"{name}.codebooks"] = index.pq.codebooks
    np.savez_compressed(os.path.join(HERE, "expected_0_1_0.npz"), **expected)


if __name__ == "__main__":
    main()
