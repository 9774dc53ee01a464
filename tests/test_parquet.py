"""Parquet input (pyarrow): qvec.io.read_vectors / read_parquet / iter_parquet, and
``qvec build`` streaming parquet row groups into an index."""
import numpy as np
import pytest

import qvec
from qvec import cli
from qvec import io as qio

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

DIM = 8


def _fixed(x):
    """A FixedSizeList<float32>[d] array of the rows of x."""
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])


def _write(path, x, kind="fixed", row_group_size=None, extra=True):
    col = _fixed(x) if kind == "fixed" else pa.array(list(x), type=pa.list_(pa.float64()))
    columns = {"embedding": col}
    if extra:
        columns["id"] = pa.array(np.arange(len(x)))
        columns["text"] = pa.array([f"doc {i}" for i in range(len(x))])
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)


@pytest.fixture(scope="module")
def vectors():
    return np.random.default_rng(21).standard_normal((1000, DIM)).astype(np.float32)


def test_fixed_size_list_is_zero_copy(tmp_path, vectors):
    _write(tmp_path / "x.parquet", vectors)
    got = qio.read_vectors(tmp_path / "x.parquet", column="embedding")
    assert got.dtype == np.float32 and got.shape == vectors.shape
    np.testing.assert_array_equal(got, vectors)
    assert not got.flags.owndata              # a view of the Arrow buffer, not a copy
    # the only list column is found without column=
    np.testing.assert_array_equal(qio.read_parquet(tmp_path / "x.parquet"), vectors)


def test_list_of_float_is_converted(tmp_path, vectors):
    _write(tmp_path / "l.parquet", vectors, kind="list")
    got = qio.read_vectors(tmp_path / "l.parquet", column="embedding")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, vectors)


def test_row_groups_and_files_stream(tmp_path, vectors):
    folder = tmp_path / "parts"
    folder.mkdir()
    _write(folder / "a.parquet", vectors[:600], row_group_size=250)
    _write(folder / "b.parquet", vectors[600:], kind="list", row_group_size=100)
    sizes = [b.shape[0] for b in qio.iter_parquet(folder, "embedding")]
    assert sizes == [250, 250, 100, 100, 100, 100, 100]
    assert [b.shape[0] for b in qio.iter_parquet(folder / "a.parquet", batch_rows=64)][:2] == \
        [64, 64]
    np.testing.assert_array_equal(qio.read_parquet(folder, "embedding"), vectors)
    np.testing.assert_array_equal(
        qio.read_parquet([folder / "b.parquet", folder / "a.parquet"]),
        np.concatenate([vectors[600:], vectors[:600]]))
    assert qio.parquet_shape(folder, "embedding") == (1000, DIM)


def test_errors_name_the_argument(tmp_path, vectors):
    _write(tmp_path / "x.parquet", vectors)
    with pytest.raises(ValueError, match="column='vec' is not in .*columns: \\['embedding'"):
        qio.read_vectors(tmp_path / "x.parquet", column="vec")
    with pytest.raises(TypeError, match="column='text' .* has type string"):
        qio.read_vectors(tmp_path / "x.parquet", column="text")
    with pytest.raises(TypeError, match="column='id'"):
        qio.read_vectors(tmp_path / "x.parquet", column="id")
    qio.write_fvecs(tmp_path / "x.fvecs", vectors)
    with pytest.raises(ValueError, match="applies to .parquet files only"):
        qio.read_vectors(tmp_path / "x.fvecs", column="embedding")
    # ragged lists
    ragged = pa.table({"v": pa.array([[1.0, 2.0], [1.0, 2.0], [3.0]])})
    pq.write_table(ragged, tmp_path / "r.parquet")
    with pytest.raises(ValueError, match="column='v' .* row 2 has 1 values, row 0 has 2"):
        qio.read_vectors(tmp_path / "r.parquet", column="v")
    # a null row
    pq.write_table(pa.table({"v": pa.array([[1.0, 2.0], None])}), tmp_path / "n.parquet")
    with pytest.raises(ValueError, match="row 1 is null"):
        qio.read_vectors(tmp_path / "n.parquet")
    # two list columns and no column=
    two = pa.table({"a": _fixed(vectors[:5]), "b": _fixed(vectors[:5])})
    pq.write_table(two, tmp_path / "two.parquet")
    with pytest.raises(ValueError, match="pass column="):
        qio.read_vectors(tmp_path / "two.parquet")
    # files of different dimensions
    _write(tmp_path / "d4.parquet", vectors[:10, :4])
    with pytest.raises(ValueError, match="dimension 4 .* first had 8"):
        qio.read_parquet([tmp_path / "x.parquet", tmp_path / "d4.parquet"], "embedding")
    # not parquet at all
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(qvec.FormatError):
        qio.read_vectors(tmp_path / "bad.parquet")


def test_cli_build_streams_row_groups(tmp_path, vectors, monkeypatch, capsys):
    """``qvec build`` on a folder of parquet files: the same index as from the .npy of the
    same vectors (same training sample, same codes), read batch by batch, never whole."""
    folder = tmp_path / "emb"
    folder.mkdir()
    _write(folder / "part-0.parquet", vectors[:700], row_group_size=200)
    _write(folder / "part-1.parquet", vectors[700:], row_group_size=200)
    np.save(tmp_path / "x.npy", vectors)
    seen = []
    real = qio.iter_parquet

    def spy(*args, **kwargs):
        for batch in real(*args, **kwargs):
            seen.append(batch.shape[0])
            yield batch

    def whole(*args, **kwargs):
        raise AssertionError("qvec build must not read the whole data set")

    monkeypatch.setattr(qio, "iter_parquet", spy)
    monkeypatch.setattr(qio, "read_parquet", whole)
    common = ["--factory", "PQ4x8", "--train-size", "400", "--iters", "3", "-q",
              "--chunk-size", "150"]
    assert cli.main(["build", str(folder), str(tmp_path / "p.qvec"), "--column", "embedding",
                     *common]) == 0
    assert seen and max(seen) <= 200
    assert cli.main(["build", str(tmp_path / "x.npy"), str(tmp_path / "n.qvec"), *common]) == 0
    from_parquet, from_npy = qvec.load(tmp_path / "p.qvec"), qvec.load(tmp_path / "n.qvec")
    np.testing.assert_array_equal(from_parquet.codes, from_npy.codes)
    np.testing.assert_array_equal(from_parquet.pq.codebooks, from_npy.pq.codebooks)
    capsys.readouterr()
    assert cli.main(["build", str(folder), str(tmp_path / "e.qvec"), "--column", "nope",
                     *common]) == 1
    assert "column='nope'" in capsys.readouterr().err
