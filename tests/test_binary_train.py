"""BinaryQuantizer training in C++ (_core.BinaryQuantizer.train): the mean, the seeded random
rotation and ITQ. Compared with the numpy training binary.py did (reimplemented here as the
reference): the rotations differ (another generator), the quality must not."""
import numpy as np
import pytest

from qvec import _core


def _random_orthogonal(dim, rng):
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))[None, :]


def _itq(v, rotation, iters):
    for _ in range(iters):
        b = np.where(v @ rotation > 0, np.float32(1), np.float32(-1))
        u, _, wt = np.linalg.svd((v.T @ b).astype(np.float64))
        rotation = (u @ wt).astype(np.float32)
    return rotation


def numpy_train(x, rotate, seed, itq_iters=20, max_train=10000):
    """The training python/qvec/binary.py did with numpy: (mean, rotation) float32."""
    mean = x.mean(axis=0, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rot = _random_orthogonal(x.shape[1], rng)
    if rotate == "itq":
        sample = x
        if x.shape[0] > max_train:
            sample = x[np.sort(rng.choice(x.shape[0], max_train, replace=False))]
        rot = _itq((sample - mean).astype(np.float32), rot.astype(np.float32), itq_iters)
    return mean.astype(np.float32), np.ascontiguousarray(rot, dtype=np.float32)


def trained(x, rotation, seed=0, itq_iters=20, max_train=10000, bits=1, metric="ip"):
    bq = _core.BinaryQuantizer(x.shape[1], bits, metric)
    bq.train(x, rotation, seed, itq_iters, max_train)
    return bq


def clustered(n, d, seed, centers=40):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centers, d)) * 2
    return (c[rng.integers(0, centers, n)] + rng.standard_normal((n, d)) * np.linspace(0.3, 2, d)
            ).astype(np.float32)


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = _core.get_num_threads()
    yield
    _core.set_num_threads(threads)


def orthogonality_error(r):
    r = r.astype(np.float64)
    return np.abs(r.T @ r - np.eye(r.shape[0])).max()


@pytest.mark.parametrize("rotation", ["random", "itq"])
@pytest.mark.parametrize("n,d", [(500, 1), (500, 7), (3000, 96), (60, 128)])
def test_rotation_is_orthogonal(rotation, n, d):
    x = clustered(n, d, seed=d)
    r = trained(x, rotation, seed=3, itq_iters=5).get_rotation()
    assert r.dtype == np.float32 and r.shape == (d, d)
    assert orthogonality_error(r) < 1e-6  # float32 rounding of an orthogonal matrix


@pytest.mark.parametrize("make", [
    lambda rng: np.ones((200, 32)),                               # no spread at all
    lambda rng: np.repeat(rng.standard_normal((300, 4)), 8, 1),  # rank 4
    lambda rng: rng.standard_normal((300, 32)) * np.logspace(0, 7, 32),
    lambda rng: np.concatenate([rng.standard_normal((300, 16)), np.zeros((300, 16))], 1),
])
def test_itq_rotation_is_orthogonal_on_degenerate_data(make):
    x = make(np.random.default_rng(0)).astype(np.float32)
    assert orthogonality_error(trained(x, "itq").get_rotation()) < 1e-6


def test_mean_is_the_training_mean_and_none_has_no_rotation():
    x = clustered(5000, 24, seed=1) + 3
    bq = trained(x, "none")
    assert bq.get_rotation() is None and bq.is_trained
    np.testing.assert_allclose(bq.get_mean(), x.mean(axis=0, dtype=np.float64), rtol=1e-6)
    # ITQ's sample does not change the mean: it is always over every vector.
    np.testing.assert_array_equal(trained(x, "itq", max_train=100, itq_iters=1).get_mean(),
                                  bq.get_mean())


