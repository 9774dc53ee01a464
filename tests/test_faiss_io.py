"""qvec.read_faiss / qvec.write_faiss against faiss-cpu: both directions for every supported
type (flat L2/IP, PQ 8-bit and 4-bit, PQ fast-scan, binary flat, ID maps, IVF flat and PQ,
scalar quantizer QT_8bit flat and IVF), the
same search results, and crafted or truncated files -> FormatError."""
import os
import struct

import numpy as np
import pytest

import qvec
from qvec.faiss_io import pack_fastscan, unpack_fastscan

faiss = pytest.importorskip("faiss")

DIM, N, NQ, K = 16, 600, 12, 8


@pytest.fixture(scope="module", autouse=True)
def one_faiss_thread():
    """Small arrays: faiss's threads would only contend on a shared machine."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(16)
    return (rng.standard_normal((N, DIM)).astype(np.float32),
            rng.standard_normal((NQ, DIM)).astype(np.float32))


@pytest.fixture(scope="module")
def trained_pq(data):
    """qvec quantizers (trained once) for m=4, nbits 8, 4, 6 and 3."""
    base, _ = data
    return {nbits: qvec.ProductQuantizer(DIM, 4, nbits).fit(base, iters=4, seed=1)
            for nbits in (8, 4, 6, 3)}


def _same_results(ref, got, exact_ties=True):
    """Distances equal within float tolerance and ids equal where the distance is not tied.
    ref may hold one column more than got: it shows ties across got's last column."""
    (rd, ri), (gd, gi) = ref, got
    k = gd.shape[1]
    np.testing.assert_allclose(gd, rd[:, :k], rtol=1e-5, atol=1e-4)
    if exact_ties:
        tied = np.zeros_like(rd, dtype=bool)
        tied[:, 1:] |= np.isclose(rd[:, 1:], rd[:, :-1], rtol=1e-6, atol=1e-5)
        tied[:, :-1] |= tied[:, 1:].copy()
        tied[:, :-1] |= np.isclose(rd[:, :-1], rd[:, 1:], rtol=1e-6, atol=1e-5)
        tied = tied[:, :k]
        np.testing.assert_array_equal(gi[~tied], ri[:, :k][~tied])


def _faiss_pq(pq, base, metric):
    """A faiss IndexPQ holding qvec's codebooks, and the codes qvec computes for base."""
    index = faiss.IndexPQ(DIM, pq.m, pq.nbits,
                          faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT)
    faiss.copy_array_to_vector(pq.codebooks.reshape(-1), index.pq.centroids)
    index.is_trained = True
    index.add(base)
    return index


# ------------------------------------------------------------------------------------------
# faiss -> qvec
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_read_flat(tmp_path, data, metric):
    base, queries = data
    ref = faiss.IndexFlatL2(DIM) if metric == "l2" else faiss.IndexFlatIP(DIM)
    ref.add(base)
    faiss.write_index(ref, str(tmp_path / "f.index"))
    index = qvec.read_faiss(tmp_path / "f.index")
    assert isinstance(index, qvec.FlatIndex) and index.metric == metric and len(index) == N
    _same_results(ref.search(queries, K), index.search(queries, K))
    np.testing.assert_array_equal(index.reconstruct(np.arange(N)), base)


