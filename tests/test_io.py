"""qvec.io readers and writers against files written directly with numpy."""
import numpy as np
import pytest

import qvec
from qvec import io as qio


def _numpy_vecs(path, x, dtype):
    """Writes TEXMEX records (int32 d, then d values) with plain numpy."""
    n, d = x.shape
    with open(path, "wb") as f:
        for row in x:
            np.array([d], dtype="<i4").tofile(f)
            row.astype(dtype).tofile(f)


def _numpy_bin(path, x, dtype):
    with open(path, "wb") as f:
        np.array(x.shape, dtype="<u4").tofile(f)
        x.astype(dtype).tofile(f)


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(3)
    return {"f": rng.standard_normal((37, 12)).astype(np.float32),
            "i": rng.integers(-5, 10**6, size=(37, 12)).astype(np.int32),
            "u": rng.integers(0, 256, size=(37, 12)).astype(np.uint8),
            "s": rng.integers(-128, 128, size=(37, 12)).astype(np.int8)}


CASES = [(".fvecs", "f", "<f4", _numpy_vecs), (".ivecs", "i", "<i4", _numpy_vecs),
         (".bvecs", "u", "u1", _numpy_vecs), (".fbin", "f", "<f4", _numpy_bin),
         (".u8bin", "u", "u1", _numpy_bin), (".i8bin", "s", "i1", _numpy_bin),
         (".ibin", "i", "<i4", _numpy_bin)]


@pytest.mark.parametrize("ext,key,dtype,writer", CASES)
def test_read_numpy_written(tmp_path, arrays, ext, key, dtype, writer):
    x = arrays[key]
    path = tmp_path / ("v" + ext)
    writer(path, x, dtype)
    for mmap in (True, False):
        got = qio.read_vectors(path, mmap=mmap)
        assert got.dtype == np.dtype(dtype) and got.shape == x.shape
        np.testing.assert_array_equal(got, x)
    assert isinstance(qio.read_vectors(path).base, np.memmap) or isinstance(
        qio.read_vectors(path), np.memmap)
    # our writer produces the same bytes
    ours = tmp_path / ("w" + ext)
    qio.write_vectors(ours, x)
    assert ours.read_bytes() == path.read_bytes()


