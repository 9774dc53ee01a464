"""The CUDA path (qvec.cuda). Two halves:

* everywhere: device strings, the no-GPU errors (with the reason), the GPU k limit checked on
  the host, and the CPU path working after a GPU error;
* on a GPU only (skipped otherwise, with the reason): every GPU search against the CPU search
  over hypothesis shapes (odd dims, n < k, k = 1, nq = 1, large k, several scan ranges, several
  query batches). Hamming and the asymmetric binary estimator must match bit for bit (same
  integer sums, same fused multiply-adds, same tie rule); PQ and exact search sum floats in
  another order, so distances must agree to RTOL (relative to the distances' scale) and ids
  must agree except between candidates whose CPU distances are within that tolerance.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import qvec
from qvec import _core

HAVE_GPU = qvec.cuda_available()
needs_gpu = pytest.mark.skipif(not HAVE_GPU,
                               reason=f"no GPU: {qvec.cuda_unavailable_reason()}")
no_gpu = pytest.mark.skipif(HAVE_GPU, reason="a GPU is present")

RTOL = 1e-5


def data(n, dim, seed):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


# -- everywhere ------------------------------------------------------------------------------
@pytest.mark.parametrize("device", ["gpu", "cuda:", "cuda:-1", "cuda:x", "CUDA 0", "", 0, None])
def test_bad_device_strings_are_rejected(device):
    x = data(20, 8, 0)
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda' or 'cuda:N'"):
        qvec.exact_search(x[:2], x, 3, device=device)
    index = qvec.FlatIndex(8)
    index.add(x)
    with pytest.raises(ValueError, match="device must be"):
        index.search(x[:2], 3, device=device)


def test_parse_device():
    assert qvec.cuda.parse_device("cpu") is None
    assert qvec.cuda.parse_device("cuda") == 0
    assert qvec.cuda.parse_device("cuda:3") == 3
    assert qvec.cuda.parse_device(" CUDA:1 ") == 1


def test_gpu_k_limit_checked_on_the_host():
    assert qvec.cuda.MAX_K == 4096
    assert _core.cuda_check_k(1) == 1
    assert _core.cuda_check_k(4096) == 4096
    for k in (0, 4097, 2**40):
        with pytest.raises(ValueError, match=r"k must be|\[1, 4096\]"):
            _core.cuda_check_k(k)


def test_availability_is_consistent():
    reason = qvec.cuda_unavailable_reason()
    if qvec.cuda_available():
        assert reason == "" and qvec.cuda_device_count() >= 1
    else:
        assert reason and qvec.cuda_device_count() == 0
        if not _core.cuda_compiled():
            assert "without CUDA" in reason


@no_gpu
def test_no_gpu_raises_with_the_reason_and_cpu_keeps_working():
    reason = qvec.cuda_unavailable_reason()
    x = data(300, 16, 1)
    q = x[:3]
    pq = qvec.ProductQuantizer(16, m=4, nbits=8).fit(x, seed=0)
    bq = qvec.BinaryQuantizer(16, bits=1).fit(x, seed=0)
    bits = np.packbits(x > 0, axis=1)
    index = qvec.PQIndex(16, m=4)
    index.fit(x)
    index.add(x)
    calls = [
        lambda d: qvec.exact_search(q, x, 5, device=d),
        lambda d: qvec.hamming_search(bits[:3], bits, 5, device=d),
        lambda d: pq.search(q, pq.encode(x), 5, device=d),
        lambda d: bq.search(q, bq.encode(x), 5, device=d),
        lambda d: index.search(q, 5, device=d),
        lambda d: index.to_gpu(d) if d != "cpu" else index.search(q, 5),
    ]
    for call in calls:
        for device in ("cuda", "cuda:1"):
            with pytest.raises(qvec.cuda.CudaUnavailableError) as info:
                call(device)
            assert str(info.value) == reason
        cpu = call("cpu")   # the CPU path is untouched by the failed GPU call
        assert cpu is not None
    assert isinstance(qvec.cuda.CudaUnavailableError("x"), RuntimeError)
    assert issubclass(qvec.cuda.GpuOutOfMemoryError, MemoryError)


def test_to_gpu_refuses_cpu():
    index = qvec.FlatIndex(4)
    with pytest.raises((ValueError, qvec.cuda.CudaUnavailableError)):
        index.to_gpu("cpu")


# -- on a GPU --------------------------------------------------------------------------------
def assert_close_topk(gpu, cpu, rtol=RTOL):
    """Distances within rtol of the distances' scale; ids equal except among near-ties."""
    (gd, gi), (cd, ci) = gpu, cpu
    assert gd.shape == cd.shape and gi.shape == ci.shape
    assert np.array_equal(gi == -1, ci == -1)
    finite = ci != -1
    scale = max(1.0, float(np.abs(cd[finite]).max())) if finite.any() else 1.0
    tol = rtol * scale * 10
    np.testing.assert_allclose(gd[finite], cd[finite], rtol=0, atol=tol)
    for row in range(ci.shape[0]):
        last = int(np.sum(finite[row])) - 1
        # a differing id only where the CPU's distance ties another one within tol, or at the
        # k-th place (a near-tie with a candidate just outside the top-k)
        for pos in np.flatnonzero(gi[row] != ci[row]):
            near = np.abs(cd[row, :last + 1] - cd[row, pos]) <= tol
            assert near.sum() >= 2 or abs(cd[row, pos] - cd[row, last]) <= tol, (row, pos)


