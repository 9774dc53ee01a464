"""MultiVectorIndex mode="centroid" (PLAID's centroid interaction as the first stage): the kept
documents are the best by coarse-byte MaxSim, every result is the exact MaxSim over the codes,
enough candidates give the exhaustive search, ragged bags, filters, re-scoring, bad input."""
import numpy as np
import pytest

from qvec.index.multivector import MultiVectorIndex

from test_multivector import ATOL, DIM, bags, build, decoded_tokens, ref_scores, ref_topk

RQ = ["RQ1+PQ8x8", "RQ2+PQ6x8"]


def prefix_scores(index, queries, p):
    """float64 MaxSim of every query over the first p code bytes of every document's tokens
    (sim = the sum of those bytes' table entries): (nq, ndocs)."""
    codes, off = index._state.codes, index._state.offsets
    out = []
    for q in queries:
        t = index._model.tables(q).astype(np.float64)             # (t, a + m, 256)
        sims = sum(t[:, j, codes[:, j]] for j in range(p))        # (t, ntokens)
        out.append([sims[:, off[d]:off[d + 1]].max(1).sum() for d in range(off.size - 1)])
    return np.array(out)


def test_coarse_bytes_are_the_centroid_levels():
    index = build("RQ2+PQ6x8", bags(30, 20))
    queries = bags(29, 3)
    model, codes = index._model, index._state.codes
    centroid = model.centroids[0][codes[:, 0]] + model.centroids[1][codes[:, 1]]
    want = ref_scores(queries, centroid.astype(np.float64), index._state.offsets)
    np.testing.assert_allclose(prefix_scores(index, queries, 2), want, atol=ATOL)


@pytest.mark.parametrize("codec", RQ)
def test_enough_candidates_equal_exhaustive(codec):
    docs = bags(31, 40)
    index = build(codec, docs)
    queries = bags(32, 5, lo=1, hi=5)
    want = index.search(queries, k=6, mode="exhaustive")
    for n in (40, 41, 10 ** 4):
        got = index.search(queries, k=6, mode="centroid", candidates=n)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("codec,p", [("RQ1+PQ8x8", 1), ("RQ2+PQ6x8", 2), ("RQ2+PQ6x8", 5),
                                     ("RQ1+PQ8x8", 9)])
def test_first_stage_keeps_the_best_prefix_documents(codec, p):
    docs = bags(33, 60)
    index = build(codec, docs)
    queries = bags(34, 4, lo=2, hi=5)
    n = 7
    state = index._state
    q = np.concatenate(queries)
    qoff = np.cumsum([0] + [len(x) for x in queries]).astype(np.int64)
    rows, offsets = index._centroid_candidates(state, index._model.tables(q), qoff, (n, p),
                                               None)
    np.testing.assert_array_equal(offsets, np.arange(5) * n)
    coarse = prefix_scores(index, queries, p)
    for i in range(len(queries)):
        got = rows[offsets[i]:offsets[i + 1]]
        assert (np.diff(got) > 0).all()                    # ascending, each once
        worst = coarse[i, got].min()
        outside = np.setdiff1d(np.arange(60), got)
        assert (coarse[i, outside] <= worst + ATOL).all()  # none outside is strictly better
    # the results: exact MaxSim over the codes of the kept documents, best first
    scores, ids = index.search(queries, k=4, mode="centroid", candidates=n, coarse_bytes=p)
    full = ref_scores(queries, decoded_tokens(index), state.offsets)
    for i in range(len(queries)):
        kept = rows[offsets[i]:offsets[i + 1]]
        masked = np.full(60, -np.inf)
        masked[kept] = full[i, kept]
        want, _ = ref_topk(masked[None], np.arange(60), 4)
        np.testing.assert_allclose(scores[i], want[0], atol=ATOL)
        np.testing.assert_allclose(scores[i], full[i, ids[i]], atol=ATOL)
    # the whole code as the first stage ranks exactly like the exhaustive search
    if p == index.code_size:
        np.testing.assert_array_equal(ids, index.search(queries, k=4, mode="exhaustive")[1])


def test_fewer_candidates_than_k_pad_and_ragged_bags():
    docs = bags(35, 12, lo=1, hi=1) + bags(36, 8, lo=1, hi=9)   # 1-token documents too
    index = build("RQ1+PQ8x8", docs)
    one_token = bags(37, 1, lo=1, hi=1)[0]
    scores, ids = index.search(one_token, k=5, mode="centroid", candidates=3)
    assert (ids[:3] >= 0).all() and (ids[3:] == -1).all() and np.isneginf(scores[3:]).all()
    full = ref_scores([one_token], decoded_tokens(index), index._state.offsets)[0]
    np.testing.assert_allclose(scores[:3], full[ids[:3]], atol=ATOL)
    want = index.search(one_token, k=5, mode="exhaustive")
    got = index.search(one_token, k=5, mode="centroid", candidates=20)
    np.testing.assert_array_equal(got[1], want[1])
    with pytest.raises(ValueError, match="no tokens"):
        index.search([one_token, np.zeros((0, DIM), np.float32)], k=2, mode="centroid")


def test_filter_and_rescore():
    docs = bags(38, 30)
    index = build("RQ2+PQ6x8", docs, keep_floats=True)
    flat = build("Flat", docs)
    queries = bags(39, 3)
    allowed = np.array([0, 3, 7, 8, 21, 29, 500])
    for n in (30, 4):
        scores, ids = index.search(queries, k=4, mode="centroid", candidates=n, filter=allowed)
        assert np.isin(ids[ids >= 0], allowed).all()
        if n == 30:
            want = index.search(queries, k=4, mode="exhaustive", filter=allowed)
            np.testing.assert_array_equal(ids, want[1])
    got = index.search(queries, k=4, mode="centroid", candidates=30, rescore=10)
    want = flat.search(queries, k=4, mode="exhaustive")
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    assert (index.search(queries[0], k=3, mode="centroid", filter=[])[1] == -1).all()


def test_centroid_mode_bad_input():
    docs = bags(40, 6)
    q = bags(41, 1)[0]
    with pytest.raises(ValueError, match="RQ<a>"):
        build("PQ8x8", docs).search(q, k=2, mode="centroid")
    index = build("RQ1+PQ8x8", docs)
    with pytest.raises(ValueError, match="candidates"):
        index.search(q, k=2, mode="centroid", candidates=0)
    with pytest.raises(ValueError, match="coarse_bytes"):
        index.search(q, k=2, mode="centroid", coarse_bytes=10)
    with pytest.raises(ValueError, match="coarse_bytes"):
        index.search(q, k=2, mode="centroid", coarse_bytes=0)
    empty = MultiVectorIndex(DIM, codec="RQ1+PQ8x8")
    empty.train(np.concatenate(bags(42, 200)))
    assert (empty.search(q, k=2, mode="centroid")[1] == -1).all()