@pytest.mark.parametrize("nbits", [8, 4, 6, 3])
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_read_pq(tmp_path, data, trained_pq, nbits, metric):
    base, queries = data
    ref = _faiss_pq(trained_pq[nbits], base, metric)
    faiss.write_index(ref, str(tmp_path / "pq.index"))
    index = qvec.read_faiss(tmp_path / "pq.index")
    assert isinstance(index, qvec.PQIndex) and (index.m, index.nbits) == (4, nbits)
    assert index.metric == metric
    np.testing.assert_array_equal(index.codes, faiss.vector_to_array(ref.codes).reshape(N, -1))
    expected = ref.search(queries, K + 1)   # (3-bit codes repeat: ties across the k-th)
    # faiss IndexPQ searches with exact float tables: qvec's exact ADC matches it
    _same_results(expected, index.pq.search(queries, index.codes, K, rescore="exact"))
    if nbits == 8:
        _same_results(expected, index.search(queries, K))


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("dim,m", [(16, 4), (15, 5)])
def test_read_pq_fastscan(tmp_path, data, trained_pq, metric, dim, m):
    base, queries = data
    base, queries = np.ascontiguousarray(base[:, :dim]), np.ascontiguousarray(queries[:, :dim])
    pq = trained_pq[4] if m == 4 else qvec.ProductQuantizer(dim, m, 4).fit(base, iters=3)
    # IndexPQFastScan from an IndexPQ: faiss packs the IndexPQ codes into its blocks
    mt = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    plain = faiss.IndexPQ(dim, m, 4, mt)
    faiss.copy_array_to_vector(pq.codebooks.reshape(-1), plain.pq.centroids)
    plain.is_trained = True
    plain.add(base)
    ref = faiss.IndexPQFastScan(plain)
    faiss.write_index(ref, str(tmp_path / "fs.index"))
    index = qvec.read_faiss(tmp_path / "fs.index")
    assert isinstance(index, qvec.PQIndex) and (index.m, index.nbits) == (m, 4)
    assert index.metric == metric
    # the unpacked codes are the plain IndexPQ codes
    np.testing.assert_array_equal(index.codes,
                                  faiss.vector_to_array(plain.codes).reshape(N, -1))
    _same_results(plain.search(queries, K),
                  index.pq.search(queries, index.codes, K, rescore="exact"))
    # both search with quantized tables, each its own way: nearly the same neighbours
    _, fi = ref.search(queries, K)
    _, qi = index.search(queries, K)
    overlap = np.mean([len(set(a) & set(b)) / K for a, b in zip(fi, qi)])
    assert overlap > 0.8


def _binary_codes(seed, n, nbytes=8):
    return np.random.default_rng(seed).integers(0, 256, (n, nbytes), dtype=np.uint8)


def test_read_binary_flat(tmp_path):
    codes, qcodes = _binary_codes(3, 500), _binary_codes(4, 10)
    ref = faiss.IndexBinaryFlat(64)
    ref.add(codes)
    faiss.write_index_binary(ref, str(tmp_path / "b.index"))
    index = qvec.read_faiss(tmp_path / "b.index")
    assert isinstance(index, qvec.HammingIndex) and index.dim == 64 and len(index) == 500
    assert index.metric == "hamming"
    rd, ri = ref.search(qcodes, K)
    _same_results((rd.astype(np.float32), ri), index.search(qcodes, K))
    np.testing.assert_array_equal(index.codes, codes)


@pytest.mark.parametrize("wrapper", ["IDMap", "IDMap2"])
@pytest.mark.parametrize("inner", ["flat_l2", "flat_ip", "pq", "binary"])
def test_read_id_maps(tmp_path, data, trained_pq, wrapper, inner):
    base, queries = data
    ids = np.random.default_rng(5).permutation(10 * N)[:N].astype(np.int64) + 7
    path = str(tmp_path / "m.index")
    if inner == "binary":
        sub = faiss.IndexBinaryFlat(64)
        ref = getattr(faiss, "IndexBinary" + wrapper)(sub)
        codes = _binary_codes(6, N)
        ref.add_with_ids(codes, ids)
        faiss.write_index_binary(ref, path)
        queries = codes[:NQ] ^ 1
    else:
        sub = {"flat_l2": lambda: faiss.IndexFlatL2(DIM), "flat_ip": lambda: faiss.IndexFlatIP(DIM),
               "pq": lambda: _faiss_pq(trained_pq[8], base[:0], "l2")}[inner]()
        ref = getattr(faiss, "Index" + wrapper)(sub)
        ref.add_with_ids(base, ids)
        faiss.write_index(ref, path)
    index = qvec.read_faiss(path)
    np.testing.assert_array_equal(index.ids, ids)
    assert int(ids[3]) in index and int(ids.max()) + 1 not in index
    rd, ri = ref.search(queries, K)
    _same_results((rd.astype(np.float32), ri), index.search(queries, K))


