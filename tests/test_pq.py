import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import qvec
from conftest import clustered, reference_distances, reference_topk


@pytest.fixture(scope="module")
def data():
    x = clustered(3000, 32, 20, seed=7)
    return x[:2800], x[2800:]


@pytest.fixture(scope="module", params=["l2", "ip"])
def trained(request, data):
    base, _ = data
    return qvec.ProductQuantizer(32, 8, metric=request.param).fit(base, iters=10, seed=1)


def numpy_tables(pq, queries):
    cb = pq.codebooks.astype(np.float64)
    q = queries.astype(np.float64).reshape(len(queries), pq.m, 1, -1)
    if pq.metric == "l2":
        return ((q - cb[None]) ** 2).sum(-1)
    return (q * cb[None]).sum(-1)


def test_tables_match_numpy(trained, data):
    _, queries = data
    tables = trained.distance_tables(queries)
    assert tables.shape == (len(queries), 8, 256) and tables.dtype == np.float32
    np.testing.assert_allclose(tables, numpy_tables(trained, queries), rtol=1e-4, atol=1e-3)


def test_encode_picks_nearest_centroid(trained, data):
    base, _ = data
    codes = trained.encode(base)
    assert codes.shape == (len(base), 8) and codes.dtype == np.uint8
    cb = trained.codebooks.astype(np.float64)
    sub = base.astype(np.float64).reshape(len(base), 8, 1, 4)
    d = ((sub - cb[None]) ** 2).sum(-1)  # (n, m, 256)
    chosen = np.take_along_axis(d, codes[:, :, None].astype(np.int64), 2)[:, :, 0]
    # The chosen centroid is the nearest up to float rounding of near-ties.
    np.testing.assert_allclose(chosen, d.min(-1), rtol=1e-5, atol=1e-4)


def test_decode_is_codebook_lookup(trained, data):
    base, _ = data
    codes = trained.encode(base[:50])
    rec = trained.decode(codes)
    cb = trained.codebooks
    want = np.concatenate([cb[j, codes[:, j]] for j in range(8)], axis=1)
    np.testing.assert_array_equal(rec, want)


def test_adc_equals_distance_to_decoded(trained, data):
    base, queries = data
    codes = trained.encode(base)
    dist, ids = trained.search(queries, codes, 20)
    ref = reference_distances(queries, trained.decode(codes), trained.metric)
    want_d, _ = reference_topk(ref, 20)
    sign = -1 if trained.metric == "ip" else 1
    # Tolerance: float32 sums of 8 table entries against float64 distances.
    np.testing.assert_allclose(sign * dist, want_d, rtol=1e-4, atol=2e-3)
    np.testing.assert_allclose(np.take_along_axis(ref, ids, 1), want_d, rtol=1e-4, atol=2e-3)


def test_adc_is_exact_table_sum_topk(trained, data):
    # The quantized scan must return exactly the top-k of the float table sums.
    base, queries = data
    codes = trained.encode(base)
    tables = trained.distance_tables(queries).astype(np.float64)
    sums = tables[:, np.arange(8)[None, :], codes.astype(np.int64)].sum(-1)  # (nq, n)
    score = -sums if trained.metric == "ip" else sums
    dist, ids = trained.search(queries, codes, 10)
    want_d, want_i = reference_topk(score, 10)
    np.testing.assert_allclose(np.take_along_axis(score, ids, 1), want_d, rtol=1e-5, atol=1e-4)
    assert (ids == want_i).mean() > 0.99


def test_sdc_equals_decoded_to_decoded(trained, data):
    base, queries = data
    codes, qcodes = trained.encode(base), trained.encode(queries)
    dist, ids = trained.search_sdc(qcodes, codes, 10)
    ref = reference_distances(trained.decode(qcodes), trained.decode(codes), trained.metric)
    want_d, _ = reference_topk(ref, 10)
    sign = -1 if trained.metric == "ip" else 1
    np.testing.assert_allclose(sign * dist, want_d, rtol=1e-4, atol=2e-3)


@given(n=st.integers(1, 700), nq=st.integers(1, 12), k=st.integers(1, 90),
       seed=st.integers(0, 1000))
