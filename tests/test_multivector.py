"""MultiVectorIndex: MaxSim from codes against a numpy MaxSim over the decoded tokens, the
two-stage search against the exhaustive one, pruning, ids / remove, persistence, bad input."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import qvec
from qvec import _core
from qvec.index.multivector import MultiVectorIndex, prune

DIM = 32
# Scores are float32 sums of t * m table entries in a fixed order; the reference sums the
# decoded tokens in float64. For the small bags here they agree to this absolute tolerance.
ATOL = 2e-4
CODECS = ["PQ8x8", "PQ8x4fs", "KM16", "KM256", "BIN1", "BIN2", "Flat", "RQ1+PQ8x8",
          "RQ2+PQ6x8", "OPQ8,PQ8x8,aniso"]


def bags(seed, ndocs, lo=1, hi=6, dim=DIM):
    r = np.random.default_rng(seed)
    centers = r.standard_normal((8, dim)).astype(np.float32)
    out = []
    for _ in range(ndocs):
        n = int(r.integers(lo, hi + 1))
        lab = r.integers(0, 8, n)
        out.append((centers[lab] + 0.4 * r.standard_normal((n, dim))).astype(np.float32))
    return out


def decoded_tokens(index):
    """The tokens as the codec reconstructs them (float64)."""
    s, f = index._state, index._family
    if f == "flat":
        return s.floats.astype(np.float64)
    if f == "pq":
        return index._model.decode(s.codes).astype(np.float64)
    if f == "km":
        return index._model[0].decode(s.codes).astype(np.float64)
    if f == "rq":
        return index._model.decode(s.codes).astype(np.float64)
    return index._model.decode(qvec.BinaryCodes(s.codes, s.factors)).astype(np.float64)


def ref_scores(queries, tokens, offsets):
    """float64 MaxSim of every query against every document: (nq, ndocs)."""
    out = np.empty((len(queries), offsets.size - 1))
    for i, q in enumerate(queries):
        sims = q.astype(np.float64) @ tokens.T
        for d in range(offsets.size - 1):
            out[i, d] = sims[:, offsets[d]:offsets[d + 1]].max(axis=1).sum()
    return out


def ref_topk(scores, ids, k):
    order = np.lexsort((ids[None, :].repeat(scores.shape[0], 0), -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, 1), ids[order]


def check_against_reference(index, queries, scores, ids, k):
    s = index._state
    ref = ref_scores(queries, decoded_tokens(index), s.offsets)
    all_ids = index.ids
    want_scores, _ = ref_topk(ref, all_ids, k)
    n = min(k, len(all_ids))
    np.testing.assert_allclose(scores[:, :n], want_scores[:, :n], atol=ATOL, rtol=1e-5)
    # the returned ids carry the returned scores (ties may order either way within ATOL)
    row_of = {int(v): r for r, v in enumerate(all_ids)}
    for i in range(len(queries)):
        got = np.array([ref[i, row_of[int(v)]] for v in ids[i, :n]])
        np.testing.assert_allclose(scores[i, :n], got, atol=ATOL, rtol=1e-5)
    assert (ids[:, n:] == -1).all() and np.isneginf(scores[:, n:]).all()


def build(codec, docs, seed=0, **kw):
    index = MultiVectorIndex(DIM, codec=codec, **kw)
    index.train(np.concatenate(docs + bags(seed + 99, 200)), seed=seed)
    index.add(docs)
    return index


@pytest.mark.parametrize("codec", CODECS)
def test_exhaustive_maxsim_equals_decoded_reference(codec):
    docs = bags(1, 40)
    index = build(codec, docs)
    queries = bags(2, 5, lo=1, hi=4)
    scores, ids = index.search(queries, k=7, mode="exhaustive")
    assert scores.dtype == np.float32 and ids.dtype == np.int64 and scores.shape == (5, 7)
    check_against_reference(index, queries, scores, ids, 7)


@pytest.mark.parametrize("codec", ["PQ8x8", "PQ8x4fs", "KM16", "BIN1", "Flat", "RQ1+PQ8x8",
                                   "RQ2+PQ6x8"])
def test_two_stage_with_every_token_equals_exhaustive(codec):
    docs = bags(3, 30)
    index = build(codec, docs)
    queries = bags(4, 4, lo=1, hi=5)
    exhaustive = index.search(queries, k=5, mode="exhaustive")
    two = index.search(queries, k=5, kprime=index.ntokens)
    np.testing.assert_array_equal(two[1], exhaustive[1])
    np.testing.assert_array_equal(two[0], exhaustive[0])
    # a small kprime scores fewer documents: every result is still an exact MaxSim
    few = index.search(queries, k=5, kprime=2)
    ref = ref_scores(queries, decoded_tokens(index), index._state.offsets)
    for i in range(len(queries)):
        valid = few[1][i] >= 0
        np.testing.assert_allclose(few[0][i][valid], ref[i, few[1][i][valid]], atol=ATOL)


def test_rescore_with_float_tokens_gives_exact_maxsim():
    docs = bags(5, 30)
    index = build("PQ4x8", docs, keep_floats=True)
    flat = build("Flat", docs)
    queries = bags(6, 3)
    got = index.search(queries, k=4, kprime=index.ntokens, rescore=30)
    want = flat.search(queries, k=4, mode="exhaustive")
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    with pytest.raises(ValueError, match="keep_floats"):
        build("PQ4x8", docs).search(queries, k=4, rescore=2)


def test_hamming_mode_scores_centroid_bit_strings():
    docs = bags(7, 20)
    index = build("KM16", docs)
    bits = index.centroid_bit_codes()
    assert bits.shape == (index.ntokens, 1)
    q = bags(8, 1, lo=3, hi=3)[0]
    qc = index._model[0].encode(q)[:, 0]
    tok = index._state.codes[:, 0]
    sims = 4 - np.array([[bin(int(a) ^ int(b)).count("1") for b in tok] for a in qc])
    off = index._state.offsets
    ref = np.array([sims[:, off[d]:off[d + 1]].max(1).sum() for d in range(20)])
    scores, ids = index.search(q, k=5, mode="exhaustive", hamming=True)
    np.testing.assert_allclose(scores, ref[ids])
    assert scores[0] == ref.max()
    two = index.search(q, k=5, hamming=True, kprime=index.ntokens)
    np.testing.assert_array_equal(two[1], ids)
    with pytest.raises(ValueError, match="KM"):
        build("Flat", docs).search(q, k=2, hamming=True)


def test_single_query_batch_offsets_and_threads_agree():
    docs = bags(9, 50)
    index = build("PQ8x8", docs)
    queries = bags(10, 3)
    batch = index.search(queries, k=6)
    tokens = np.concatenate(queries)
    offsets = np.cumsum([0] + [len(q) for q in queries])
    np.testing.assert_array_equal(index.search(tokens, k=6, offsets=offsets)[1], batch[1])
    one = index.search(queries[1], k=6)
    assert one[0].shape == (6,)
    np.testing.assert_array_equal(one[1], batch[1][1])
    before = qvec.get_num_threads()
    try:
        qvec.set_num_threads(1)
        serial = index.search(queries, k=6, mode="exhaustive")
        qvec.set_num_threads(max(2, before))
        parallel = index.search(queries, k=6, mode="exhaustive")
    finally:
        qvec.set_num_threads(before)
    np.testing.assert_array_equal(serial[0], parallel[0])
    np.testing.assert_array_equal(serial[1], parallel[1])


def test_pruning_keeps_top_fraction_by_weight():
    r = np.random.default_rng(11)
    docs = bags(11, 12, lo=1, hi=9)
    weights = [r.permutation(len(d)).astype(np.float32) for d in docs]
    weights[0][:] = 1.0                         # all tied: the earlier tokens win
    index = MultiVectorIndex(DIM, codec="Flat")
    index.add(docs, weights=weights, keep=0.4)
    off = index._state.offsets
    for d, (doc, w) in enumerate(zip(docs, weights)):
        want = max(1, int(np.ceil(0.4 * len(doc) - 1e-9)))
        rows = np.sort(np.argsort(-w, kind="stable")[:want])
        np.testing.assert_array_equal(index._state.floats[off[d]:off[d + 1]], doc[rows])
    # one (T,) weight array with tokens + offsets prunes the same way
    tokens = np.concatenate(docs)
    offsets = np.cumsum([0] + [len(d) for d in docs])
    other = MultiVectorIndex(DIM, codec="Flat")
    other.add(tokens, offsets=offsets, weights=np.concatenate(weights), keep=0.4)
    np.testing.assert_array_equal(other._state.floats, index._state.floats)
    np.testing.assert_array_equal(prune(np.array([0, 4]), np.array([3, 1, 4, 1], np.float32),
                                        0.5), [0, 2])
    with pytest.raises(ValueError, match="keep"):
        index.add(docs, weights=weights, keep=1.5)
    with pytest.raises(ValueError, match="both"):
        index.add(docs, keep=0.5)
    with pytest.raises(ValueError, match="one finite weight per token"):
        index.add(docs, weights=[w[:-1] for w in weights], keep=0.5)


def test_ids_remove_and_contains():
    docs = bags(12, 20)
    index = build("KM16", docs[:10])
    added = index.add(docs[10:], ids=np.arange(100, 110))
    np.testing.assert_array_equal(added, np.arange(100, 110))
    assert len(index) == 20 and 105 in index and 10 not in index
    assert index.remove([3, 105, 999, 3]) == 2
    assert 105 not in index and len(index) == 18
    queries = bags(13, 2)
    scores, ids = index.search(queries, k=25, mode="exhaustive")
    assert set(ids[0][ids[0] >= 0]) == set(index.ids) and 3 not in ids
    check_against_reference(index, queries, scores, ids, 25)
    with pytest.raises(ValueError, match="already"):
        index.add(docs[:1], ids=[100])


@pytest.mark.parametrize("codec", ["PQ8x4fs", "KM16", "BIN1", "Flat", "RQ2+PQ6x8",
                                   "OPQ8,PQ8x8,aniso"])
def test_save_load_mmap_round_trip(tmp_path, codec):
    docs = bags(14, 25)
    index = build(codec, docs, keep_floats=codec != "Flat")
    index.remove([2])
    queries = bags(15, 3)
    want = index.search(queries, k=5)
    path = tmp_path / "mv.qvec"
    index.save(path)
    for mmap in (False, True):
        loaded = qvec.load(path, mmap=mmap)
        assert isinstance(loaded, MultiVectorIndex) and loaded.codec == index.codec
        got = loaded.search(queries, k=5)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[0], want[0])
    loaded.add(docs[:2])                      # a mapped index copies on add
    assert len(loaded) == len(index) + 2
    raw = bytearray(path.read_bytes())
    raw[-8] ^= 0xFF
    bad = tmp_path / "bad.qvec"
    bad.write_bytes(bytes(raw))
    with pytest.raises(qvec.FormatError):
        qvec.load(bad)
    other = tmp_path / "flat.qvec"
    flat = qvec.FlatIndex(DIM, "ip")
    flat.add(np.concatenate(docs))
    flat.save(other)
    with pytest.raises(qvec.FormatError, match="not a MultiVectorIndex"):
        MultiVectorIndex.load(other)


def test_untrained_save_and_empty_index():
    index = MultiVectorIndex(DIM, codec="PQ8x8")
    with pytest.raises(qvec.NotTrainedError):
        index.add(bags(0, 2))
    flat = MultiVectorIndex(DIM, codec="Flat")
    scores, ids = flat.search(bags(0, 1)[0], k=3)
    assert (ids == -1).all() and np.isneginf(scores).all()


def test_bad_inputs_are_clear_errors():
    docs = bags(16, 5)
    index = build("PQ8x8", docs)
    q = bags(17, 1)[0]
    with pytest.raises(ValueError, match="unknown codec"):
        MultiVectorIndex(DIM, codec="HNSW")
    with pytest.raises(ValueError, match="K must be"):
        MultiVectorIndex(DIM, codec="KM300")
    with pytest.raises(ValueError, match="metric"):
        MultiVectorIndex(DIM, codec="Flat", metric="l2")
    with pytest.raises(ValueError, match="no tokens"):
        index.add([docs[0], np.zeros((0, DIM), np.float32)])
    with pytest.raises(ValueError, match="no tokens"):
        index.search([q, np.zeros((0, DIM), np.float32)], k=3)
    with pytest.raises(ValueError, match=r"shape \(n_i, 32\)"):
        index.add([np.zeros((3, 5), np.float32)])
    with pytest.raises(ValueError, match="NaN"):
        index.add([np.full((2, DIM), np.nan, np.float32)])
    with pytest.raises(ValueError, match="k"):
        index.search(q, k=0)
    with pytest.raises(ValueError, match="mode"):
        index.search(q, k=2, mode="fast")
    with pytest.raises(ValueError, match="offsets="):
        index.add(np.concatenate(docs))
    with pytest.raises(ValueError, match="offsets must start at 0"):
        index.add(np.concatenate(docs), offsets=[1, 3])
    with pytest.raises(ValueError, match="already holds"):
        index.train(np.concatenate(docs))


def test_core_checks_its_own_contract():
    tables = np.zeros((2, 1, 256), np.float32)
    codes = np.zeros((3, 1), np.uint8)
    ok = dict(bias=None, groups=1, codes=codes, weights=None, doc_ids=None, candidates=None,
              candidate_offsets=None)
    s, i = _core.maxsim_search_codes(tables, query_offsets=np.array([0, 2]),
                                     doc_offsets=np.array([0, 1, 3]), k=3, **ok)
    assert list(i[0]) == [0, 1, -1]
    with pytest.raises(ValueError, match="non-decreasing"):
        _core.maxsim_search_codes(tables, query_offsets=np.array([0, 2]),
                                  doc_offsets=np.array([0, 2, 1, 3]), k=1, **ok)
    with pytest.raises(ValueError, match="no tokens"):
        _core.maxsim_search_codes(tables, query_offsets=np.array([0, 0, 2]),
                                  doc_offsets=np.array([0, 3]), k=1, **ok)
    with pytest.raises(ValueError, match="end at the token count"):
        _core.maxsim_search_codes(tables, query_offsets=np.array([0, 2]),
                                  doc_offsets=np.array([0, 2]), k=1, **ok)
    bad = dict(ok, candidates=np.array([5]), candidate_offsets=np.array([0, 1]))
    with pytest.raises(ValueError, match="not a document number"):
        _core.maxsim_search_codes(tables, query_offsets=np.array([0, 2]),
                                  doc_offsets=np.array([0, 3]), k=1, **bad)
    with pytest.raises(ValueError, match="finite"):
        _core.maxsim_search_codes(np.full((2, 1, 256), np.inf, np.float32),
                                  query_offsets=np.array([0, 2]), doc_offsets=np.array([0, 3]),
                                  k=1, **ok)
    with pytest.raises(ValueError, match="token number"):
        _core.maxsim_candidates(np.array([[7]]), np.array([0, 1]), np.zeros(3, np.int64), 1)


@settings(max_examples=15)
@given(seed=st.integers(0, 2 ** 16), ndocs=st.integers(1, 12), t=st.integers(1, 4),
       k=st.integers(1, 15), hi=st.integers(1, 5))
def test_bag_shapes_property(seed, ndocs, t, k, hi):
    docs = bags(seed, ndocs, lo=1, hi=hi)
    index = MultiVectorIndex(DIM, codec="Flat")
    index.add(docs)
    q = bags(seed + 1, 1, lo=t, hi=t)[0]
    for mode in ("exhaustive", "two-stage"):
        scores, ids = index.search([q], k=k, mode=mode, kprime=index.ntokens)
        check_against_reference(index, [q], scores, ids, k)


def test_filter_restricts_documents():
    docs = bags(18, 30)
    index = build("PQ8x8", docs)
    queries = bags(19, 3)
    allowed = np.array([1, 4, 5, 9, 22, 29, 1000])
    for mode in ("exhaustive", "two-stage"):
        scores, ids = index.search(queries, k=4, mode=mode, kprime=index.ntokens,
                                   filter=allowed)
        assert np.isin(ids[ids >= 0], allowed).all()
        ref = ref_scores(queries, decoded_tokens(index), index._state.offsets)
        masked = np.where(np.isin(np.arange(30), allowed), ref, -np.inf)
        want, _ = ref_topk(masked, np.arange(30), 4)
        np.testing.assert_allclose(scores, want, atol=ATOL)
    scores, ids = index.search(queries[0], k=3, filter=[])
    assert (ids == -1).all()


@pytest.mark.parametrize("codec", ["RQ1+PQ8x8", "RQ2+PQ6x8"])
def test_residual_cells_give_each_query_token_its_best_cells_tokens(codec):
    index = build(codec, bags(16, 40))
    model, codes = index._model, index._state.codes
    q = np.concatenate(bags(17, 3))
    tables = model.tables(q)
    cells = model.cells(codes)
    score = tables[:, 0, codes[:, 0]] + (tables[:, 1, codes[:, 1]] if codec.startswith("RQ2")
                                         else 0.0)          # (t, ntokens): each token's cell score
    kprime = 9
    hits = model.cell_hits(tables, model.cell_index(codes), kprime)
    assert hits.shape == (q.shape[0], kprime) and (hits >= 0).all()
    for i in range(q.shape[0]):
        got = score[i, hits[i]]
        assert (np.diff(got) <= 0).all()                    # best cell first
        assert np.unique(hits[i]).size == kprime
        # no token outside the list lies in a strictly better cell than the worst listed one
        outside = np.setdiff1d(np.arange(codes.shape[0]), hits[i])
        assert (score[i, outside] <= got[-1]).all()
        assert np.isin(cells[hits[i]], cells).all()


def test_codec_strings():
    for codec, size in (("RQ2+PQ46x8", 48), ("RQ1+PQ47", 48), ("OPQ48,PQ48x8,aniso", 48),
                        ("PQ48x8,aniso", 48), ("OPQ96,PQ96x4fs", 48)):
        index = MultiVectorIndex(384, codec=codec)
        assert index.code_size == size
        assert MultiVectorIndex(384, codec=index.codec).codec == index.codec
    for bad in ("RQ0+PQ8x8", "RQ5+PQ8x8", "RQ1+PQ0", "OPQ4,PQ8x8", "KM16,aniso"):
        with pytest.raises(ValueError):
            MultiVectorIndex(32, codec=bad)


def test_rescore_from_caller_vectors_memmap_gives_exact_maxsim(tmp_path):
    docs = bags(11, 30)
    index = build("PQ4x8", docs)                       # codes only, no floats kept
    flat = build("Flat", docs)
    queries = bags(12, 3)
    tokens = np.concatenate(docs)
    mm = np.lib.format.open_memmap(tmp_path / "tokens.npy", mode="w+", dtype=np.float32,
                                   shape=tokens.shape)
    mm[:] = tokens
    mm.flush()
    disk = np.load(tmp_path / "tokens.npy", mmap_mode="r")
    got = index.search(queries, k=4, kprime=index.ntokens, rescore=30, vectors=disk)
    want = flat.search(queries, k=4, mode="exhaustive")
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    # a small candidate set: every returned score is the exact float MaxSim of that document
    few = index.search(queries, k=3, kprime=2, rescore=2, vectors=disk)
    exact = ref_scores(queries, tokens, index._state.offsets)
    for i in range(len(queries)):
        valid = few[1][i] >= 0
        np.testing.assert_allclose(few[0][i][valid], exact[i, few[1][i][valid]], rtol=1e-5)
    with pytest.raises(ValueError, match="rescore"):
        index.search(queries, k=4, vectors=disk)
    with pytest.raises(ValueError, match="vectors must be"):
        index.search(queries, k=4, rescore=2, vectors=tokens[:-1])
    with pytest.raises(ValueError, match="vectors must be"):
        index.search(queries, k=4, rescore=2, vectors=tokens.astype(np.float64))