# ------------------------------------------------------------------------------------------
# qvec -> faiss
# ------------------------------------------------------------------------------------------
def _qvec_index(kind, base, trained_pq, metric):
    if kind == "flat":
        index = qvec.FlatIndex(DIM, metric)
    else:
        nbits = int(kind[2:])
        index = qvec.PQIndex(DIM, 4, nbits, metric)
        index.pq.codebooks = trained_pq[nbits].codebooks
    return index


@pytest.mark.parametrize("ids", [False, True])
@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("kind", ["flat", "pq8", "pq4", "pq6", "pq3"])
def test_write_read_by_faiss(tmp_path, data, trained_pq, kind, metric, ids):
    base, queries = data
    index = _qvec_index(kind, base, trained_pq, metric)
    user_ids = np.arange(N, dtype=np.int64) * 5 + 3 if ids else None
    index.add(base, ids=user_ids)
    path = str(tmp_path / "q.index")
    size = qvec.write_faiss(index, path)
    assert size == os.path.getsize(path)
    ref = faiss.read_index(path)
    assert ref.ntotal == N and ref.d == DIM
    assert ref.metric_type == (faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT)
    expected_type = {"flat": faiss.IndexFlat, "pq8": faiss.IndexPQ, "pq6": faiss.IndexPQ,
                     "pq3": faiss.IndexPQ, "pq4": faiss.IndexPQFastScan}[kind]
    inner = faiss.downcast_index(ref.index) if ids else ref
    assert isinstance(inner, expected_type)
    got = ref.search(queries, K)
    mine = index.search(queries, K)
    if kind in ("pq4", "pq3"):    # qvec ranks these by the fast-scan (uint8) tables
        overlap = np.mean([len(set(a) & set(b)) / K for a, b in zip(got[1], mine[1])])
        assert overlap > 0.8
    else:
        _same_results(mine, got)
    # and back: the file faiss reads is the file qvec reads
    again = qvec.read_faiss(path)
    np.testing.assert_array_equal(again.ids, index.ids)
    np.testing.assert_array_equal(again.search(queries, K)[1], mine[1])


@pytest.mark.parametrize("ids", [False, True])
def test_write_hamming_read_by_faiss(tmp_path, ids):
    codes, qcodes = _binary_codes(8, 300), _binary_codes(9, 7)
    index = qvec.HammingIndex(64)
    index.add(codes, ids=np.arange(300, dtype=np.int64)[::-1].copy() if ids else None)
    path = str(tmp_path / "h.index")
    qvec.write_faiss(index, path)
    ref = faiss.read_index_binary(path)
    assert ref.ntotal == 300 and ref.d == 64
    rd, ri = ref.search(qcodes, K)
    _same_results(index.search(qcodes, K), (rd.astype(np.float32), ri))


def test_write_refuses_what_faiss_cannot_hold(tmp_path, data):
    base, _ = data
    with pytest.raises(TypeError, match="BinaryIndex"):
        qvec.write_faiss(qvec.BinaryIndex(DIM).fit(base), tmp_path / "x.index")
    with pytest.raises(ValueError, match="not trained"):
        qvec.write_faiss(qvec.PQIndex(DIM, 4), tmp_path / "x.index")
    with pytest.raises(TypeError, match="codec 'binary'"):
        qvec.write_faiss(qvec.IVFIndex(DIM, 4, "binary").fit(base), tmp_path / "x.index")
    with pytest.raises(ValueError, match="not trained"):
        qvec.write_faiss(qvec.IVFIndex(DIM, 4, "flat"), tmp_path / "x.index")
    assert not os.listdir(tmp_path)          # nothing left behind


