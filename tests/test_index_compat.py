"""Files saved by qvec 0.1.0 (tests/data/*_0_1_0.qvec, written by make_fixtures_0_1_0.py with
the 0.1.0 code) still load, normally and memory-mapped, and answer as 0.1.0 did."""
import functools
import glob
import os
import pickle

import numpy as np
import pytest

import qvec

DATA = os.path.join(os.path.dirname(__file__), "data")
NAMES = sorted(os.path.basename(p)[:-len("_0_1_0.qvec")]
               for p in glob.glob(os.path.join(DATA, "*_0_1_0.qvec")))
K, RERANK = 5, 20

KINDS = {"flat": qvec.FlatIndex, "pq": qvec.PQIndex, "bin": qvec.BinaryIndex}


@pytest.fixture(scope="module")
def expected():
    with np.load(os.path.join(DATA, "expected_0_1_0.npz")) as f:
        return dict(f)


def test_every_fixture_is_there():
    assert set(NAMES) == {"flat_l2", "flat_ip", "flat_ids", "pq8", "pq8_ids", "pq8_untrained",
                          "pq4fs", "bin1", "bin1_norot", "bin1_untrained", "bin2"}


@pytest.fixture
def as_0_1_0(monkeypatch):
    """Searches as 0.1.0 ran them: 1-bit binary codes were scored from the 4-bit query's bit
    planes, which search now gives only for an explicit query_bits (the default scores the
    float query: other, more accurate answers from the same loaded codes)."""
    search = qvec.BinaryQuantizer.search

    def old_default(self, queries, codes, k, query_bits=None, **kwargs):
        if query_bits is None and self.bits == 1:
            query_bits = 4
        return search(self, queries, codes, k, query_bits, **kwargs)

    monkeypatch.setattr(qvec.BinaryQuantizer, "search", functools.wraps(search)(old_default))


def _same_answers(index, name, expected):
    queries = expected["queries"]
    assert len(index) == int(expected[f"{name}.ntotal"])
    np.testing.assert_array_equal(index.ids, expected[f"{name}.ids"])
    if not index.is_trained:
        return
    # ids exactly; distances to float32 rounding (a kernel may round the last bit differently)
    for key, k, rerank in (("", K, None), ("pad_", 70, None), ("rr_", K, RERANK)):
        if f"{name}.{key}labels" not in expected:
            continue
        dist, ids = index.search(queries, k, rerank=rerank)
        np.testing.assert_array_equal(ids, expected[f"{name}.{key}labels"])
        np.testing.assert_allclose(dist, expected[f"{name}.{key}dist"], rtol=1e-5, atol=1e-5)
    if f"{name}.vectors" in expected:
        np.testing.assert_array_equal(index.reconstruct(index.ids), expected[f"{name}.vectors"])
    if f"{name}.codes" in expected:
        np.testing.assert_array_equal(index.codes, expected[f"{name}.codes"])
        np.testing.assert_array_equal(index.pq.codebooks, expected[f"{name}.codebooks"])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mmap", [False, True])
def test_0_1_0_file_loads_and_answers_identically(name, mmap, expected, as_0_1_0):
    path = os.path.join(DATA, f"{name}_0_1_0.qvec")
    index = qvec.load(path, mmap=mmap)
    assert type(index) is next(cls for prefix, cls in KINDS.items() if name.startswith(prefix))
    assert index.dim == 8
    _same_answers(index, name, expected)


@pytest.mark.parametrize("name", NAMES)
def test_0_1_0_file_resaved_answers_identically(name, expected, tmp_path, as_0_1_0):
    index = qvec.load(os.path.join(DATA, f"{name}_0_1_0.qvec"))
    index.save(tmp_path / "again.qvec")
    _same_answers(qvec.load(tmp_path / "again.qvec", mmap=True), name, expected)
    _same_answers(pickle.loads(pickle.dumps(index)), name, expected)


def test_0_1_0_index_keeps_working(expected, as_0_1_0):
    index = qvec.load(os.path.join(DATA, "bin1_0_1_0.qvec"), mmap=True)
    base = expected["base"]
    new = index.add(base[:3])
    np.testing.assert_array_equal(new, [60, 61, 62])
    assert index.remove([0, 61]) == 2
    _, ids = index.search(base[:3], 1, rerank=RERANK)
    np.testing.assert_array_equal(ids[:, 0], [60, 1, 2])      # ties to the smaller id