shapes = st.tuples(st.integers(1, 70), st.integers(1, 300), st.integers(1, 400),
                   st.integers(1, 5), st.integers(0, 10**6))


@needs_gpu
@settings(max_examples=15)
@given(shapes, st.sampled_from(["l2", "ip"]))
def test_exact_matches_cpu(shape, metric):
    dim, n, k, nq, seed = shape
    x, q = data(n, dim, seed), data(nq, dim, seed + 1)
    assert_close_topk(qvec.exact_search(q, x, k, metric, device="cuda"),
                      qvec.exact_search(q, x, k, metric))


@needs_gpu
@settings(max_examples=15)
@given(shapes)
def test_hamming_matches_cpu_exactly(shape):
    nbytes, n, k, nq, seed = shape
    r = np.random.default_rng(seed)
    codes = r.integers(0, 256, (n, nbytes), dtype=np.uint8)
    queries = r.integers(0, 256, (nq, nbytes), dtype=np.uint8)
    gd, gi = qvec.hamming_search(queries, codes, k, device="cuda")
    cd, ci = qvec.hamming_search(queries, codes, k)
    assert gd.dtype == np.int32
    np.testing.assert_array_equal(gd, cd)
    np.testing.assert_array_equal(gi, ci)


@needs_gpu
@settings(max_examples=10)
@given(st.integers(1, 6), st.integers(1, 8), st.integers(300, 700), st.integers(1, 300),
       st.integers(1, 4), st.sampled_from([8, 4]), st.sampled_from(["l2", "ip"]))
def test_pq_matches_cpu_exact_adc(m, dsub, n, k, nq, nbits, metric):
    dim = m * dsub
    x, q = data(n, dim, n), data(nq, dim, n + 1)
    pq = qvec.ProductQuantizer(dim, m=m, nbits=nbits, metric=metric).fit(x, seed=0, iters=3)
    codes = pq.encode(x)
    cpu = pq.search(q, codes, k, rescore="exact" if nbits == 4 else 0)
    assert_close_topk(pq.search(q, codes, k, device="cuda"), cpu)
    assert_close_topk(pq.search(q, pq.pack(codes), k, device="cuda"), cpu)


@needs_gpu
@settings(max_examples=10)
@given(st.integers(1, 130), st.integers(1, 3), st.integers(1, 300), st.integers(1, 300),
       st.integers(1, 4), st.integers(1, 8), st.sampled_from(["l2", "ip"]))
