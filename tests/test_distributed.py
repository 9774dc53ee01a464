"""qvec.distributed: the engine-agnostic merge (plain numpy, no Ray), and ShardedIndex on a
real local Ray cluster of two raylets (skipped when Ray is not installed: pip install
'qvec[ray]').

The cluster is one head and one more node on this machine (ray.cluster_utils.Cluster starts
the same GCS and raylet processes as `ray start --head` / `ray start --address`, and stops
exactly those), with 1 CPU and a small object store each, no dashboard. Shards run with one
native thread each. The whole file stays well under a minute on an idle 2-core machine.
"""
import json
import os
import shutil
import signal

import numpy as np
import pytest

import qvec
from qvec.distributed import merge_topk, sample_rows, search_shards, shard_bounds, split_rows

from conftest import clustered, reference_topk

DIM = 32
N = 1200


# ------------------------------------------------------------------ the merge, without Ray
def _shard_lists(dist, nshards, k, largest):
    """Each contiguous shard's own top-k of a (nq, n) distance matrix, ids global."""
    bounds = shard_bounds(dist.shape[1], nshards)
    out = []
    for s in range(nshards):
        part = dist[:, bounds[s]:bounds[s + 1]]
        d, i = reference_topk(-part if largest else part, k)
        d = -d if largest else d
        out.append((d.astype(np.float32), np.where(i >= 0, i + bounds[s], -1)))
    return out


@pytest.mark.parametrize("largest", [False, True])
@pytest.mark.parametrize("nshards,k", [(1, 5), (3, 4), (4, 40), (7, 9)])
def test_merge_equals_one_topk_with_ties(largest, nshards, k):
    rng = np.random.default_rng(7 + nshards)
    # few distinct values: many ties, which must go to the smaller id across shards
    dist = rng.integers(0, 6, size=(9, 30)).astype(np.float32)
    want_d, want_i = reference_topk(-dist if largest else dist, k)
    want_d = -want_d if largest else want_d
    got_d, got_i = merge_topk(_shard_lists(dist, nshards, k, largest), k,
                              "ip" if largest else "l2")
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_array_equal(got_d, want_d.astype(np.float32))
    assert got_d.dtype == np.float32 and got_i.dtype == np.int64


def test_merge_puts_padding_last_with_the_worst_value():
    d1 = np.array([[np.inf, np.inf]], np.float32)
    i1 = np.array([[-1, -1]])
    d2 = np.array([[-np.inf, 2.0]], np.float32)     # a real -inf similarity beats padding
    i2 = np.array([[4, 3]])
    d, i = merge_topk([(d1, i1), (d2, i2)], 5, "ip")
    np.testing.assert_array_equal(i, [[3, 4, -1, -1, -1]])
    np.testing.assert_array_equal(d, [[2.0, -np.inf, -np.inf, -np.inf, -np.inf]])
    d, i = merge_topk([(np.array([[1.0]], np.float32), np.array([[2]]))], 3, "l2")
    np.testing.assert_array_equal(i, [[2, -1, -1]])
    np.testing.assert_array_equal(d, [[1.0, np.inf, np.inf]])


def test_merge_and_split_reject_bad_arguments():
    ok = (np.zeros((2, 3), np.float32), np.zeros((2, 3), np.int64))
    with pytest.raises(ValueError, match="at least one"):
        merge_topk([], 3, "l2")
    with pytest.raises(ValueError, match="k must be >= 1"):
        merge_topk([ok], 0, "l2")
    with pytest.raises(ValueError, match="metric"):
        merge_topk([ok], 3, "hamming")
    with pytest.raises(ValueError, match="one shape"):
        merge_topk([ok, (np.zeros((2, 3), np.float32), np.zeros((3, 3), np.int64))], 3, "l2")
    with pytest.raises(ValueError, match="num_shards must be <= the number of rows"):
        shard_bounds(3, 4)
    with pytest.raises(ValueError, match="num_shards must be >= 1"):
        shard_bounds(3, 0)


