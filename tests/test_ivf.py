"""IVFIndex: with every list probed it equals the flat search of the same codes; recall rises
with nprobe; save / load / mmap round trips; remove; bad arguments; small random shapes."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import qvec
from qvec import _core, _format
from qvec.index.ivf import auto_nlist
from conftest import clustered, reference_distances, reference_topk

DIM, NLIST = 16, 8


@pytest.fixture(scope="module")
def data():
    x = clustered(1500, DIM, 12, seed=1)
    q = clustered(40, DIM, 12, seed=2)
    return x, q


def built(desc, x, metric="l2", **kwargs):
    index = qvec.index_factory(DIM, desc, metric)
    index.fit(x, seed=3)
    index.add(x)
    return index


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_flat_every_list_equals_flat_index(data, metric):
    x, q = data
    index = built(f"IVF{NLIST},Flat", x, metric)
    flat = qvec.FlatIndex(DIM, metric)
    flat.add(x)
    d, i = index.search(q, 10, nprobe=NLIST)
    rd, ri = flat.search(q, 10)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_allclose(d, rd, rtol=1e-4, atol=1e-3)


# (nbits, exact, the flat search's rescore). exact=False at 4 bits: no list adds a term, so
# each query's table is quantized once for all its lists (the shared scale then is the
# query's own) and the lists' sums are the flat fast-scan's, bit for bit.
@pytest.mark.parametrize("nbits,exact,rescore", [(8, True, 0), (4, True, "exact"), (4, False, 0)])
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_pq_without_residual_every_list_equals_pq_search(data, nbits, exact, rescore, metric):
    x, q = data
    index = qvec.IVFIndex(DIM, NLIST, f"pq{nbits}", metric, m=4, by_residual=False)
    index.fit(x, seed=4)
    index.add(x)
    pq = index.quantizer
    d, i = index.search(q, 10, nprobe=NLIST, exact=exact)
    rd, ri = pq.search(q, pq.encode(x), 10, rescore=rescore)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_array_equal(d, rd)


# (method, bits, search options of both): the bit-plane estimator; the float query scoring
# every code (exact) or, for extended codes, pruned by the sign bits, whose bound holds on
# these small sets, so the lists give the flat scan's result.
@pytest.mark.parametrize("method,bits,options", [
    ("residual", 2, {}), ("extended", 2, {"query_bits": 8}), ("extended", 3, {"exact": True}),
    ("extended", 3, {}), ("residual", 1, {"exact": True}), ("residual", 1, {"query_bits": 4})])
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_binary_without_residual_every_list_equals_quantizer_search(data, method, bits,
                                                                     options, metric):
    x, q = data
    index = qvec.IVFIndex(DIM, NLIST, "binary", metric, bits=bits, by_residual=False,
                          method=method)
    index.fit(x, seed=5)
    index.add(x)
    bq = index.quantizer
    assert bq.method == method == index.method
    d, i = index.search(q, 10, nprobe=NLIST, **options)
    rd, ri = bq.search(q, bq.encode(x), 10, **options)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_allclose(d, rd, rtol=1e-5, atol=1e-4)


# L2: the residual queries are built from queries and centroids rotated once per search (one
# subtraction per pair in the rotated space, about the centroids' mean): the pair's tables
# match those of the explicit residual q - c_l to float32 rounding, also far from the origin.
# IP: the residual codes score q itself, plus the coarse <q, c_l>.
@pytest.mark.parametrize("metric,offset", [("l2", 0.0), ("l2", 1e4), ("ip", 0.0)])
@pytest.mark.parametrize("bits,method,options", [
    (1, "residual", {"query_bits": 4}), (2, "residual", {"query_bits": 8}),
    (1, "residual", {"exact": True}), (2, "extended", {}), (3, "extended", {"exact": True})])
def test_residual_binary_list_equals_quantizer_search_of_its_residuals(metric, offset, bits,
                                                                        method, options):
    x = clustered(1500, DIM, 12, seed=1) + np.float32(offset)
    q = clustered(40, DIM, 12, seed=2) + np.float32(offset)
    index = qvec.IVFIndex(DIM, NLIST, "binary", metric, bits=bits, method=method)
    index.fit(x, seed=5)
    index.add(x)
    assert index.by_residual
    c, bq = index.centroids, index.quantizer
    assign = reference_distances(x, c, "l2").argmin(axis=1)
    probed = reference_distances(q, c, metric).argmin(axis=1)
    d, i = index.search(q, 10, nprobe=1, **options)
    for row, lst in enumerate(probed):
        members = np.flatnonzero(assign == lst)
        codes = bq.encode(x[members] - c[lst])
        if metric == "l2":
            rd, ri = bq.search(q[row] - c[lst], codes, 10, **options)
        else:
            rd, ri = bq.search(q[row], codes, 10, **options)
            rd = rd + np.float32(q[row].astype(np.float64) @ c[lst])
        np.testing.assert_array_equal(members[ri], i[row])
        np.testing.assert_allclose(d[row], rd, rtol=1e-5, atol=1e-5 * float(np.abs(rd).max()))


@pytest.mark.parametrize("desc", ["IVF32,Flat", "IVF32,PQ8x8,Refine", "IVF32,PQ8x4fs,Refine",
                                  "IVF32,BIN1,Refine"])
def test_recall_rises_with_nprobe(data, desc):
    x, q = data
    index = qvec.index_factory(DIM, desc)
    index.fit(x, seed=6)
    index.add(x)
    _, truth = reference_topk(reference_distances(q, x, "l2"), 10)
    rerank = None if desc.endswith("Flat") else 100
    recalls = [qvec.recall_at_k(index.search(q, 10, rerank=rerank, nprobe=p)[1], truth, 10)
               for p in (1, 4, 32)]
    assert recalls[0] < recalls[2] and recalls[0] <= recalls[1] <= recalls[2]
    assert recalls[2] >= (0.99 if rerank or desc.endswith("Flat") else 0.5)


def test_residual_pq_beats_plain_pq(data):
    x, q = data
    _, truth = reference_topk(reference_distances(q, x, "l2"), 10)
    recall = {}
    for residual in (False, True):
        index = qvec.IVFIndex(DIM, NLIST, "pq8", m=4, by_residual=residual)
        index.fit(x, seed=7)
        index.add(x)
        recall[residual] = qvec.recall_at_k(index.search(q, 10, nprobe=NLIST)[1], truth, 10)
    assert recall[True] > recall[False]


def test_single_query_and_threads_give_the_batch_results(data):
    x, q = data
    index = built("IVF16,PQ8x4fs", x)
    d, i = index.search(q, 7, nprobe=5)
    for row in (0, 17):
        d1, i1 = index.search(q[row], 7, nprobe=5)
        np.testing.assert_array_equal(i1, i[row])
        np.testing.assert_array_equal(d1, d[row])
    before = qvec.get_num_threads()
    try:
        qvec.set_num_threads(1)
        d2, i2 = index.search(q, 7, nprobe=5)
    finally:
        qvec.set_num_threads(before)
    np.testing.assert_array_equal(i2, i)
    np.testing.assert_array_equal(d2, d)


@pytest.mark.parametrize("desc", ["IVF8,Flat", "IVF8,PQ8x8", "IVF8,PQ8x4fs,Refine", "IVF8,BIN1",
                                  "IVF8,RaBitQ3"])
@pytest.mark.parametrize("mmap", [False, True])
def test_save_load_round_trip(tmp_path, data, desc, mmap):
    x, q = data
    index = built(desc, x)
    index.remove(np.arange(0, 1500, 7))
    path = tmp_path / "ivf.qvec"
    index.save(path)
    loaded = qvec.load(path, mmap=mmap)
    assert isinstance(loaded, qvec.IVFIndex) and len(loaded) == len(index)
    np.testing.assert_array_equal(loaded.centroids, index.centroids)
    for kwargs in ({"nprobe": 3}, {"nprobe": 3, "rerank": 30} if "Refine" in desc else {}):
        d, i = index.search(q, 10, **kwargs)
        ld, li = loaded.search(q, 10, **kwargs)
        np.testing.assert_array_equal(li, i)
        np.testing.assert_array_equal(ld, d)
    assert ("mmap" in repr(loaded)) == mmap
    assert loaded.method == index.method == ("extended" if "RaBitQ" in desc else "residual")
    assert loaded.quantizer is None or loaded.codec != "binary" or (
        loaded.quantizer.method == index.method)
    loaded.add(x[:5])                      # a mapped index copies on change
    assert len(loaded) == len(index) + 5


@pytest.mark.parametrize("desc", ["IVF8,PQ8x8", "IVF8,PQ8x4fs,Refine", "IVF8,BIN2", "IVF8,SQ8"])
def test_codes_are_held_once_in_the_lists(data, desc):
    """No row-major copy of the codes: the lists are the only one, and adding in pieces, with
    searches and removes between, gives the lists (and results) of one add of the same rows."""
    x, q = data
    index = qvec.index_factory(DIM, desc)
    index.fit(x, seed=3)
    assert "codes" not in index._state.rows.templates
    index.add(x[:400])
    index.search(q, 5, nprobe=2)                    # lists of the first 400 rows
    index.add(x[400:1000])
    index.add(x[1000:])                              # two pending parts, merged on search
    gone = np.arange(0, 1500, 11)
    index.remove(gone)
    keep = np.setdiff1d(np.arange(1500), gone)
    whole = qvec.index_factory(DIM, desc)
    whole.fit(x, seed=3)
    whole.add(x[keep], keep)
    a, b = index.lists(), whole.lists()
    for name in ("offsets", "code_offsets", "codes", "ids"):
        np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)))
    np.testing.assert_array_equal(index._row_codes(index._state), whole._row_codes(whole._state))
    d, i = index.search(q, 10, nprobe=4)
    wd, wi = whole.search(q, 10, nprobe=4)
    np.testing.assert_array_equal(i, wi)
    np.testing.assert_array_equal(d, wd)
    lists = index._state.memo["codes"][0]
    assert index._state.memo["codes"] == (lists, ())   # merged once, kept with the state


def test_unpacked_lists_are_the_encoded_codes(data):
    x, _ = data
    index = built("IVF8,PQ8x4fs", x)
    assign = np.asarray(index._state.rows.get("assign"))
    want = index.quantizer.encode(x - index.centroids[assign])
    np.testing.assert_array_equal(index._row_codes(index._state), want)


def test_bytes_per_vector_counts_the_codes_once(data):
    x, _ = data
    index = built("IVF8,PQ8x4fs,Refine", x)
    # assign uint16, kept vector, list code, list row number
    assert index.bytes_per_vector == 2 + 4 * DIM + 4 + 8
    assert index._state.rows.get("assign").dtype == np.uint16


def test_list_numbers_past_uint16_are_int32(data):
    x, _ = data
    big = qvec.IVFIndex(DIM, 70000, "pq8", m=4)
    assert big._state.rows.get("assign").dtype == np.int32
    auto = qvec.IVFIndex(DIM, None, "pq8", m=4)
    with pytest.raises(ValueError, match="nlist"):
        auto.centroids = np.zeros((70000, DIM), dtype=np.float32)


def test_files_with_int32_list_numbers_load(tmp_path, data):
    """Files before uint16 list numbers stored them as int32: read as uint16, and checked."""
    x, q = data
    index = built("IVF8,PQ8x8", x)
    path, old = tmp_path / "ivf.qvec", tmp_path / "old.qvec"
    index.save(path)
    c = _format.read_container(path)
    assert c.arrays["assign"].dtype == np.uint16
    arrays = dict(c.arrays, assign=np.asarray(c.arrays["assign"]).astype(np.int32))
    _format.save_atomic(old, c.kind, c.params, list(arrays.items()))
    for mmap in (False, True):
        loaded = qvec.load(old, mmap=mmap)
        np.testing.assert_array_equal(loaded.search(q, 10, nprobe=3)[1],
                                      index.search(q, 10, nprobe=3)[1])
        loaded.add(x[:5])             # a rebuild of the lists reads the list numbers
        assert len(loaded) == 1505
    arrays["assign"][7] = NLIST
    _format.save_atomic(old, c.kind, c.params, list(arrays.items()))
    with pytest.raises(qvec.FormatError, match="assign"):
        qvec.load(old)


@pytest.mark.parametrize("desc", ["IVF8,PQ8x8", "IVF8,PQ8x4fs,Refine", "IVF8,BIN1", "IVF8,Flat"])
def test_layout_2_files_with_row_codes_still_load(tmp_path, data, desc):
    """qvec before layout 3 also stored the codes row-major (``codes``); such files still read
    (that copy is ignored), and files written now are layout 3 without it."""
    x, q = data
    index = built(desc, x)
    path = tmp_path / "ivf.qvec"
    index.save(path)
    c = _format.read_container(path)
    assert c.params["layout"] == 4 and "codes" not in c.arrays
    arrays = list(c.arrays.items())
    if desc != "IVF8,Flat":
        arrays.append(("codes", np.ascontiguousarray(index._row_codes(index._state))))
    old = tmp_path / "old.qvec"
    _format.save_atomic(old, c.kind, dict(c.params, layout=2), arrays)
    for mmap in (False, True):
        loaded = qvec.load(old, mmap=mmap)
        d, i = index.search(q, 10, nprobe=3)
        ld, li = loaded.search(q, 10, nprobe=3)
        np.testing.assert_array_equal(li, i)
        np.testing.assert_array_equal(ld, d)
        loaded.add(x[:5])
        assert len(loaded) == len(index) + 5


def test_extended_list_rows_keep_one_level_scale_and_the_sign_dot(data):
    """Rows of extended codes past one bit: the code, zeros to 4 bytes, ||x_r||^2,
    <x - mean, mean>, rho, alpha_0 (alpha_l = alpha_0 2^-l is not stored) and the sign dot."""
    x, _ = data
    index = built("IVF8,RaBitQ3", x)
    bq = index.quantizer
    assign = np.asarray(index._state.rows.get("assign"))
    want = bq.encode(x - index.centroids[assign])
    levels = np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(want.factors[:, 3:], want.factors[:, 3:4] * 2.0 ** -levels)
    rows = index._row_codes(index._state)
    offset = (bq.code_size + 3) // 4 * 4
    assert rows.shape == (1500, offset + 4 * 4 + 4)
    assert index.bytes_per_vector == 2 + rows.shape[1] + 8   # uint16 list number, int64 row
    np.testing.assert_array_equal(rows[:, :bq.code_size], want.codes)
    assert not rows[:, bq.code_size:offset].any()
    np.testing.assert_array_equal(rows[:, offset:offset + 16].view(np.float32),
                                  want.factors[:, :4])
    np.testing.assert_array_equal(rows[:, offset + 16:].view(np.float32)[:, 0], want.sign_dots)


def _layout_3_rows(rows, bits):
    """Rows as layout 3 kept them: every level's scale between alpha_0 and the sign dot."""
    end = rows.shape[1] - 4
    alpha0 = rows[:, end - 4:end].view(np.float32)
    scales = (alpha0 * 2.0 ** -np.arange(1, bits, dtype=np.float32)).astype(np.float32)
    return np.concatenate([rows[:, :end], scales.view(np.uint8), rows[:, end:]], axis=1)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_layout_3_extended_files_load_compacted(tmp_path, data, metric):
    x, q = data
    index = built("IVF8,RaBitQ3", x, metric)
    path = tmp_path / "ivf.qvec"
    index.save(path)
    c = _format.read_container(path)
    assert c.params["layout"] == 4
    n, row_bytes = 1500, index._code_bytes
    old_rows = _layout_3_rows(np.asarray(c.arrays["lists.codes"]).reshape(n, row_bytes), 3)
    arrays = dict(c.arrays, assign=np.asarray(c.arrays["assign"]).astype(np.int32))
    arrays["lists.codes"] = np.ascontiguousarray(old_rows).reshape(-1)
    arrays["lists.bytes"] = np.asarray(c.arrays["lists.offsets"]) * np.uint64(old_rows.shape[1])
    old = tmp_path / "old.qvec"
    _format.save_atomic(old, c.kind, dict(c.params, layout=3), list(arrays.items()))
    for mmap in (False, True):
        loaded = qvec.load(old, mmap=mmap)
        for options in ({}, {"query_bits": 4}):     # the float query, the bit planes
            d, i = index.search(q, 10, nprobe=3, **options)
            ld, li = loaded.search(q, 10, nprobe=3, **options)
            np.testing.assert_array_equal(li, i)
            np.testing.assert_array_equal(ld, d)
        loaded.save(tmp_path / "again.qvec")
        assert _format.read_container(tmp_path / "again.qvec").params["layout"] == 4
    # the same file with layout 4 claimed has rows of the wrong size
    _format.save_atomic(old, c.kind, dict(c.params, layout=4), list(arrays.items()))
    with pytest.raises(qvec.FormatError, match="lists"):
        qvec.load(old)
    arrays["lists.codes"] = arrays["lists.codes"][:-1]
    _format.save_atomic(old, c.kind, dict(c.params, layout=3), list(arrays.items()))
    with pytest.raises(qvec.FormatError, match="layout-3"):
        qvec.load(old)


