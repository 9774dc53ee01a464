"""Training quality: OPQ rotations and the anisotropic (score-aware) loss (issue 15)."""
import os
import pickle

import numpy as np
import pytest

import qvec


def correlated(n, d, seed):
    """Gaussian data with correlated, unequal axes: PQ's subspaces see uneven variance."""
    r = np.random.default_rng(seed)
    mix = r.standard_normal((d, d)) * np.linspace(3.0, 0.1, d)[None, :]
    return (r.standard_normal((n, d)) @ mix.T).astype(np.float32)


def unit_rows(n, d, seed):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, d)) + 0.3 * r.standard_normal(d)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def reconstruction_error(pq, x):
    return float(((pq.decode(pq.encode(x)) - x) ** 2).sum(1).mean())


# -- OPQ --------------------------------------------------------------------------------------

@pytest.mark.parametrize("nbits, d, ratio", [(4, 32, 0.8), (8, 16, 0.9)])
def test_opq_lowers_reconstruction_error(nbits, d, ratio):
    x = correlated(3000, d, seed=1)
    plain = qvec.ProductQuantizer(d, d // 4, nbits).fit(x, iters=6, seed=2)
    opq = qvec.ProductQuantizer(d, d // 4, nbits, opq=True).fit(x, iters=6, seed=2, opq_iters=4)
    r = opq.rotation
    np.testing.assert_allclose(r.T @ r, np.eye(d), atol=1e-4)
    assert reconstruction_error(opq, x) < ratio * reconstruction_error(plain, x)


def test_opq_is_seeded_and_deterministic():
    x = correlated(2000, 16, seed=3)
    a = qvec.ProductQuantizer(16, 4, 4, opq=True).fit(x, iters=4, seed=5, opq_iters=3)
    b = qvec.ProductQuantizer(16, 4, 4, opq=True).fit(x, iters=4, seed=5, opq_iters=3)
    np.testing.assert_array_equal(a.rotation, b.rotation)
    np.testing.assert_array_equal(a.codebooks, b.codebooks)
    np.testing.assert_array_equal(a.encode(x), b.encode(x))


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_opq_index_save_load_round_trip(tmp_path, metric):
    x = correlated(1500, 16, seed=4)
    index = qvec.index_factory(16, "OPQ4,PQ4x4fs", metric)
    assert isinstance(index, qvec.OPQIndex)
    index.fit(x, iters=4)
    index.add(x)
    dist, ids = index.search(x[:20], 5)
    path = os.path.join(tmp_path, "opq.qvec")
    index.save(path)
    for loaded in (qvec.load(path), qvec.load(path, mmap=True), pickle.loads(pickle.dumps(index))):
        assert isinstance(loaded, qvec.OPQIndex)
        np.testing.assert_array_equal(loaded.pq.rotation, index.pq.rotation)
        d2, i2 = loaded.search(x[:20], 5)
        np.testing.assert_array_equal(i2, ids)
        np.testing.assert_allclose(d2, dist, rtol=1e-6)
    # The rotation matters: the same codebooks without it would search another space.
    assert not np.allclose(index.pq.rotation, np.eye(16), atol=1e-3)


def test_opq_factory_and_argument_errors():
    with pytest.raises(ValueError, match="must match"):
        qvec.index_factory(32, "OPQ8,PQ16x8")
    with pytest.raises(ValueError, match="followed by a PQ token"):
        qvec.index_factory(32, "OPQ8")
    with pytest.raises(ValueError, match="followed by a PQ token"):
        qvec.index_factory(32, "OPQ8,Flat")
    with pytest.raises(TypeError, match="opq must be a bool"):
        qvec.ProductQuantizer(16, 4, opq="yes")
    pq = qvec.ProductQuantizer(16, 4, 4, opq=True)
    with pytest.raises(qvec.NotTrainedError):
        pq.encode(np.zeros((2, 16), np.float32))
    with pytest.raises(ValueError, match="orthogonal"):
        pq.rotation = np.ones((16, 16), np.float32)
    with pytest.raises(ValueError, match="shape"):
        pq.rotation = np.eye(8, dtype=np.float32)
    with pytest.raises(ValueError, match="rotation applies"):
        qvec.ProductQuantizer(16, 4).rotation = np.eye(16, dtype=np.float32)
    with pytest.raises(ValueError, match="opq_iters"):
        pq.fit(correlated(100, 16, seed=0), opq_iters=-1)


# -- anisotropic loss -------------------------------------------------------------------------

@pytest.mark.parametrize("nbits", [4, 8])
def test_anisotropic_lowers_the_parallel_error(nbits):
    # The loss targets the residual along x (the part that moves <q, x> for queries near x):
    # it must come out well below mse's, at a modest cost in total squared error.
    x = unit_rows(3000, 32, seed=6)
    errs = {}
    for loss in ("mse", "anisotropic"):
        pq = qvec.ProductQuantizer(32, 8, nbits, "ip", loss=loss, anisotropic_threshold=0.5)
        pq.fit(x, iters=6, seed=7)  # T = 0.5: eta = 31 * 0.25 / 0.75 = 10.3
        r = x - pq.decode(pq.encode(x))
        errs[loss] = (float(((r * x).sum(1) ** 2).mean()), float((r ** 2).sum(1).mean()))
    assert errs["anisotropic"][0] < 0.6 * errs["mse"][0], errs
    assert errs["anisotropic"][1] < 1.5 * errs["mse"][1], errs


def test_anisotropic_is_seeded_and_pickles():
    x = unit_rows(1500, 16, seed=8)
    a = qvec.ProductQuantizer(16, 4, 4, "cosine", loss="anisotropic").fit(x, iters=3, seed=1)
    b = qvec.ProductQuantizer(16, 4, 4, "cosine", loss="anisotropic").fit(x, iters=3, seed=1)
    np.testing.assert_array_equal(a.codebooks, b.codebooks)
    np.testing.assert_array_equal(a.encode(x), b.encode(x))
    c = pickle.loads(pickle.dumps(a))
    assert c.loss == "anisotropic"
    np.testing.assert_array_equal(c.encode(x), a.encode(x))


def test_anisotropic_trains_on_scanns_sample_by_default():
    # Its refinement needs more points than k-means' 256 * 2**nbits (4,096 at 4 bits): the
    # default sample is ANISOTROPIC_SAMPLE (100,000, ScaNN's), so 6,000 rows are all used.
    assert qvec._core.ANISOTROPIC_SAMPLE == 100_000
    x = unit_rows(6000, 16, seed=10)

    def books(**kw):
        pq = qvec.ProductQuantizer(16, 8, 4, "ip", loss="anisotropic")
        return pq.fit(x, iters=3, seed=2, **kw).codebooks

    np.testing.assert_array_equal(books(), books(max_train=6000))
    assert not np.array_equal(books(), books(max_train=4096))
    mse = qvec.ProductQuantizer(16, 8, 4, "ip").fit(x, iters=3, seed=2)
    np.testing.assert_array_equal(
        mse.codebooks, qvec.ProductQuantizer(16, 8, 4, "ip").fit(x, iters=3, seed=2,
                                                                  max_train=4096).codebooks)


def test_anisotropic_with_opq():
    x = unit_rows(1500, 16, seed=9)
    pq = qvec.ProductQuantizer(16, 4, 4, "ip", opq=True, loss="anisotropic")
    pq.fit(x, iters=3, seed=1, opq_iters=2)
    assert pq.encode(x).shape == (1500, 2)


def test_anisotropic_argument_errors():
    with pytest.raises(ValueError, match="loss must be"):
        qvec.ProductQuantizer(16, 4, loss="l1")
    with pytest.raises(ValueError, match="'ip' or 'cosine'"):
        qvec.ProductQuantizer(16, 4, metric="l2", loss="anisotropic")
    for t in (0.0, 1.0, -0.5, float("nan")):
        with pytest.raises(ValueError, match="anisotropic_threshold"):
            qvec.ProductQuantizer(16, 4, metric="ip", loss="anisotropic", anisotropic_threshold=t)