def test_read_mmap_keeps_codes_mapped(tmp_path, data, trained_pq):
    base, queries = data
    ref = _faiss_pq(trained_pq[8], base, "l2")
    faiss.write_index(ref, str(tmp_path / "pq.index"))
    index = qvec.read_faiss(tmp_path / "pq.index", mmap=True)
    assert not index.codes.flags.owndata and not index.codes.flags.writeable
    _same_results(ref.search(queries, K), index.search(queries, K))


def test_hamming_index_saves_and_loads(tmp_path):
    codes = _binary_codes(10, 100)
    index = qvec.HammingIndex(64)
    index.add(codes)
    index.save(tmp_path / "h.qvec")
    again = qvec.load(tmp_path / "h.qvec")
    assert isinstance(again, qvec.HammingIndex)
    np.testing.assert_array_equal(again.search(codes[:5], 3)[1], index.search(codes[:5], 3)[1])
    assert again.search(codes[:1], 3)[0][0, 0] == 0
    with pytest.raises(TypeError, match="uint8"):
        index.add(codes.astype(np.float32))
    with pytest.raises(ValueError, match="multiple of 8"):
        qvec.HammingIndex(12)


@pytest.mark.parametrize("m", [1, 4, 5])
def test_fastscan_pack_roundtrip(m):
    rng = np.random.default_rng(m)
    n = 70
    full = rng.integers(0, 16, (n, m), dtype=np.uint8)
    if m % 2:
        full = np.hstack([full, np.zeros((n, 1), np.uint8)])
    codes = (full[:, 0::2] | (full[:, 1::2] << 4)).astype(np.uint8)
    packed = pack_fastscan(codes, m)
    assert packed.size == 96 * ((m + 1) // 2)          # 3 blocks of 32, half a byte a code
    np.testing.assert_array_equal(unpack_fastscan(packed, n, m), codes)
    # and faiss's own packer agrees: IndexPQFastScan built from an IndexPQ holding the codes
    plain = faiss.IndexPQ(2 * m, m, 4)
    plain.is_trained = True
    faiss.copy_array_to_vector(codes.reshape(-1), plain.codes)
    plain.ntotal = n
    fast = faiss.IndexPQFastScan(plain)
    np.testing.assert_array_equal(packed, faiss.vector_to_array(fast.codes))


# ------------------------------------------------------------------------------------------
# bad files
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def faiss_files(tmp_path_factory, data, trained_pq):
    base, _ = data
    d = tmp_path_factory.mktemp("faiss")
    files = {}
    flat = faiss.IndexIDMap(faiss.IndexFlatL2(DIM))
    flat.add_with_ids(base[:50], np.arange(50, dtype=np.int64) + 100)
    files["idmap"] = flat
    files["pq"] = _faiss_pq(trained_pq[8], base[:50], "l2")
    files["fastscan"] = faiss.IndexPQFastScan(_faiss_pq(trained_pq[4], base[:50], "l2"))
    ivf = _faiss_ivf("pq", base, "l2", nbits=4)
    ivf.add(base[:50])
    files["ivfpq"] = ivf
    out = {}
    for name, index in files.items():
        path = str(d / f"{name}.index")
        faiss.write_index(index, path)
        out[name] = (d / f"{name}.index").read_bytes()
    b = faiss.IndexBinaryFlat(64)
    b.add(_binary_codes(11, 50))
    faiss.write_index_binary(b, str(d / "binary.index"))
    out["binary"] = (d / "binary.index").read_bytes()
    return out


@pytest.mark.parametrize("name", ["idmap", "pq", "fastscan", "binary", "ivfpq"])
def test_truncated_files_raise_format_error(tmp_path, faiss_files, name):
    raw = faiss_files[name]
    path = tmp_path / "t.index"
    cuts = sorted(set(np.random.default_rng(len(raw)).integers(0, len(raw), 25).tolist())
                  | {0, 3, 4, 40, len(raw) - 1})
    for cut in cuts:
        path.write_bytes(raw[:cut])
        with pytest.raises(qvec.FormatError):
            qvec.read_faiss(path)
    path.write_bytes(raw + b"\0")
    with pytest.raises(qvec.FormatError, match="trailing"):
        qvec.read_faiss(path)


@pytest.mark.parametrize("name", ["idmap", "pq", "fastscan", "binary", "ivfpq"])
def test_corrupted_bytes_never_crash(tmp_path, faiss_files, name):
    """Any single corrupted header byte gives FormatError or a valid index, never a crash or
    a huge allocation (the counts are checked against the file size)."""
    raw = bytearray(faiss_files[name])
    path = tmp_path / "c.index"
    rng = np.random.default_rng(17)
    for pos in range(0, min(len(raw), 140)):
        bad = bytearray(raw)
        bad[pos] ^= int(rng.integers(1, 256))
        path.write_bytes(bytes(bad))
        try:
            qvec.read_faiss(path)
        except qvec.FormatError:
            pass


def test_unsupported_type_names_its_fourcc(tmp_path, data):
    base, _ = data
    hnsw = faiss.IndexHNSWFlat(DIM, 8)
    hnsw.add(base[:20])
    faiss.write_index(hnsw, str(tmp_path / "h.index"))
    with pytest.raises(qvec.FormatError, match="'IHNf'"):
        qvec.read_faiss(tmp_path / "h.index")
    sq = faiss.IndexScalarQuantizer(DIM, faiss.ScalarQuantizer.QT_4bit)
    sq.train(base)
    faiss.write_index(sq, str(tmp_path / "sq.index"))
    with pytest.raises(qvec.FormatError, match="QT_4bit"):
        qvec.read_faiss(tmp_path / "sq.index")
    ivfpq6 = faiss.IndexIVFPQ(faiss.IndexFlatL2(DIM), DIM, 4, 4, 6)
    ivfpq6.train(base)
    faiss.write_index(ivfpq6, str(tmp_path / "ivfpq6.index"))
    with pytest.raises(qvec.FormatError, match="nbits=6"):
        qvec.read_faiss(tmp_path / "ivfpq6.index")
    (tmp_path / "tiny").write_bytes(b"Ix")
    with pytest.raises(qvec.FormatError):
        qvec.read_faiss(tmp_path / "tiny")


def test_crafted_counts_do_not_allocate(tmp_path):
    """A flat header claiming 2**40 vectors in a tiny file: FormatError before any
    allocation."""
    head = b"IxF2" + struct.pack("<iqqqBi", DIM, 1 << 40, 1 << 20, 1 << 20, 1, 1)
    (tmp_path / "big.index").write_bytes(head + struct.pack("<Q", DIM << 40) + b"\0" * 64)
    with pytest.raises(qvec.FormatError, match="truncated or corrupt"):
        qvec.read_faiss(tmp_path / "big.index")
    # an id map nested in itself until the depth limit
    nested = (b"IxMp" + struct.pack("<iqqqBi", DIM, 0, 0, 0, 1, 1)) * 20
    (tmp_path / "deep.index").write_bytes(nested)
    with pytest.raises(qvec.FormatError, match="nested"):
        qvec.read_faiss(tmp_path / "deep.index")


def test_id_map_with_negative_or_repeated_ids(tmp_path, data):
    base, _ = data
    for ids in ([1, 1, 2], [-5, 1, 2]):
        ref = faiss.IndexIDMap(faiss.IndexFlatL2(DIM))
        ref.add_with_ids(base[:3], np.array(ids, dtype=np.int64))
        faiss.write_index(ref, str(tmp_path / "i.index"))
        with pytest.raises(qvec.FormatError, match="unique ids >= 0"):
            qvec.read_faiss(tmp_path / "i.index")


# ------------------------------------------------------------------------------------------
# IVF (IndexIVFFlat, IndexIVFPQ) both ways
# ------------------------------------------------------------------------------------------
NLIST = 8


def _faiss_ivf(kind, base, metric, nbits=8, by_residual=True):
    mt = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    quantizer = faiss.IndexFlatL2(DIM) if metric == "l2" else faiss.IndexFlatIP(DIM)
    if kind == "flat":
        index = faiss.IndexIVFFlat(quantizer, DIM, NLIST, mt)
    else:
        index = faiss.IndexIVFPQ(quantizer, DIM, NLIST, 4, nbits, mt)
        index.by_residual = by_residual
    index.train(base)
    return index


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("kind,nbits,by_residual", [("flat", 8, False), ("pq", 8, True),
                                                     ("pq", 8, False), ("pq", 4, True)])
def test_read_ivf(tmp_path, data, kind, nbits, by_residual, metric):
    base, queries = data
    ref = _faiss_ivf(kind, base, metric, nbits, by_residual)
    ids = np.arange(N, dtype=np.int64) * 3 + 1
    ref.add_with_ids(base, ids)
    ref.nprobe = 3
    faiss.write_index(ref, str(tmp_path / "ivf.index"))
    index = qvec.read_faiss(tmp_path / "ivf.index")
    assert isinstance(index, qvec.IVFIndex) and index.nlist == NLIST and index.nprobe == 3
    assert index.metric == metric and len(index) == N
    np.testing.assert_array_equal(np.sort(index.ids), ids)
    for nprobe in (3, NLIST):
        ref.nprobe = nprobe
        expected = ref.search(queries, K)
        got = index.search(queries, K, nprobe=nprobe)
        if nbits == 4:     # qvec's 4-bit search quantizes its tables: nearly the same
            overlap = np.mean([len(set(a) & set(b)) / K for a, b in zip(expected[1], got[1])])
            assert overlap > 0.8
        else:
            _same_results(expected, got)


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("codec", ["flat", "pq8"])
def test_write_ivf_read_by_faiss(tmp_path, data, codec, metric):
    base, queries = data
    index = qvec.IVFIndex(DIM, NLIST, codec, metric, m=4 if codec != "flat" else None,
                          nprobe=2)
    index.fit(base, seed=3)
    index.add(base, ids=np.arange(N, dtype=np.int64)[::-1] * 2)
    path = str(tmp_path / "ivf.index")
    qvec.write_faiss(index, path)
    ref = faiss.read_index(path)
    assert ref.ntotal == N and ref.nlist == NLIST and ref.nprobe == 2
    for nprobe in (2, NLIST):
        ref.nprobe = nprobe
        _same_results(index.search(queries, K, nprobe=nprobe), ref.search(queries, K))
    again = qvec.read_faiss(path)
    np.testing.assert_array_equal(again.search(queries, K)[1], index.search(queries, K)[1])


def test_ivf_inside_id_map(tmp_path, data):
    base, queries = data
    ref = faiss.IndexIDMap(_faiss_ivf("flat", base, "l2"))
    ids = np.arange(N, dtype=np.int64) + 1000
    ref.add_with_ids(base, ids)
    faiss.write_index(ref, str(tmp_path / "m.index"))
    index = qvec.read_faiss(tmp_path / "m.index")
    np.testing.assert_array_equal(np.sort(index.ids), ids)
    faiss.downcast_index(ref.index).nprobe = NLIST
    _same_results(ref.search(queries, K), index.search(queries, K, nprobe=NLIST))


# ------------------------------------------------------------------------------------------
# scalar quantizers (QT_8bit): IndexScalarQuantizer, IndexIVFScalarQuantizer
# ------------------------------------------------------------------------------------------
def _mt(metric):
    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_read_scalar_quantizer(tmp_path, data, metric):
    base, queries = data
    ref = faiss.IndexScalarQuantizer(DIM, faiss.ScalarQuantizer.QT_8bit, _mt(metric))
    ref.train(base)
    ref.add(base)
    faiss.write_index(ref, str(tmp_path / "sq.index"))
    index = qvec.read_faiss(tmp_path / "sq.index")
    assert isinstance(index, qvec.SQ8Index) and index.metric == metric and len(index) == N
    # the codes are faiss's, shifted by 128, and decode as faiss decodes them
    codes = faiss.vector_to_array(ref.codes).reshape(N, DIM)
    np.testing.assert_array_equal(index.codes.view(np.uint8), codes ^ 0x80)
    np.testing.assert_allclose(index.quantizer.decode(index.codes), ref.sa_decode(codes),
                               rtol=1e-6, atol=1e-6)
    _same_results(ref.search(queries, K), index.search(queries, K))


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_write_scalar_quantizer_read_by_faiss(tmp_path, data, metric):
    base, queries = data
    index = qvec.SQ8Index(DIM, metric)
    index.fit(base)
    index.add(base, ids=np.arange(N, dtype=np.int64) + 5)
    path = str(tmp_path / "sq.index")
    qvec.write_faiss(index, path)
    ref = faiss.read_index(path)
    assert isinstance(faiss.downcast_index(ref), faiss.IndexIDMap) and ref.ntotal == N
    _same_results(index.search(queries, K), ref.search(queries, K))
    again = qvec.read_faiss(path)
    np.testing.assert_array_equal(again.quantizer.decode(again.codes),
                                  index.quantizer.decode(index.codes))
    np.testing.assert_array_equal(again.search(queries, K)[1], index.search(queries, K)[1])
    with pytest.raises(TypeError, match="RescoreSQ8Index"):
        qvec.write_faiss(qvec.index_factory(DIM, "BIN1,RescoreSQ8").fit(base), path + "x")


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("by_residual", [True, False])
def test_read_ivf_scalar_quantizer(tmp_path, data, metric, by_residual):
    base, queries = data
    quantizer = faiss.IndexFlatL2(DIM) if metric == "l2" else faiss.IndexFlatIP(DIM)
    ref = faiss.IndexIVFScalarQuantizer(quantizer, DIM, NLIST, faiss.ScalarQuantizer.QT_8bit,
                                        _mt(metric), by_residual)
    ref.train(base)
    ids = np.arange(N, dtype=np.int64) * 3 + 1
    ref.add_with_ids(base, ids)
    ref.nprobe = 3
    faiss.write_index(ref, str(tmp_path / "ivfsq.index"))
    index = qvec.read_faiss(tmp_path / "ivfsq.index")
    assert isinstance(index, qvec.IVFIndex) and index.codec == "sq8"
    assert index.by_residual == by_residual and index.nprobe == 3 and len(index) == N
    np.testing.assert_array_equal(np.sort(index.ids), ids)
    for nprobe in (3, NLIST):
        ref.nprobe = nprobe
        _same_results(ref.search(queries, K), index.search(queries, K, nprobe=nprobe))


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_write_ivf_scalar_quantizer_read_by_faiss(tmp_path, data, metric):
    base, queries = data
    index = qvec.IVFIndex(DIM, NLIST, "sq8", metric, nprobe=2)
    index.fit(base, seed=3)
    index.add(base, ids=np.arange(N, dtype=np.int64)[::-1] * 2)
    path = str(tmp_path / "ivfsq.index")
    qvec.write_faiss(index, path)
    ref = faiss.read_index(path)                     # owns the index: keep it referenced
    inner = faiss.downcast_index(ref)
    assert isinstance(inner, faiss.IndexIVFScalarQuantizer) and inner.by_residual
    assert ref.ntotal == N and ref.nlist == NLIST and ref.nprobe == 2
    for nprobe in (2, NLIST):
        ref.nprobe = nprobe
        _same_results(index.search(queries, K, nprobe=nprobe), ref.search(queries, K))
    again = qvec.read_faiss(path)
    np.testing.assert_array_equal(again.search(queries, K)[1], index.search(queries, K)[1])