def test_ivf_files_are_layout_4(tmp_path, data):
    """uint16 list numbers (and compact extended rows) are layout 4 for every codec, so a
    qvec reading layouts up to 3 refuses them ("upgrade qvec") instead of failing on a dtype."""
    for desc in ("IVF8,PQ8x8", "IVF8,BIN2", "IVF8,RaBitQ1", "IVF8,Flat"):
        built(desc, data[0]).save(tmp_path / "f.qvec")
        c = _format.read_container(tmp_path / "f.qvec")
        assert c.params["layout"] == 4 and c.arrays["assign"].dtype == np.uint16, desc


@pytest.mark.parametrize("desc,method", [("IVF8,RaBitQ2", "itq"), ("IVF8,PQ8x8", "extended")])
def test_a_file_with_a_bad_method_raises_format_error(tmp_path, data, desc, method):
    x, _ = data
    path, bad = tmp_path / "ivf.qvec", tmp_path / "bad.qvec"
    built(desc, x).save(path)
    c = _format.read_container(path)
    _format.save_atomic(bad, c.kind, dict(c.params, method=method), list(c.arrays.items()))
    with pytest.raises(qvec.FormatError, match="method"):
        qvec.load(bad)


def test_corrupt_file_raises_format_error(tmp_path, data):
    x, _ = data
    index = built("IVF8,PQ8x8", x)
    path = tmp_path / "ivf.qvec"
    index.save(path)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad = tmp_path / "bad.qvec"
    bad.write_bytes(bytes(raw))
    with pytest.raises(qvec.FormatError):
        qvec.load(bad)