def test_search_shapes_and_padding(n, nq, k, seed):
    pq = _small_pq()
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, size=(n, pq.m), dtype=np.uint8)
    queries = rng.standard_normal((nq, pq.dim)).astype(np.float32)
    dist, ids = pq.search(queries, codes, k)
    tables = pq.distance_tables(queries).astype(np.float64)
    sums = tables[:, np.arange(pq.m)[None, :], codes.astype(np.int64)].sum(-1)
    want_d, want_i = reference_topk(sums, k)
    real = min(n, k)
    np.testing.assert_allclose(dist[:, :real], want_d[:, :real], rtol=1e-5, atol=1e-4)
    assert np.all(ids[:, real:] == -1) and np.all(dist[:, real:] == np.inf)
    assert np.all(np.sort(ids[:, :real], 1) >= 0)
    np.testing.assert_allclose(np.take_along_axis(sums, ids[:, :real], 1), want_d[:, :real],
                               rtol=1e-5, atol=1e-4)


_PQ_CACHE = {}


def _small_pq():
    if "pq" not in _PQ_CACHE:
        x = np.random.default_rng(3).standard_normal((600, 12)).astype(np.float32)
        _PQ_CACHE["pq"] = qvec.ProductQuantizer(12, 3).fit(x, iters=4)
    return _PQ_CACHE["pq"]


@pytest.mark.parametrize("n", [1, 63, 64, 65, 1000])
def test_packed_codes_search_like_raw_codes(trained, data, n):
    base, queries = data
    codes = trained.encode(base[:n])
    packed = trained.pack(codes)
    assert packed.n == n and packed.nbits == 8 and packed.nbytes == -(-n // 64) * 64 * 8
    np.testing.assert_array_equal(packed.to_codes(), codes)
    for got, want in zip(trained.search(queries, packed, 7), trained.search(queries, codes, 7)):
        np.testing.assert_array_equal(got, want)
    qcodes = trained.encode(queries)
    for got, want in zip(trained.search_sdc(qcodes, packed, 7),
                         trained.search_sdc(qcodes, codes, 7)):
        np.testing.assert_array_equal(got, want)
    clone = pickle.loads(pickle.dumps(packed))
    np.testing.assert_array_equal(clone.data, packed.data)
    with pytest.raises(ValueError, match="packed for m=8"):
        qvec.ProductQuantizer(32, 4).fit(base, iters=1).search(queries, packed, 1)


def test_ties_go_to_smaller_id():
    pq = _small_pq()
    codes = np.zeros((300, 3), dtype=np.uint8)  # identical codes: every distance ties
    dist, ids = pq.search(np.zeros((2, 12), np.float32), codes, 7)
    np.testing.assert_array_equal(ids, np.tile(np.arange(7), (2, 1)))


def test_deterministic_for_seed_and_thread_count(data):
    base, _ = data
    books = []
    for threads in (1, 2):
        qvec.set_num_threads(threads)
        books.append(qvec.ProductQuantizer(32, 4).fit(base, iters=5, seed=11).codebooks)
    qvec.set_num_threads(2)
    np.testing.assert_array_equal(books[0], books[1])
    other = qvec.ProductQuantizer(32, 4).fit(base, iters=5, seed=12).codebooks
    assert not np.array_equal(books[0], other)


def numpy_kmeans(x, k, iters, seed):
    rng = np.random.default_rng(seed)
    c = x[rng.choice(len(x), k, replace=False)].astype(np.float64)
    for _ in range(iters):
        d = (x ** 2).sum(1)[:, None] + (c ** 2).sum(1)[None] - 2 * x @ c.T
        a = d.argmin(1)
        for j in range(k):
            members = x[a == j]
            if len(members):
                c[j] = members.mean(0)
    return c.astype(np.float32)


def test_recall_not_worse_than_numpy_kmeans():
    x = clustered(6000, 32, 50, seed=21)
    base, queries = x[:5500], x[5500:]
    _, truth = qvec.exact_search(queries, base, 10)
    pq = qvec.ProductQuantizer(32, 8).fit(base, iters=15, seed=0)
    _, found = pq.search(queries, pq.encode(base), 10)
    ours = qvec.recall_at_k(found, truth, 10)

    ref = qvec.ProductQuantizer(32, 8)
    ref.codebooks = np.stack([numpy_kmeans(base[:, 4 * j:4 * j + 4].astype(np.float64), 256, 15, j)
                              for j in range(8)])
    _, found_ref = ref.search(queries, ref.encode(base), 10)
    floor = qvec.recall_at_k(found_ref, truth, 10)
    assert ours >= floor - 0.01, (ours, floor)
    assert ours > 0.3


def test_codebooks_roundtrip_and_pickle(trained, data):
    base, queries = data
    other = qvec.ProductQuantizer(32, 8, metric=trained.metric)
    other.codebooks = trained.codebooks
    np.testing.assert_array_equal(other.encode(base), trained.encode(base))
    clone = pickle.loads(pickle.dumps(trained))
    assert repr(clone) == repr(trained)
    codes = trained.encode(base)
    np.testing.assert_array_equal(clone.search(queries, codes, 5)[1],
                                  trained.search(queries, codes, 5)[1])


def test_max_train_and_verbose(data, capsys):
    base, _ = data
    pq = qvec.ProductQuantizer(32, 4).fit(base, iters=2, max_train=256, verbose=True)
    assert pq.is_trained
    assert "qvec PQ training" in capsys.readouterr().err


def test_errors(data):
    base, queries = data
    with pytest.raises(ValueError, match="m must divide dim"):
        qvec.ProductQuantizer(30, 8)
    with pytest.raises(ValueError, match="nbits"):
        qvec.ProductQuantizer(32, 8, nbits=9)
    with pytest.raises(ValueError, match="metric"):
        qvec.ProductQuantizer(32, 8, metric="cos")
    with pytest.raises(TypeError, match="dim must be an integer"):
        qvec.ProductQuantizer("32", 8)
    pq = qvec.ProductQuantizer(32, 8)
    with pytest.raises(qvec.NotTrainedError, match="not trained"):
        pq.encode(base)
    with pytest.raises(ValueError, match="not trained"):
        pq.search(queries, np.zeros((3, 8), np.uint8), 1)
    with pytest.raises(ValueError, match="at least 2\\*\\*nbits = 256"):
        pq.fit(base[:100])
    with pytest.raises(ValueError, match="max_train"):
        pq.fit(base, max_train=10)
    pq.fit(base, iters=2)
    codes = pq.encode(base)
    with pytest.raises(ValueError, match="dimension mismatch"):
        pq.search(queries[:, :16], codes, 1)
    with pytest.raises(TypeError, match="codes must be uint8"):
        pq.search(queries, codes.astype(np.int32), 1)
    with pytest.raises(ValueError, match="codes must be uint8 of shape \\(n, 8\\)"):
        pq.search(queries, codes[:, :4], 1)
    with pytest.raises(ValueError, match="k must be >= 1"):
        pq.search(queries, codes, 0)
    with pytest.raises(ValueError, match="empty"):
        pq.search(queries, codes[:0], 1)
    nan = queries.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="queries contains NaN"):
        pq.search(nan, codes, 1)
    with pytest.raises(ValueError, match="codebooks must have shape"):
        pq.codebooks = np.zeros((8, 16, 4), np.float32)