def test_bounds_and_sample_cover_every_row_once():
    bounds = shard_bounds(10, 3)
    np.testing.assert_array_equal(bounds, [0, 4, 7, 10])
    rows = sample_rows(10_000, 300, seed=3)
    assert rows.size == 300 and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(rows, sample_rows(10_000, 300, seed=3))
    assert not np.array_equal(rows, sample_rows(10_000, 300, seed=4))
    np.testing.assert_array_equal(sample_rows(5, None, 0), np.arange(5))
    b = shard_bounds(10_000, 4)
    parts = split_rows(rows, b)
    np.testing.assert_array_equal(np.concatenate([p + b[s] for s, p in enumerate(parts)]),
                                  rows)


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_local_shards_equal_one_flat_index(metric):
    x = clustered(600, 16, 6, seed=11)
    x[300] = x[10]                         # equal vectors in different shards: a tie
    q = np.vstack([x[10], clustered(7, 16, 6, seed=12)])
    one = qvec.FlatIndex(16, metric)
    one.add(x)
    bounds = shard_bounds(600, 3)
    shards = []
    for s in range(3):
        shard = qvec.FlatIndex(16, metric)
        shard.add(x[bounds[s]:bounds[s + 1]], ids=np.arange(bounds[s], bounds[s + 1]))
        shards.append(shard)
    for k in (1, 10, 700):
        want = one.search(q, k)
        got = search_shards(shards, q, k, metric)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[0], want[0])


# ------------------------------------------------------------------ on a Ray cluster
@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'qvec[ray]'")
    from ray.cluster_utils import Cluster

    small = dict(num_cpus=1, object_store_memory=80 << 20)
    nodes = Cluster(initialize_head=True, head_node_args=dict(small, include_dashboard=False))
    try:
        nodes.add_node(**small)
        ray.init(address=nodes.address, include_dashboard=False, log_to_driver=False)
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        yield ray
    finally:
        ray.shutdown()
        nodes.shutdown()


@pytest.fixture(scope="module")
def data():
    x = clustered(N, DIM, 12, seed=21)
    x[N - 1] = x[3]                        # a tie between the first and the last shard
    q = np.vstack([x[3] + 0, clustered(15, DIM, 12, seed=22)])
    return x, q


def _single(x, description, metric, train_rows=None, seed=0):
    one = qvec.index_factory(DIM, description, metric)
    if not one.is_trained:
        one.fit(x if train_rows is None else x[train_rows], seed=seed)
    return one


def _assert_same(sharded, one, q, k, **params):
    got_d, got_i = sharded.search(q, k, **params)
    want_d, want_i = one.search(q, k, **params)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_array_equal(got_d, want_d)


@pytest.fixture(scope="module")
def flat(cluster, data):
    """A 3-shard FlatIndex the fault tests share (each restores what it breaks)."""
    from qvec.distributed import ShardedIndex

    x, _ = data
    index = ShardedIndex.build(x, "Flat", 3, threads=1)
    yield index
    index.close()


@pytest.mark.parametrize("description,metric,train_size", [
    ("PQ8x8", "l2", 700), ("PQ8x4fs", "ip", None), ("BIN1,Refine", "cosine", None)])