def test_remove_and_user_ids(data):
    x, q = data
    index = qvec.index_factory(DIM, "IVF8,PQ8x4fs,Refine")
    index.fit(x, seed=8)
    ids = np.arange(1500, dtype=np.int64) * 10 + 5
    index.add(x, ids)
    gone = ids[::3]
    assert index.remove(gone) == gone.size
    assert len(index) == 1500 - gone.size
    _, found = index.search(q, 20, nprobe=8, rerank=50)
    assert not np.isin(found, gone).any()
    assert np.isin(found[found >= 0], ids).all()


def test_centroids_and_codebooks_are_settable(data):
    x, q = data
    trained = built("IVF8,PQ8x8", x)
    index = qvec.IVFIndex(DIM, NLIST, "pq8", m=8)
    index.centroids = trained.centroids
    index.codebooks = trained.codebooks
    assert index.is_trained
    index.add(x)
    d, i = index.search(q, 5, nprobe=4)
    rd, ri = trained.search(q, 5, nprobe=4)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_array_equal(d, rd)
    with pytest.raises(ValueError, match="holds"):
        index.centroids = trained.centroids            # stored codes belong to these
    with pytest.raises(ValueError, match="rows"):
        qvec.IVFIndex(DIM, 4).centroids = trained.centroids


