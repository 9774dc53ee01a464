"""Memory stays flat: 10,000 calls of every search (and of a search that fails in the native
code) and 1,000 save / load cycles, normal and memory-mapped, may not grow the resident set by
more than a stated bound, nor leave file descriptors or mappings behind.

The bounds are far below what one leaked result per call costs (each search returns nq * k =
80 results: keeping them grew RSS by 12 MiB over 10,000 calls here; keeping each loaded index
grew it by 17-55 MiB over 1,000 cycles, and a leaked mapping shows in /proc/self/maps even where
its pages are not resident) and far above the noise after a warm-up (0 to 28 KiB here). One
thread, so the OpenMP pool's caches are warm after the warm-up and the calls stay cheap.
"""
from __future__ import annotations

import gc
import os
import sys
import tempfile

import numpy as np
import pytest

import qvec

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc/self (Linux)")

SEARCHES = 10_000
CYCLES = 1_000
WARMUP = 300
SEARCH_BOUND = 1 << 20     # bytes of RSS growth allowed over SEARCHES calls (< 105 B a call)
CYCLE_BOUND = 2 << 20      # over CYCLES save/load cycles (< 2.1 KiB a cycle)
DIM, N, NQ, K = 16, 256, 8, 10


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def mappings() -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


def growth(call, count: int) -> int:
    """RSS growth over `count` calls, after a warm-up that fills every cache and pool."""
    for _ in range(WARMUP):
        call()
    gc.collect()
    before = rss()
    for _ in range(count):
        call()
    gc.collect()
    return rss() - before


@pytest.fixture(scope="module")
def one_thread():
    threads = qvec.get_num_threads()
    qvec.set_num_threads(1)
    yield
    qvec.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    base = rng.standard_normal((N, DIM)).astype(np.float32)
    queries = rng.standard_normal((NQ, DIM)).astype(np.float32)
    return base, queries


def _searches(base, queries):
    """name -> a zero-argument search call, one for each search entry point of the API."""
    pq8 = qvec.ProductQuantizer(dim=DIM, m=4, nbits=8, metric="l2").fit(base, seed=0)
    pq4 = qvec.ProductQuantizer(dim=DIM, m=8, nbits=4, metric="l2").fit(base, seed=0)
    bq = qvec.BinaryQuantizer(dim=DIM, bits=2, metric="l2", rotate="random").fit(base, seed=0)
    codes8, codes4, bcodes = pq8.encode(base), pq4.encode(base), bq.encode(base)
    qcodes8, qbcodes = pq8.encode(queries), bq.encode(queries)
    fast = pq4.pack(codes4)
    bits, qbits = np.packbits(base > 0, axis=1), np.packbits(queries > 0, axis=1)
    cand = np.tile(np.arange(0, N, 3), (NQ, 1))
    scores = queries @ base.T
    indexes = {}
    for desc in ("Flat", "PQ4x8,Refine", "PQ8x4fs", "BIN1,Refine"):
        index = qvec.index_factory(DIM, desc)
        if not index.is_trained:
            index.train(base)
        index.add(base)
        indexes[desc] = index
    bad_base = base.copy()
    bad_base[5, 3] = np.inf

    def failing_search():
        with pytest.raises(ValueError):
            qvec.exact_search(queries, bad_base, k=K)

    return {
        "exact_l2": lambda: qvec.exact_search(queries, base, k=K, metric="l2"),
        "exact_ip": lambda: qvec.exact_search(queries, base, k=K, metric="ip"),
        "exact_failing": failing_search,
        "topk": lambda: qvec.topk(scores, k=K),
        "pq8": lambda: pq8.search(queries, codes8, k=K),
        "pq8_sdc": lambda: pq8.search_sdc(qcodes8, codes8, k=K),
        "pq4_raw": lambda: pq4.search(queries, codes4, k=K),
        "pq4_packed_rescore": lambda: pq4.search(queries, fast, k=K, rescore=4),
        "hamming": lambda: qvec.hamming_search(qbits, bits, k=K),
        "binary": lambda: bq.search(queries, bcodes, k=K),
        "binary_symmetric": lambda: bq.search_symmetric(qbcodes, bcodes, k=K),
        "rerank": lambda: qvec.rerank(queries, cand, base, k=K, metric="l2"),
        "index_flat": lambda: indexes["Flat"].search(queries, K),
        "index_pq_rerank": lambda: indexes["PQ4x8,Refine"].search(queries, K, rerank=40),
        "index_pq4": lambda: indexes["PQ8x4fs"].search(queries, K),
        "index_binary_rerank": lambda: indexes["BIN1,Refine"].search(queries, K, rerank=40),
    }


SEARCH_NAMES = ["exact_l2", "exact_ip", "exact_failing", "topk", "pq8", "pq8_sdc", "pq4_raw",
                "pq4_packed_rescore", "hamming", "binary", "binary_symmetric", "rerank",
                "index_flat", "index_pq_rerank", "index_pq4", "index_binary_rerank"]


@pytest.fixture(scope="module")
def searches(data, one_thread):
    calls = _searches(*data)
    assert sorted(calls) == sorted(SEARCH_NAMES)
    return calls


@pytest.mark.parametrize("name", SEARCH_NAMES)
def test_searches_keep_rss_flat(searches, name):
    grown = growth(searches[name], SEARCHES)
    assert grown < SEARCH_BOUND, (
        f"{name}: RSS grew {grown / 2**20:.2f} MiB over {SEARCHES} searches "
        f"(bound {SEARCH_BOUND / 2**20:.0f} MiB)")


@pytest.fixture
def fast_dir(tmp_path):
    """A folder on tmpfs when there is one: save() fsyncs, which costs milliseconds a file on a
    disk and nothing on tmpfs, and the cycles are about memory, not the disk."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        with tempfile.TemporaryDirectory(dir=shm, prefix="qvec-leaks-") as d:
            yield d
    else:
        yield str(tmp_path)


@pytest.mark.parametrize("mmap", [False, True], ids=["read", "mmap"])
@pytest.mark.parametrize("desc", ["Flat", "PQ4x8,Refine"])
def test_save_load_cycles_keep_rss_fds_and_mappings_flat(data, one_thread, fast_dir, desc, mmap):
    base, queries = data
    index = qvec.index_factory(DIM, desc)
    if not index.is_trained:
        index.train(base)
    index.add(base)
    path = os.path.join(fast_dir, "index.qvec")
    expected = index.search(queries, K)[1]

    def cycle():
        index.save(path)
        loaded = qvec.load(path, mmap=mmap)
        ids = loaded.search(queries, K)[1]
        assert ids[0, 0] == expected[0, 0]

    cycle()
    gc.collect()
    fds, maps = open_fds(), mappings()
    grown = growth(cycle, CYCLES)
    assert grown < CYCLE_BOUND, (
        f"{desc} mmap={mmap}: RSS grew {grown / 2**20:.2f} MiB over {CYCLES} save/load cycles "
        f"(bound {CYCLE_BOUND / 2**20:.0f} MiB)")
    assert open_fds() == fds, "file descriptors left open"
    assert mappings() <= maps + 2, "memory mappings left behind"