@pytest.mark.parametrize("ksub", [16, 256])
def test_table_quantizer_matches_its_definition(rng, ksub):
    # lut_quantizer.h: low_j = row minimum, scale = min(255 / max span, (65535 - m) / sum of
    # spans) rounded down to float, lut = (t - low_j) * scale + 0.5 truncated (float32 steps),
    # bias = sum_j low_j. Constant rows, ties and a row far from zero included.
    m = 9
    table = rng.standard_normal((m, ksub)).astype(np.float32) * 3
    table[0] = 1.5
    table[1, :5] = table[1, 5]
    table[2] += 1e4
    lut, bias, scale, slack = qvec._core.quantize_table(table)
    low = table.min(1)
    span = table.max(1).astype(np.float64) - low
    limit = min(255.0 / float(np.float32(span.max())), (65535.0 - m) / span.sum())
    assert scale <= limit and np.nextafter(np.float32(scale), np.float32(np.inf)) > limit
    v = (table - low[:, None]) * np.float32(scale) + np.float32(0.5)
    np.testing.assert_array_equal(lut, np.clip(v, 0, 255).astype(np.int32).astype(np.uint8))
    assert bias == np.float32(low.astype(np.float64).sum())
    assert slack > m * 0.5
    with pytest.raises(ValueError, match="shape"):
        qvec._core.quantize_table(table[:, :8])