@pytest.mark.parametrize("metric", ["ip", "cosine", "l2"])
def test_inner_product_lists_come_from_spherical_kmeans(data, metric):
    """FAISS trains IP coarse quantizers with unit centroids (the nearest unit centroid is the one
    of largest inner product, the order queries probe in); L2 keeps plain means."""
    x, _ = data
    x = x + 2.0                              # off the origin: plain means are not unit vectors
    index = qvec.IVFIndex(DIM, NLIST, "flat", metric=metric).fit(x)
    norms = np.linalg.norm(index.centroids.astype(np.float64), axis=1)
    if metric == "l2":
        assert np.abs(norms - 1).max() > 0.1
    else:
        np.testing.assert_allclose(norms, 1.0, atol=1e-6)
        data = x / np.linalg.norm(x, axis=1, keepdims=True) if metric == "cosine" else x
        ip = data.astype(np.float64) @ index.centroids.astype(np.float64).T
        top2 = np.sort(ip, axis=1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > 1e-4    # rows whose best list rounding cannot change
        np.testing.assert_array_equal(_core.ivf_assign(data, index.centroids)[clear],
                                      ip.argmax(axis=1)[clear])


def test_bad_arguments(data):
    x, q = data
    with pytest.raises(ValueError, match="codec"):
        qvec.IVFIndex(DIM, 8, codec="lsh")
    with pytest.raises(ValueError, match="needs m"):
        qvec.IVFIndex(DIM, 8, codec="pq8")
    with pytest.raises(ValueError, match="nlist"):
        qvec.IVFIndex(DIM, 0)
    with pytest.raises(ValueError, match="at least nlist"):
        qvec.IVFIndex(DIM, 64).fit(x[:10])
    with pytest.raises(ValueError, match="method must be one of"):
        qvec.IVFIndex(DIM, 8, codec="binary", method="itq")
    with pytest.raises(ValueError, match="binary codec only"):
        qvec.IVFIndex(DIM, 8, codec="pq4", m=4, method="extended")
    with pytest.raises(ValueError, match="exact=True"):
        built("IVF8,BIN2", x).search(q, 5, exact=True)
    index = built("IVF8,Flat", x)
    with pytest.raises(ValueError, match="nprobe"):
        index.search(q, 5, nprobe=0)
    with pytest.raises(ValueError, match="k"):
        index.search(q, 0)
    with pytest.raises(ValueError):
        index.search(q[:, :3], 5)
    with pytest.raises(qvec.NotTrainedError):
        qvec.IVFIndex(DIM, 8).search(q, 5)
    for bad in ("IVF8", "IVF8,PQ8x5", "IVF8,Flat,Refine", "IVF8,HNSW", "IVFx,Flat"):
        with pytest.raises(ValueError):
            qvec.index_factory(DIM, bad)


def test_auto_nlist_rule(data):
    assert auto_nlist(1_000_000) == 4096
    assert auto_nlist(200_000) == 2048
    assert auto_nlist(100) == 2
    assert auto_nlist(1) == 1
    x, q = data
    index = qvec.index_factory(DIM, "IVF,Flat")
    assert index.nlist is None
    index.fit(x)
    assert index.nlist == auto_nlist(len(x)) == 32


@settings(max_examples=15)
@given(n=st.integers(1, 60), nlist=st.integers(1, 12), k=st.integers(1, 9),
       nq=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_small_shapes_every_list_equals_exact(n, nlist, k, nq, seed):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, 4)).astype(np.float32)
    q = r.standard_normal((nq, 4)).astype(np.float32)
    index = qvec.IVFIndex(4, nlist, "flat")
    index.centroids = r.standard_normal((nlist, 4)).astype(np.float32)  # lists may be empty
    index.add(x)
    d, i = index.search(q, k, nprobe=nlist)
    rd, ri = reference_topk(reference_distances(q, x, "l2"), k)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_allclose(d, rd, rtol=1e-4, atol=1e-4)