def test_npy(tmp_path, arrays):
    x = arrays["f"]
    np.save(tmp_path / "a.npy", x)
    got = qio.read_vectors(tmp_path / "a.npy")
    assert isinstance(got, np.memmap)
    np.testing.assert_array_equal(got, x)
    qio.write_vectors(tmp_path / "b.npy", x)
    np.testing.assert_array_equal(np.load(tmp_path / "b.npy"), x)
    np.save(tmp_path / "c.npy", np.zeros(3))
    with pytest.raises(qvec.FormatError, match="2-D"):
        qio.read_vectors(tmp_path / "c.npy")
    (tmp_path / "d.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(qvec.FormatError, match="npy"):
        qio.read_vectors(tmp_path / "d.npy")


def test_bad_headers(tmp_path, arrays):
    x = arrays["f"]
    p = tmp_path / "v.fvecs"
    _numpy_vecs(p, x, "<f4")
    data = p.read_bytes()
    p.write_bytes(data[:-3])
    with pytest.raises(qvec.FormatError, match="multiple of the vector record"):
        qio.read_fvecs(p)
    raw = bytearray(data)
    row = 4 + 4 * x.shape[1]
    raw[row * 20:row * 20 + 4] = np.array([11], "<i4").tobytes()
    p.write_bytes(bytes(raw))
    with pytest.raises(qvec.FormatError, match="vector 20 has dimension 11"):
        qio.read_fvecs(p)
    p.write_bytes(np.array([-4], "<i4").tobytes() + data[4:])
    with pytest.raises(qvec.FormatError, match="bad dimension"):
        qio.read_fvecs(p)
    p.write_bytes(b"\x01")
    with pytest.raises(qvec.FormatError, match="too short"):
        qio.read_fvecs(p)

    b = tmp_path / "v.fbin"
    _numpy_bin(b, x, "<f4")
    data = b.read_bytes()
    b.write_bytes(data[:-1])
    with pytest.raises(qvec.FormatError, match="header says 37 x 12"):
        qio.read_vectors(b)
    b.write_bytes(np.array([2**31, 12], "<u4").tobytes() + data[8:])
    with pytest.raises(qvec.FormatError, match="header says"):
        qio.read_vectors(b, mmap=False)

    with pytest.raises(ValueError, match="unsupported vector file extension '.txt'"):
        qio.read_vectors(tmp_path / "v.txt")
    with pytest.raises(FileNotFoundError):
        qio.read_vectors(tmp_path / "missing.fvecs")


def test_writer_checks(tmp_path):
    with pytest.raises(ValueError, match="2-D"):
        qio.write_vectors(tmp_path / "a.fvecs", np.zeros(3))
    with pytest.raises(ValueError, match="range"):
        qio.write_vectors(tmp_path / "a.bvecs", np.array([[300]]))
    with pytest.raises(TypeError, match="integers"):
        qio.write_vectors(tmp_path / "a.ibin", np.zeros((2, 2), np.float32))


def test_row_headers_checked_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(qio, "_CHECK_BYTES", 64)  # a few rows per chunk
    x = np.arange(100 * 3, dtype=np.float32).reshape(100, 3)
    qio.write_fvecs(tmp_path / "big.fvecs", x)
    got = qio.read_fvecs(tmp_path / "big.fvecs")
    np.testing.assert_array_equal(np.ascontiguousarray(got[10:20]), x[10:20])
    np.testing.assert_array_equal(qio.read_fvecs(tmp_path / "big.fvecs", mmap=False), x)
    for path, reader, last in ((tmp_path / "big.fvecs", qio.read_fvecs, 99),
                               (tmp_path / "big.bvecs", qio.read_bvecs, 99)):
        if reader is qio.read_bvecs:
            qio.write_bvecs(path, (x % 256).astype(np.uint8))
        raw = bytearray(path.read_bytes())
        row = len(raw) // 100
        raw[last * row:last * row + 4] = np.int32(4).tobytes()  # the last row, the last chunk
        path.write_bytes(bytes(raw))
        for mmap in (True, False):
            with pytest.raises(qvec.FormatError, match=f"vector {last} has dimension 4"):
                reader(path, mmap=mmap)


@pytest.mark.parametrize("ext", [".fvecs", ".ivecs", ".bvecs"])
def test_every_row_header_is_checked_when_mapped(tmp_path, ext):
    # A bad header on a row that a sample of 4096 rows would skip: the default (mapped) reader
    # used to return the file without noticing.
    n, d = 5000, 2
    sampled = set(np.unique(np.linspace(0, n - 1, 4096).astype(np.int64)).tolist())
    bad_row = next(r for r in range(n) if r not in sampled)
    path = tmp_path / f"v{ext}"
    qio.write_vectors(path, np.ones((n, d), np.uint8 if ext == ".bvecs" else np.float32)
                      if ext != ".ivecs" else np.ones((n, d), np.int32))
    raw = bytearray(path.read_bytes())
    row = len(raw) // n
    raw[bad_row * row:bad_row * row + 4] = np.int32(d + 1).tobytes()
    path.write_bytes(bytes(raw))
    with pytest.raises(qvec.FormatError, match=f"vector {bad_row} has dimension {d + 1}"):
        qio.read_vectors(path)
    with pytest.raises(qvec.FormatError, match=f"vector {bad_row} has dimension"):
        qio.read_vectors(path, mmap=False)


@pytest.mark.parametrize("ext", [".fvecs", ".fbin", ".ivecs", ".bvecs", ".ibin", ".u8bin"])
def test_complex_values_are_refused(tmp_path, ext):
    # Writing would keep only the real part; the file must not be written at all.
    x = np.ones((3, 4), np.complex64) * (1 + 2j)
    with pytest.raises(TypeError, match="complex.*imaginary part"):
        qio.write_vectors(tmp_path / f"c{ext}", x)
    assert not (tmp_path / f"c{ext}").exists()
    with pytest.raises(TypeError, match="real numeric"):
        qio.write_vectors(tmp_path / f"s{ext}", np.array([["a", "b"]]))