def test_sharded_equals_one_index(cluster, data, description, metric, train_size):
    from qvec.distributed import ShardedIndex

    x, q = data
    rows = sample_rows(N, train_size, seed=5)
    one = _single(x, description, metric, rows, seed=5)
    one.add(x)
    with ShardedIndex.build(x, description, 2, metric=metric, train_size=train_size,
                            seed=5, threads=1) as sharded:
        assert len(sharded) == N and sharded.shard_sizes() == [N // 2, N // 2]
        for k in (1, 10, N + 5):
            _assert_same(sharded, one, q, k)
        if description.endswith("Refine"):
            _assert_same(sharded, one, q, 5, rerank=40)
        d, i = sharded.search(q[1], 4)                  # one 1-D query
        np.testing.assert_array_equal(i, one.search(q[1], 4)[1])


@pytest.mark.skipif(not hasattr(qvec, "IVFIndex"), reason="this qvec has no IVFIndex")
def test_ivf_shards_equal_one_ivf_index(cluster, data):
    from qvec.distributed import ShardedIndex

    x, q = data
    one = _single(x, "IVF16,PQ8x8", "l2", seed=2)
    one.add(x)
    # the coarse quantizer is trained once and shipped: every shard probes the same lists
    with ShardedIndex.build(x, "IVF16,PQ8x8", 2, seed=2, threads=1) as sharded:
        for nprobe in (1, 4):
            _assert_same(sharded, one, q, 10, nprobe=nprobe)


def test_flat_shards_add_remove_len(flat, data):
    x, q = data
    one = qvec.FlatIndex(DIM)
    one.add(x)
    _assert_same(flat, one, q, 10)
    extra = clustered(50, DIM, 3, seed=23)
    np.testing.assert_array_equal(flat.add(extra), one.add(extra))
    np.testing.assert_array_equal(flat.add(extra[:5], ids=[10_000, 10_003, 10_001, 10_002,
                                                            10_004]),
                                  one.add(extra[:5], ids=[10_000, 10_003, 10_001, 10_002,
                                                          10_004]))
    assert len(flat) == len(one) == N + 55
    _assert_same(flat, one, q, 10)
    gone = np.r_[np.arange(N, N + 50), 10_000, 10_001, 10_002, 10_003, 10_004]
    assert flat.remove(np.r_[gone, 99_999]) == one.remove(gone) == 55
    assert flat.remove(gone) == 0
    assert len(flat) == N
    _assert_same(flat, one, q, 10)
    with pytest.raises(ValueError, match="already in the index"):
        flat.add(extra[:1], ids=[7])
    with pytest.raises(ValueError, match=r"x must .*\(n, 32\)"):
        flat.add(extra[:, :8])


def test_shard_killed_during_search_is_restarted(flat, data):
    x, q = data
    one = qvec.FlatIndex(DIM)
    one.add(x)
    want = one.search(q, 10)
    before = flat.restarts
    victim = flat.shard_pids()[1]
    pending = flat.search_async(q, 10)            # scattered, not yet answered ...
    os.kill(victim, signal.SIGKILL)               # ... when shard 1's process dies
    got = pending.result()
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    assert flat.restarts == before + 1
    assert flat.shard_pids()[1] != victim
    os.kill(flat.shard_pids()[0], signal.SIGKILL)  # dead between calls: the next call
    assert len(flat) == N                          # restarts it too
    _assert_same(flat, one, q, 10)


def test_save_load_round_trip(flat, data, tmp_path, cluster):
    from qvec.distributed import ShardedIndex

    x, q = data
    one = qvec.FlatIndex(DIM)
    one.add(x)
    nbytes = flat.save(tmp_path / "idx")
    assert nbytes > N * DIM * 4
    assert sorted(os.listdir(tmp_path / "idx")) == ["manifest.json", "shard-00000.qvec",
                                                    "shard-00001.qvec", "shard-00002.qvec"]
    with ShardedIndex.load(tmp_path / "idx", threads=1) as loaded:
        assert (loaded.num_shards, loaded.dim, loaded.metric, loaded.kind) == (3, DIM, "l2",
                                                                               "flat")
        assert len(loaded) == N
        _assert_same(loaded, one, q, 10)
        # ids continue after the largest ever used (kept through save / load, as one index)
        with open(tmp_path / "idx" / "manifest.json") as f:
            next_id = json.load(f)["next_id"]
        added = loaded.add(x[:2])
        np.testing.assert_array_equal(added, [next_id, next_id + 1])
        one.add(x[:2], ids=added)
        _assert_same(loaded, one, q, 10)
    again = qvec.load(tmp_path / "idx" / "shard-00002.qvec")
    assert len(again) == N // 3                    # the saved files were not changed


def test_unrecoverable_shard_raises_or_answers_partially(flat, data):
    from qvec.distributed import ShardError

    x, q = data
    checkpoint = flat._slots[1].path
    os.rename(checkpoint, checkpoint + ".away")        # nothing to restart shard 1 from
    try:
        os.kill(flat.shard_pids()[1], signal.SIGKILL)
        with pytest.raises(ShardError, match="shard 1 of 3 died and could not be restarted"
                           ) as err:
            flat.search(q, 10)
        assert err.value.shard == 1
        d, i, answered = flat.search(q, 10, allow_partial=True)
        assert answered == (0, 2)
        rest = np.r_[0:N // 3, 2 * N // 3:N]
        one = qvec.FlatIndex(DIM)
        one.add(x[rest], ids=rest)
        want = one.search(q, 10)
        np.testing.assert_array_equal(i, want[1])
        np.testing.assert_array_equal(d, want[0])
    finally:
        os.rename(checkpoint + ".away", checkpoint)
    one = qvec.FlatIndex(DIM)                         # the file is back: shard 1 recovers
    one.add(x)
    _assert_same(flat, one, q, 10)


def test_load_errors_name_the_problem(flat, tmp_path):
    from qvec.distributed import ShardedIndex, ShardError

    with pytest.raises(FileNotFoundError, match="manifest.json"):
        ShardedIndex.load(tmp_path / "nothing")
    flat.save(tmp_path / "idx")
    os.remove(tmp_path / "idx" / "shard-00002.qvec")
    with pytest.raises(ShardError, match="shard 2 of 3: .*shard-00002.qvec is missing"):
        ShardedIndex.load(tmp_path / "idx")
    (tmp_path / "idx" / "manifest.json").write_text('{"format": "other"}')
    with pytest.raises(qvec.FormatError, match="not a qvec-sharded-index manifest"):
        ShardedIndex.load(tmp_path / "idx")


def test_file_sources_and_trained_index(cluster, data, tmp_path):
    from qvec.distributed import ShardedIndex

    x, q = data
    parts = [x[:500], x[500:1100], x[1100:]]
    paths = [str(tmp_path / "a.npy"), str(tmp_path / "b.fbin"), str(tmp_path / "c.fvecs")]
    for path, part in zip(paths, parts):
        qvec.io.write_vectors(path, part)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        pass
    else:                                  # the middle part as parquet instead
        paths[1] = str(tmp_path / "b.parquet")
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(parts[1].ravel()), DIM)
        pq.write_table(pa.table({"id": np.arange(600), "emb": vectors}), paths[1],
                       row_group_size=128)
    trained = qvec.index_factory(DIM, "BIN2", "l2").fit(x[::3], seed=1)
    one = qvec.index_factory(DIM, "BIN2", "l2").fit(x[::3], seed=1)
    one.add(x)
    # 2 shards of 600 rows: each spans two files
    with ShardedIndex.build(paths, "ignored when trained", 2, trained=trained,
                            column="emb" if paths[1].endswith(".parquet") else None,
                            threads=1) as sharded:
        assert sharded.shard_sizes() == [600, 600]
        _assert_same(sharded, one, q, 10)


# Ray Data's DataContext() sets deprecated options of its own and warns about them.
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
def test_dataset_source(cluster, data):
    from qvec.distributed import ShardedIndex

    pytest.importorskip("pyarrow", reason="ray.data needs pyarrow")
    x, q = data
    dataset = cluster.data.from_numpy(x[:300])
    one = qvec.FlatIndex(DIM, "ip")
    one.add(x[:300])
    with ShardedIndex.build(dataset, "Flat", 2, metric="ip", threads=1) as sharded:
        _assert_same(sharded, one, q, 7)


def test_bad_arguments_raise_clear_errors(flat, data, cluster):
    from qvec.distributed import ShardedIndex

    x, q = data
    with pytest.raises(ValueError, match="unknown token 'PQX'"):
        ShardedIndex.build(x, "PQX", 2)
    with pytest.raises(ValueError, match="num_shards must be <= the number of rows"):
        ShardedIndex.build(x[:3], "Flat", 4)
    with pytest.raises(TypeError, match="list of paths"):
        ShardedIndex.build("x.npy", "Flat", 2)
    with pytest.raises(ValueError, match="source files must be .npy"):
        ShardedIndex.build(["x.txt"], "Flat", 2)
    with pytest.raises(ValueError, match="trained must be empty"):
        ShardedIndex.build(x, "Flat", 2, trained=flat_one(x))
    with pytest.raises(ValueError, match=r"queries must .*\(n, 32\)"):
        flat.search(q[:, :5], 3)
    with pytest.raises(ValueError, match="k must be >= 1"):
        flat.search(q, 0)
    with pytest.raises(TypeError, match="k must be an integer"):
        flat.search(q, 2.5)


def flat_one(x):
    one = qvec.FlatIndex(DIM)
    one.add(x[:4])
    return one