def test_rerank_from_a_user_memmap(tmp_path, data):
    x, q = data
    index = qvec.index_factory(DIM, "IVF8,PQ8x4fs")          # no kept vectors
    index.fit(x, seed=9)
    ids = np.arange(1500, dtype=np.int64) * 2                 # the memmap is indexed by id
    index.add(x, ids)
    mm = np.lib.format.open_memmap(tmp_path / "v.npy", mode="w+", dtype=np.float32,
                                   shape=(3000, DIM))
    mm[ids] = x
    mm.flush()
    d, i = index.search(q, 10, rerank=60, nprobe=8, vectors=np.load(tmp_path / "v.npy",
                                                                    mmap_mode="r"))
    kept = qvec.index_factory(DIM, "IVF8,PQ8x4fs,Refine")
    kept.fit(x, seed=9)
    kept.add(x, ids)
    rd, ri = kept.search(q, 10, rerank=60, nprobe=8)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_allclose(d, rd, rtol=1e-5)
    with pytest.raises(ValueError, match="rerank"):
        index.search(q, 10, vectors=mm)


def test_quantized_pq4_ranks_close_to_exact(data):
    x, q = data
    index = qvec.IVFIndex(DIM, NLIST, "pq4", m=8)
    index.fit(x, seed=10)
    index.add(x)
    d, i = index.search(q, 10, nprobe=4)
    ed, ei = index.search(q, 10, nprobe=4, exact=True)
    assert (np.diff(d, axis=1) >= 0).all()
    assert qvec.recall_at_k(i, ei, 10) >= 0.8
    # the quantized distances approximate the float ADC ones
    np.testing.assert_allclose(d[:, 0], ed[:, 0], rtol=0.1, atol=0.05 * float(np.abs(ed).max()))
    _, truth = reference_topk(reference_distances(q, x, "l2"), 10)
    index_k = qvec.IVFIndex(DIM, NLIST, "pq4", m=8, keep_vectors=True)
    index_k.fit(x, seed=10)
    index_k.add(x)
    assert qvec.recall_at_k(index_k.search(q, 10, nprobe=NLIST, rerank=100)[1], truth, 10) > 0.97


@pytest.mark.parametrize("desc", ["IVF8,Flat", "IVF8,PQ8x8", "IVF8,PQ8x4fs", "IVF8,BIN1",
                                  "IVF8,RaBitQ2"])
def test_row_filter_never_leaks_and_fills_k(data, desc):
    from qvec import _core
    x, q = data
    index = built(desc, x)
    allowed = np.zeros(1500, dtype=bool)
    allowed[::50] = True                              # 30 allowed rows (= ids here)
    words = np.packbits(allowed, bitorder="little")
    words = np.pad(words, (0, (-words.size) % 8)).view(np.uint64)
    native = _core.bitset_filter(np.ascontiguousarray(words), 1500)
    _, i = index._search_rows(index._state, q, 20, filter=native)  # every list: nprobe = 8
    assert np.isin(i, np.flatnonzero(allowed)).all()  # k = 20 <= 30 allowed: no padding
    if desc.endswith("Flat"):
        _, ri = reference_topk(np.where(allowed[None, :], reference_distances(q, x, "l2"),
                                        np.inf), 20)
        np.testing.assert_array_equal(i, ri)


