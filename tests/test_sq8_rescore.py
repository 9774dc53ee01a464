"""RescoreSQ8Index's int8 stage in the core (ScalarQuantizer.rescore): the same results as the
numpy reference it replaced (decode the candidates, score them, lexsort by (score, row)), with
-1 candidates, k beyond the shortlist and bad rows."""
import numpy as np
import pytest

import qvec
from qvec.index.sq import rescore_int8


def numpy_rescore(sq, queries, rows, codes, k):
    """The former implementation of rescore_int8, kept as the reference."""
    ip = sq.metric != "l2"
    valid = rows >= 0
    decoded = sq.decode(np.asarray(codes)[np.where(valid, rows, 0).ravel()])
    decoded = decoded.reshape(rows.shape + (queries.shape[1],))
    if ip:
        score = -np.einsum("qd,qcd->qc", queries, decoded)
    else:
        diff = decoded - queries[:, None, :]
        score = np.einsum("qcd,qcd->qc", diff, diff)
    score = np.where(valid, score, np.inf).astype(np.float32)
    order = np.lexsort((np.where(valid, rows, np.iinfo(np.int64).max), score), axis=-1)[:, :k]
    best = np.take_along_axis(score, order, 1)
    ids = np.where(np.isinf(best), -1, np.take_along_axis(rows, order, 1))
    if best.shape[1] < k:
        best = np.pad(best, ((0, 0), (0, k - best.shape[1])), constant_values=np.inf)
        ids = np.pad(ids, ((0, 0), (0, k - ids.shape[1])), constant_values=-1)
    return (-best if ip else best).astype(np.float32), ids.astype(np.int64)


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("dim,ncand,k", [(1, 5, 3), (37, 40, 10), (64, 8, 12)])
def test_core_rescore_equals_the_numpy_reference(metric, dim, ncand, k):
    rng = np.random.default_rng(dim * 7 + ncand)
    x = rng.standard_normal((300, dim)).astype(np.float32)
    q = rng.standard_normal((9, dim)).astype(np.float32)
    sq = qvec.ScalarQuantizer(dim, metric=metric).fit(x)
    codes = sq.encode(x)
    rows = np.stack([rng.choice(300, ncand, replace=False) for _ in range(9)]).astype(np.int64)
    rows[0, ::3] = -1                                      # holes in a shortlist
    rows[1] = rows[1, 0]                                   # a repeated row: ties by row
    rows[1, 1:] = rng.choice(300, ncand - 1, replace=False)
    d, i = rescore_int8(sq, q, rows, codes, k)
    rd, ri = numpy_rescore(sq, q, rows, codes, k)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_allclose(d, rd, rtol=1e-5, atol=1e-5)
    assert d.dtype == np.float32 and i.dtype == np.int64 and d.shape == (9, k)


def test_rescore_index_equals_the_reference_pipeline():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((500, 32)).astype(np.float32)
    q = rng.standard_normal((7, 32)).astype(np.float32)
    index = qvec.index_factory(32, "BIN1,RescoreSQ8x3")
    index.fit(x)
    index.add(x)
    d, i = index.search(q, 10)
    _, rows = qvec._core.hamming_search(np.packbits(q > 0, axis=1), np.packbits(x > 0, axis=1),
                                        30)
    rd, ri = numpy_rescore(index.quantizer, q, rows, index.codes, 10)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_allclose(d, rd, rtol=1e-5, atol=1e-5)


def test_bad_candidate_rows_raise():
    sq = qvec.ScalarQuantizer(4).fit(np.eye(4, dtype=np.float32))
    codes = sq.encode(np.eye(4, dtype=np.float32))
    q = np.zeros((1, 4), dtype=np.float32)
    with pytest.raises(IndexError):
        rescore_int8(sq, q, np.array([[0, 4]], dtype=np.int64), codes, 1)
    with pytest.raises(ValueError, match="candidates"):
        rescore_int8(sq, q, np.array([0, 1], dtype=np.int64), codes, 1)