def test_binary_matches_cpu_exactly(dim, bits, n, k, nq, query_bits, metric):
    x, q = data(n, dim, dim * n), data(nq, dim, dim * n + 1)
    bq = qvec.BinaryQuantizer(dim, bits=bits, metric=metric).fit(x, seed=0)
    codes = bq.encode(x)
    gd, gi = bq.search(q, codes, k, query_bits=query_bits, device="cuda")
    cd, ci = bq.search(q, codes, k, query_bits=query_bits)
    np.testing.assert_array_equal(gd, cd)
    np.testing.assert_array_equal(gi, ci)


@needs_gpu
@pytest.mark.parametrize("n,k", [(5000, 4096), (3000, 4096), (70000, 4096), (70000, 1)])
def test_large_k_and_several_ranges(n, k):
    r = np.random.default_rng(n + k)
    codes = r.integers(0, 256, (n, 3), dtype=np.uint8)   # 24 bits: many ties
    queries = r.integers(0, 256, (3, 3), dtype=np.uint8)
    gd, gi = qvec.hamming_search(queries, codes, k, device="cuda")
    cd, ci = qvec.hamming_search(queries, codes, k)
    np.testing.assert_array_equal(gd, cd)
    np.testing.assert_array_equal(gi, ci)


@needs_gpu
def test_many_query_batches_on_two_streams():
    r = np.random.default_rng(7)
    codes = r.integers(0, 256, (70000, 8), dtype=np.uint8)
    queries = r.integers(0, 256, (5000, 8), dtype=np.uint8)   # > one batch of 2048
    gd, gi = qvec.hamming_search(queries, codes, 10, device="cuda")
    cd, ci = qvec.hamming_search(queries, codes, 10)
    np.testing.assert_array_equal(gd, cd)
    np.testing.assert_array_equal(gi, ci)


@needs_gpu
@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_indexes_on_the_gpu(metric):
    x, q = data(2000, 24, 3), data(7, 24, 4)
    ids = np.arange(2000, dtype=np.int64)[::-1] * 3 + 5
    made = [qvec.FlatIndex(24, metric), qvec.PQIndex(24, m=6, metric=metric),
            qvec.PQIndex(24, m=6, nbits=4, metric=metric, keep_vectors=True),
            qvec.BinaryIndex(24, bits=2, metric=metric)]
    for index in made:
        index.fit(x)
        index.add(x, ids=ids)
        gpu = index.to_gpu("cuda")
        cpu = index.search(q, 10)
        if isinstance(index, qvec.BinaryIndex):
            got = gpu.search(q, 10)
            np.testing.assert_array_equal(got[0], cpu[0])
            np.testing.assert_array_equal(got[1], cpu[1])
        elif getattr(index, "nbits", 8) == 4:
            assert_close_topk(gpu.search(q, 10, rerank=50), index.search(q, 10, rerank=50))
        else:
            assert_close_topk(gpu.search(q, 10), cpu)
        index.add(x[:5])            # a new state: the next GPU search uploads again
        assert len(index.search(q, 3, device="cuda")[1]) == 7


@needs_gpu
def test_gpu_errors_leave_the_process_usable():
    x = data(100, 8, 5)
    with pytest.raises(ValueError, match="device must be in"):
        qvec.exact_search(x[:1], x, 3, device=f"cuda:{qvec.cuda_device_count()}")
    with pytest.raises(ValueError, match="4096"):
        qvec.exact_search(x[:1], x, 4097, device="cuda")
    # Fill the device until an upload fails: a MemoryError, and searches still work after.
    chunk = np.zeros((1 << 27, 64), dtype=np.uint8)   # 8 GiB per upload
    held = []
    with pytest.raises(qvec.cuda.GpuOutOfMemoryError):
        for _ in range(64):
            held.append(_core.gpu_index_hamming(0, chunk))
    del held
    assert_close_topk(qvec.exact_search(x[:2], x, 3, device="cuda"), qvec.exact_search(x[:2], x, 3))