@pytest.mark.parametrize("rotation", ["random", "itq"])
def test_seeded_and_independent_of_the_thread_count(rotation):
    x = clustered(4000, 48, seed=2)
    got = []
    for threads in (1, 2, 3):
        _core.set_num_threads(threads)
        got.append(trained(x, rotation, seed=7, max_train=1500).get_rotation())
    assert got[0].tobytes() == got[1].tobytes() == got[2].tobytes()
    other = trained(x, rotation, seed=8, max_train=1500).get_rotation()
    assert np.abs(other - got[0]).max() > 0.1


def test_itq_sample_depends_on_the_seed_only_through_max_train():
    x = clustered(4000, 16, seed=4)
    whole = trained(x, "itq", seed=5, max_train=None).get_rotation()
    assert whole.tobytes() == trained(x, "itq", seed=5, max_train=4000).get_rotation().tobytes()
    assert np.abs(trained(x, "itq", seed=5, max_train=1000).get_rotation() - whole).max() > 1e-4


def test_zero_itq_iterations_is_the_random_rotation():
    x = clustered(1000, 20, seed=6)
    assert (trained(x, "itq", seed=9, itq_iters=0).get_rotation().tobytes()
            == trained(x, "random", seed=9).get_rotation().tobytes())


def test_itq_lowers_the_sign_quantization_error():
    x = clustered(6000, 64, seed=7)
    v = x - x.mean(axis=0, dtype=np.float64)

    def error(r):
        y = v @ r.astype(np.float64)
        return np.linalg.norm(np.sign(y) - y)

    for seed in (0, 1):
        random = error(trained(x, "random", seed=seed).get_rotation())
        itq = error(trained(x, "itq", seed=seed).get_rotation())
        assert itq < random * 0.999
        # ...and as far as numpy's ITQ from the same start gets.
        start = trained(x, "random", seed=seed).get_rotation()
        reference = error(_itq(v.astype(np.float32), start, 20))
        assert itq == pytest.approx(reference, rel=2e-3)


def test_recall_matches_numpy_training():
    """1-bit asymmetric recall@10 with C++-trained rotations is within 0.01 of the numpy
    training's, averaged over seeds (one rotation's recall varies by about as much)."""
    d, n, nq = 64, 8000, 1000
    x, queries = clustered(n + nq, d, seed=0)[:n], clustered(n + nq, d, seed=0)[n:]
    truth = np.argsort(-(queries @ x.T), axis=1)[:, :10]

    def recall(bq):
        codes, factors = bq.encode(x)
        _, ids = bq.search(queries, codes, factors, 10, 4)
        return np.mean([len(set(ids[i]) & set(truth[i])) / 10 for i in range(nq)])

    for rotation in ("random", "itq"):
        ours, theirs = [], []
        for seed in range(6):
            ours.append(recall(trained(x, rotation, seed=seed)))
            reference = _core.BinaryQuantizer(d, 1, "ip")
            reference.set_transform(*numpy_train(x, rotation, seed))
            theirs.append(recall(reference))
        assert abs(np.mean(ours) - np.mean(theirs)) <= 0.01, (rotation, ours, theirs)


@pytest.mark.parametrize("kwargs,match", [
    ({"rotation": "pca"}, "rotation"),
    ({"max_train": 0}, "max_train"),
    ({"itq_iters": -1}, "itq_iters"),
])
def test_bad_options(kwargs, match):
    bq = _core.BinaryQuantizer(8, 1, "ip")
    with pytest.raises(ValueError, match=match):
        bq.train(np.zeros((10, 8), np.float32), **kwargs)
    assert not bq.is_trained


def test_bad_data():
    bq = _core.BinaryQuantizer(8, 1, "l2")
    x = np.zeros((10, 8), np.float32)
    x[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        bq.train(x, "random")
    with pytest.raises(ValueError, match="columns"):
        bq.train(np.zeros((10, 9), np.float32))
    with pytest.raises(ValueError, match="at least one"):
        bq.train(np.zeros((0, 8), np.float32))
    with pytest.raises(ValueError, match="dim"):
        _core.BinaryQuantizer(8193, 1, "ip").train(np.zeros((1, 8193), np.float32), "random")
    assert not bq.is_trained