@pytest.mark.parametrize("with_term", [False, True])
def test_pair_table_quantization_equals_reference(with_term):
    """The 4-bit pair table (query table + list term, rows of 16) quantized with one scale:
    per row, (t - min) * scale + 0.5 truncated and clamped to [0, 255]; the bias is the sum of
    the row minima."""
    from qvec import _core

    rng = np.random.default_rng(5)
    query = rng.standard_normal((7, 16)).astype(np.float32)
    term = rng.standard_normal((7, 16)).astype(np.float32) if with_term else None
    for scale in (0.5, 40.0, 300.0):       # 300: some entries clamp at 255
        lut, bias = _core.ivf_quantize_pair_table(query, term, scale)
        t = query + term if with_term else query
        low = t.min(axis=1, keepdims=True)
        v = ((t - low) * np.float32(scale)).astype(np.float32) + np.float32(0.5)
        want = np.clip(v, 0, 255).astype(np.int32).astype(np.uint8)
        np.testing.assert_array_equal(lut, want)
        assert bias == pytest.approx(float(low.astype(np.float64).sum()), rel=1e-6)
        assert lut.min() == 0 and (scale < 300 or lut.max() == 255)


def _direct_l2_topk(q, c, k):
    """Direct float64 squared distances (exact for these small integer-valued sets), top k
    with ties to the smaller list."""
    d = ((q.astype(np.float64)[:, None, :] - c.astype(np.float64)[None]) ** 2).sum(2)
    return reference_topk(d, k)


@pytest.mark.parametrize("offset", [0.0, 1e3])
@pytest.mark.parametrize("nq", [1, 3, 4, 5, 40])
def test_probe_equals_exact_nearest_centroid_search(offset, nq):
    # Integer coordinates (exact in float32 at both offsets, so every squared distance is
    # exact too) with duplicated centroids: ties must go to the smaller list, far from the
    # origin as near it. nq <= 4 takes the direct probe, more the exact_search path.
    r = np.random.default_rng(31)
    c = r.integers(-3, 4, size=(64, 8)).astype(np.float32)
    c[40:48] = c[8:16]                       # exact duplicates: ties at every distance
    q = r.integers(-3, 4, size=(nq, 8)).astype(np.float32)
    c += np.float32(offset)
    q += np.float32(offset)
    for nprobe in (1, 8, 64, 70):
        dist, lists = qvec._core.ivf_probe(q, c, "l2", nprobe)
        want_d, want_l = _direct_l2_topk(q, c, nprobe)
        np.testing.assert_array_equal(lists, want_l)
        np.testing.assert_array_equal(dist, want_d.astype(np.float32))
        ed, el = qvec._core.exact_search(q, c, nprobe, "l2")
        np.testing.assert_array_equal(lists, el)
        np.testing.assert_array_equal(dist, ed)


@pytest.mark.parametrize("offset", [0.0, 1e3])
@pytest.mark.parametrize("nq", [1, 2, 3, 4, 5, 40])
def test_ip_probe_equals_exact_inner_product_search(offset, nq):
    # Integer coordinates: every product is exact in float32, so the direct probe (nq <= 4),
    # exact_search and a float64 reference agree bit for bit, ties (duplicate centroids) to
    # the smaller list.
    r = np.random.default_rng(37)
    c = (r.integers(-3, 4, size=(300, 8)) + offset).astype(np.float32)
    c[200:240] = c[8:48]
    q = r.integers(-3, 4, size=(nq, 8)).astype(np.float32)
    for nprobe in (1, 8, 64, 300, 310):
        dist, lists = qvec._core.ivf_probe(q, c, "ip", nprobe)
        want = reference_topk(-(q.astype(np.float64) @ c.astype(np.float64).T), nprobe)
        np.testing.assert_array_equal(lists, want[1])
        np.testing.assert_array_equal(dist, -want[0].astype(np.float32))
        ed, el = qvec._core.exact_search(q, c, nprobe, "ip")
        np.testing.assert_array_equal(lists, el)
        np.testing.assert_array_equal(dist, ed)


