"""Indexes mutated beside searches (issue 10 item 3): every search sees one consistent state,
concurrent adds never hand out one id twice."""
import threading

import numpy as np
import pytest

import qvec
from qvec import _core

DIM = 8


def _far_and_near(seed):
    rng = np.random.default_rng(seed)
    near = rng.standard_normal((100, DIM)).astype(np.float32)
    far = rng.standard_normal((50, DIM)).astype(np.float32) + 100.0    # never a nearest hit
    return near, far


def _run_beside(fn, timeout=0.5):
    """Runs fn in another thread and waits for it at most ``timeout`` seconds (an index that
    locks out mutation during a search makes it wait; one that snapshots lets it finish)."""
    errors = []

    def target():
        try:
            fn()
        except BaseException as e:     # re-raised on the caller's thread below
            errors.append(e)

    t = threading.Thread(target=target)
    t.start()
    t.join(timeout)
    return t, errors


def test_remove_during_a_search_does_not_shift_its_ids(monkeypatch):
    near, far = _far_and_near(1)
    index = qvec.FlatIndex(DIM)
    index.add(far, ids=np.arange(1000, 1050))        # rows before the ones searched for
    index.add(near)                                   # ids 1050..1149
    real = _core.exact_search
    state = {"thread": None, "errors": []}

    def exact_search_removing(*args):
        if state["thread"] is None:                   # mid-search: another thread removes
            state["thread"], state["errors"] = _run_beside(
                lambda: index.remove(np.arange(1000, 1050)))
        return real(*args)

    monkeypatch.setattr(_core, "exact_search", exact_search_removing)
    dist, ids = index.search(near, 1)
    monkeypatch.undo()
    state["thread"].join()
    assert not state["errors"]
    np.testing.assert_array_equal(ids[:, 0], np.arange(1050, 1150))
    np.testing.assert_allclose(dist[:, 0], 0, atol=1e-5)
    assert len(index) == 100


def test_add_during_an_add_hands_out_distinct_ids(monkeypatch):
    near, _ = _far_and_near(2)
    index = qvec.PQIndex(DIM, 2, nbits=4)
    index.train(near)
    real = qvec.ProductQuantizer.encode
    state = {"thread": None, "errors": [], "got": []}

    def encode_adding(self, x):
        if state["thread"] is None:                   # mid-add: another thread adds
            state["thread"] = "starting"
            state["thread"], state["errors"] = _run_beside(
                lambda: state["got"].append(index.add(near[:5])))
        return real(self, x)

    monkeypatch.setattr(qvec.ProductQuantizer, "encode", encode_adding)
    first = index.add(near[5:15])
    state["thread"].join()
    monkeypatch.undo()
    assert not state["errors"]
    ids = np.concatenate([first, state["got"][0]])
    assert np.unique(ids).size == 15 and len(index) == 15
    np.testing.assert_array_equal(np.sort(index.ids), np.sort(ids))
    np.testing.assert_array_equal(np.sort(ids), np.arange(15))


def test_searches_beside_adds_and_removes_stay_consistent():
    near, far = _far_and_near(3)
    index = qvec.FlatIndex(DIM)
    index.add(far, ids=np.arange(10**6, 10**6 + 50))
    stable = index.add(near, ids=np.arange(100))
    stop = threading.Event()
    errors = []

    def mutate():
        try:
            for step in range(300):
                ids = np.arange(10**6, 10**6 + 50) + 100 * (step + 1)
                index.remove(ids - 100)
                index.add(far, ids=ids)
        except BaseException as e:
            errors.append(e)
        finally:
            stop.set()

    t = threading.Thread(target=mutate)
    t.start()
    checked = 0
    while not stop.is_set() or checked == 0:
        dist, ids = index.search(near, 1)
        np.testing.assert_array_equal(ids[:, 0], stable)
        checked += 1
    t.join()
    assert not errors and len(index) == 150


@pytest.mark.parametrize("kind", ["flat", "pq"])
def test_concurrent_adds_hand_out_each_id_once(kind):
    near, _ = _far_and_near(4)
    index = qvec.FlatIndex(DIM) if kind == "flat" else qvec.PQIndex(DIM, 2, nbits=4)
    if kind == "pq":
        index.train(near)
    got = [[], []]

    def adder(out):
        for _ in range(200):
            out.append(index.add(near[:3]))

    threads = [threading.Thread(target=adder, args=(out,)) for out in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = np.concatenate(got[0] + got[1])
    assert len(index) == ids.size == 1200
    np.testing.assert_array_equal(np.sort(ids), np.arange(1200))
    np.testing.assert_array_equal(np.sort(index.ids), np.arange(1200))


def test_rows_share_parts_but_each_sees_its_own():
    from qvec.index.storage import Rows

    t = {"v": (np.dtype(np.int64), (2,))}
    a, b, c, d = (np.full((n, 2), n, np.int64) for n in (1, 2, 3, 4))
    r1 = Rows(t).appended({"v": a})
    r2 = r1.appended({"v": b})
    r3 = r1.appended({"v": c})               # a branch: r2's rows must not change
    np.testing.assert_array_equal(r1.get("v"), a)
    np.testing.assert_array_equal(r2.get("v"), np.concatenate([a, b]))
    np.testing.assert_array_equal(r3.get("v"), np.concatenate([a, c]))
    r4 = r2.appended({"v": d})               # from a joined one: extends the join
    np.testing.assert_array_equal(r4.get("v"), np.concatenate([a, b, d]))
    np.testing.assert_array_equal(r2.get("v"), np.concatenate([a, b]))
    assert r2.get("v") is r2.get("v")
    assert Rows(t).get("v").shape == (0, 2)
    np.testing.assert_array_equal(r4.without(np.array([0, 3])).get("v"),
                                  np.concatenate([b, d[:3]]))