@pytest.mark.parametrize("nq", [1, 2, 3, 4])
def test_ip_direct_probe_has_the_bits_of_exact_search(nq):
    """Random floats: the few-query probe and exact_search's few-query scan compute each
    product with the same kernel, whose 4- and 2-row groups keep one row's bits."""
    r = np.random.default_rng(nq)
    c = r.standard_normal((1000, 45)).astype(np.float32)
    q = r.standard_normal((nq, 45)).astype(np.float32)
    for nprobe in (1, 16, 200):
        got = qvec._core.ivf_probe(q, c, "ip", nprobe)
        want = qvec._core.exact_search(q, c, nprobe, "ip")
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[0], want[0])
    grouped, single = qvec._core.ivf_probe_dot_kernels(q, c)
    np.testing.assert_array_equal(grouped, single)
    np.testing.assert_allclose(grouped, q.astype(np.float64) @ c.astype(np.float64).T,
                               rtol=1e-5, atol=1e-4)
    bad = q.copy()
    bad[-1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        qvec._core.ivf_probe(bad, c, "ip", 4)


@pytest.mark.parametrize("d", [5, 16, 45, 128])
def test_probe_kernels_against_references(d):
    r = np.random.default_rng(d)
    x = (r.standard_normal((37, d)) * 40).astype(np.float32)
    q = r.standard_normal(d).astype(np.float32)
    direct, rows = qvec._core.ivf_probe_kernels(q, x)
    np.testing.assert_array_equal(rows, direct)          # the same bits
    want = ((q.astype(np.float64)[None] - x.astype(np.float64)) ** 2).sum(1)
    np.testing.assert_allclose(direct, want, rtol=1e-5)


@pytest.mark.parametrize("n,d", [(1, 1), (5, 3), (16, 4), (17, 45), (70, 128), (33, 384)])
def test_byte_probe_kernel_is_exact(n, d):
    """The byte shadow's integer products: every row of the 16-row blocks, dimensions past a
    4-byte group, the extreme codes (127 * -127 and 127 * 127 sums, as wide as they get)."""
    r = np.random.default_rng(n * d)
    x = r.integers(-127, 128, size=(n, d)).astype(np.int8)
    q = r.integers(0, 128, size=d).astype(np.uint8)
    x[0] = -127
    q[: d // 2] = 127
    got = qvec._core.ivf_probe_byte_kernel(q, x)
    np.testing.assert_array_equal(got, x.astype(np.int64) @ q.astype(np.int64))
    with pytest.raises(ValueError, match="0..127"):
        qvec._core.ivf_probe_byte_kernel(np.full(d, 128, dtype=np.uint8), x)


def _centroid_sets():
    """(name, centroids) for the one-query probe: spread, far from the origin, exact duplicates
    (ties the byte shadow cannot order: both must stay candidates), and a tight cluster beside
    one far centroid, which moves the centroids' mean and so coarsens the query's codes until
    they cannot separate the cluster's members (the shadow must decline)."""
    r = np.random.default_rng(41)
    spread = r.standard_normal((300, 24)).astype(np.float32)
    dup = spread.copy()
    dup[150:200] = dup[:50]
    tight = (1e-3 * r.standard_normal((300, 24))).astype(np.float32)
    tight[0] = 5e3
    constant = spread.copy()
    constant[:, 5] = 0.25                  # a dimension every centroid shares: centred zeros
    return [("spread", spread), ("far", spread + np.float32(1e4)), ("dup", dup),
            ("tight", tight), ("constant", constant)]


@pytest.mark.parametrize("codec,options", [("pq4", {"m": 8}), ("flat", {}),
                                           ("binary", {"bits": 1}), ("sq8", {})])
@pytest.mark.parametrize("name,centroids", _centroid_sets())
@pytest.mark.parametrize("nprobe", [1, 8, 40, 300])
def test_one_query_probe_equals_the_batch_probe(name, centroids, nprobe, codec, options):
    """Up to 4 queries are probed through the half-precision shadow (exact when its bound
    proves the shortlist, else the exact direct probe); more queries go through exact_search.
    Every query must get the same lists, so the same results, either way."""
    r = np.random.default_rng(nprobe)
    noise = 0.05 if name != "tight" else 1e-4
    x = centroids[r.integers(0, 300, 3000)] + noise * r.standard_normal((3000, 24)).astype(
        np.float32)
    q = np.ascontiguousarray(x[::300][:10] + 0.01)
    index = qvec.IVFIndex(24, 300, codec, **options)
    index.fit(x, seed=1)
    index.centroids = centroids            # these sets' centroids, not k-means'
    index.add(x)
    batch_d, batch_i = index.search(q, 10, nprobe=nprobe)
    for i in range(q.shape[0]):
        d, ids = index.search(q[i], 10, nprobe=nprobe)
        np.testing.assert_array_equal(ids, batch_i[i], err_msg=f"query {i}")
        if codec == "binary":   # its L2 residual queries are rotated about the batch's mean
            np.testing.assert_allclose(d, batch_d[i], rtol=1e-4, atol=1e-3)
        else:
            np.testing.assert_array_equal(d, batch_d[i])
    pair_d, pair_i = index.search(q[:2], 10, nprobe=nprobe)
    np.testing.assert_array_equal(pair_i, batch_i[:2])


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("name", ["spread", "constant", "tiny", "huge", "dup", "lattice",
                                  "near", "spiky", "grid"])
def test_coarse_probe_equals_the_direct_probe(name, metric):
    """IvfCoarseProbe of one query (the byte shadow where its intervals decide) against the
    exact direct probe: the same lists and values, or the same error. "tiny": distances in
    float's subnormal range, where rounding is absolute; "huge": values past float's range,
    which the direct probe reports; "near": centroids a few float steps apart, far below the
    shadow's resolution, so the float values alone order them; "spiky": row codes coarser
    than the query's; "grid": queries the shadow codes without error, next to centroid pairs
    only the rows' error term keeps apart."""
    r = np.random.default_rng(7)
    c = r.standard_normal((64, 16)).astype(np.float32)
    q = (c[r.integers(0, 64, 40)] + 0.3 * r.standard_normal((40, 16))).astype(np.float32)
    if name == "constant":
        c[:, 2] = q[:, 2] = 0.5
    elif name == "tiny":
        c, q = c * np.float32(1e-23), q * np.float32(1e-23) * np.float32(0.01)
    elif name == "huge":
        c, q = c * np.float32(1e17), q * np.float32(1e17)
        c[9] = 1e19
    elif name == "dup":
        c[32:] = c[:32]
    elif name == "lattice":
        c = r.integers(-2, 3, size=(64, 16)).astype(np.float32)
        q = r.integers(-2, 3, size=(40, 16)).astype(np.float32)
    elif name == "near":
        c[32:] = c[:32] * np.float32(1 + 3e-7) + np.float32(1e-7)
    elif name == "spiky":      # one large component per centroid: coarse row codes, whose
        c[np.arange(64), np.arange(64) % 16] += np.float32(40.0)   # error the bound must hold
        q = r.standard_normal((40, 16)).astype(np.float32)
    elif name == "grid":       # queries on the shadow's own 7-bit grid (IP: almost no query
        q = (r.integers(-63, 64, size=(40, 16)) / 63).astype(np.float32)   # error) and pairs
        q[:, 0] = 1.0          # of centroids closer than the row codes' step: only the rows'
        c[32:] = c[:32] + np.float32(3e-3) * r.standard_normal((32, 16)).astype(np.float32)
    probe = qvec._core.IvfCoarseProbe(c, metric)
    answered = 0
    for i in range(40):
        for nprobe in (1, 4, 20):
            try:
                want = qvec._core.ivf_probe(q[i:i + 1], c, metric, nprobe)
            except ValueError:
                with pytest.raises(ValueError, match="too large"):
                    probe.probe(q[i:i + 1], nprobe)
                continue
            got = probe.probe(q[i:i + 1], nprobe)
            np.testing.assert_array_equal(got[1], want[1], err_msg=f"query {i}, nprobe {nprobe}")
            np.testing.assert_array_equal(got[0], want[0])
            answered += probe.shadowed(q[i:i + 1], nprobe)
    if name in ("spread", "constant", "near"):
        # the shadow itself answered every query with nprobe 1 and 4 (nprobe 20 of 64 lists
        # is left to the exact probe)
        assert answered == 80


def test_probe_rejects_non_finite_queries():
    c = np.zeros((16, 8), dtype=np.float32)
    q = np.zeros((1, 8), dtype=np.float32)
    q[0, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        qvec._core.ivf_probe(q, c, "l2", 4)


@pytest.mark.parametrize("desc", ["IVF8,PQ4x4fs", "IVF8,PQ4x8"])
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_fused_probe_search_equals_probe_then_search(data, desc, metric):
    x, q = data
    index = built(desc, x, metric)
    model = index._state.model
    lists = index.lists()
    for queries in (q[:1], q[:3], q):
        coarse, probe = qvec._core.ivf_probe(queries, model.coarse, metric, 3)
        want = model.pq_search().search(model.codec._pq, lists, queries, probe, coarse, 5,
                                        False, None)
        got = model.pq_search().search_nearest(model.codec._pq, lists, queries, 3, 5, False,
                                               None)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("by_residual", [True, False])
def test_native_pq_encode_equals_assign_then_encode(data, by_residual):
    x, _ = data
    index = qvec.IVFIndex(DIM, NLIST, codec="pq4", m=4, by_residual=by_residual).fit(x, seed=3)
    model = index._state.model
    assign, codes = qvec._core.ivf_encode_pq(model.codec._pq, model.coarse, x, by_residual)
    want_assign = qvec._core.ivf_assign(x, model.coarse)
    np.testing.assert_array_equal(assign, want_assign)
    cx = x - model.coarse[want_assign] if by_residual else x
    np.testing.assert_array_equal(codes, model.codec.encode(cx))


def test_coarse_training_is_seeded_and_thread_independent(data):
    x, _ = data
    before = qvec.get_num_threads()
    try:
        got = []
        for threads in (1, 2):
            qvec.set_num_threads(threads)
            got.append(qvec.IVFIndex(DIM, NLIST, codec="flat").fit(x, seed=5).centroids)
    finally:
        qvec.set_num_threads(before)
    np.testing.assert_array_equal(got[0], got[1])
    other = qvec.IVFIndex(DIM, NLIST, codec="flat").fit(x, seed=6).centroids
    assert not np.array_equal(got[0], other)


def test_pq8_residual_pairs_do_not_depend_on_batch_or_threads(data):
    # L2 by residual at 8 bits: each thread takes a few queries (their pair tables kept in
    # cache; 128 queries at m = 4) with their lists. 300 queries span three such chunks; the
    # answers must be each query's own, at any thread count, with or without a filter.
    x, _ = data
    q = clustered(300, DIM, 12, seed=9)
    index = built(f"IVF{NLIST},PQ4x8", x)
    allowed = np.arange(0, len(x), 3)
    alone = [index.search(q[i : i + 1], 7, nprobe=3) for i in (0, 127, 128, 299)]
    alone_f = [index.search(q[i : i + 1], 7, nprobe=3, filter=allowed) for i in (0, 128, 299)]
    for threads in (1, 2, 3):
        qvec.set_num_threads(threads)
        d, i = index.search(q, 7, nprobe=3)
        for (ad, ai), row in zip(alone, (0, 127, 128, 299)):
            np.testing.assert_array_equal(i[row], ai[0])
            np.testing.assert_array_equal(d[row], ad[0])
        fd, fi = index.search(q, 7, nprobe=3, filter=allowed)
        assert np.all(np.isin(fi[fi >= 0], allowed))
        for (ad, ai), row in zip(alone_f, (0, 128, 299)):
            np.testing.assert_array_equal(fi[row], ai[0])
    qvec.set_num_threads(2)


def test_pq8_pair_rows_match_their_definition(rng):
    # The 8-bit L2-residual pair table with its list term computed per pair: query table +
    # 2 <c_j, p_jc>, products rounded then summed in order (float32, no FMA), at every level.
    m, dsub = 5, 3
    books = rng.standard_normal((m, 256, dsub)).astype(np.float32)
    centroid = (rng.standard_normal(m * dsub) * 100).astype(np.float32)
    table = rng.standard_normal((m, 256)).astype(np.float32)
    products = centroid.reshape(m, 1, dsub) * books          # float32, rounded
    s = products[..., 0].copy()
    for t in range(1, dsub):
        s = s + products[..., t]
    want = table + np.float32(2) * s
    np.testing.assert_array_equal(_core.ivf_pq8_pair_rows(table, centroid, books), want)
    with pytest.raises(ValueError, match="centroid"):
        _core.ivf_pq8_pair_rows(table, centroid[:-1], books)
