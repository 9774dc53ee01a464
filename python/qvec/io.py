"""Readers and writers for the vector file formats that benchmark data sets ship in.

=============  ===========================================================  ==============
extension      layout (little-endian)                                       values
=============  ===========================================================  ==============
``.npy``       numpy's own format, 2-D                                      any numeric
``.fvecs``     per vector: int32 d, then d float32 (TEXMEX: SIFT1M, GIST1M)  float32
``.ivecs``     per vector: int32 d, then d int32 (ground truth)             int32
``.bvecs``     per vector: int32 d, then d uint8 (SIFT1B)                   uint8
``.fbin``      uint32 n, uint32 d, then n*d float32 (big-ann-benchmarks)    float32
``.u8bin``     uint32 n, uint32 d, then n*d uint8                           uint8
``.i8bin``     uint32 n, uint32 d, then n*d int8                            int8
``.ibin``      uint32 n, uint32 d, then n*d int32 (ground truth ids)        int32
=============  ===========================================================  ==============

Readers return an (n, d) array, memory-mapped read-only by default (``mmap=True``) so files
larger than memory can be streamed in chunks; TEXMEX files then come back as a strided view
(slice rows and convert with ``np.ascontiguousarray``). Headers are validated against the file
size before anything is mapped or allocated, and every row header of a TEXMEX file is checked
(one sequential pass over the mapping; with ``mmap=False``, over the array already read), so a
file whose rows disagree is never read misaligned; a bad file raises :class:`qvec.FormatError`.
Writers take real numeric arrays only: complex values would lose their imaginary part, so they
raise TypeError.
"""
from __future__ import annotations

import errno
import os
from typing import Any, Callable, Dict, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from ._errors import FormatError

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["read_vectors", "write_vectors", "read_fvecs", "read_ivecs", "read_bvecs",
           "write_fvecs", "write_ivecs", "write_bvecs", "read_bin", "write_bin", "EXTENSIONS"]

_MAX_DIM = 1 << 24
_CHUNK_ROWS = 1 << 16
_CHECK_BYTES = 1 << 26       # bytes of a mapped TEXMEX file whose row headers are checked at once

_VECS: Dict[str, np.dtype[Any]] = {".fvecs": np.dtype("<f4"), ".ivecs": np.dtype("<i4"),
                                   ".bvecs": np.dtype("u1")}
_BINS: Dict[str, np.dtype[Any]] = {".fbin": np.dtype("<f4"), ".u8bin": np.dtype("u1"),
                                   ".i8bin": np.dtype("i1"), ".ibin": np.dtype("<i4")}
EXTENSIONS = (".npy",) + tuple(_VECS) + tuple(_BINS)


def _ext(path: PathLike) -> str:
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in EXTENSIONS:
        raise ValueError(f"unsupported vector file extension {ext!r} for {os.fspath(path)!r}; "
                         f"expected one of {', '.join(EXTENSIONS)}")
    return ext


def _size(path: PathLike) -> int:
    st = os.stat(path)
    return st.st_size


# ------------------------------------------------------------------------------------------
# TEXMEX .fvecs / .ivecs / .bvecs
# ------------------------------------------------------------------------------------------
def _check_row_headers(path: str, raw: npt.NDArray[Any], d: int) -> None:
    """Raises FormatError unless every row of ``raw`` (the records of a TEXMEX file, int32
    (n, d + 1) or uint8 (n, 4 + d * itemsize)) starts with the dimension d. Chunked, so a
    mapped file is read once, sequentially, with bounded memory."""
    n = raw.shape[0]
    rows = max(1, _CHECK_BYTES // (raw.shape[1] * raw.itemsize))
    for start in range(0, n, rows):
        block = raw[start:start + rows]
        if raw.dtype == np.uint8:
            heads = np.ascontiguousarray(block[:, :4]).view("<i4").reshape(-1)
        else:
            heads = block[:, 0]
        bad = np.flatnonzero(heads != d)
        if bad.size:
            row = start + int(bad[0])
            raise FormatError(f"{path}: vector {row} has dimension {int(heads[bad[0]])}, the "
                              f"first has {d}")


def _read_vecs(path: PathLike, dtype: np.dtype[Any], mmap: bool) -> npt.NDArray[Any]:
    path = os.fspath(path)
    size = _size(path)
    if size < 4:
        raise FormatError(f"{path}: too short for a vecs file ({size} bytes)")
    with open(path, "rb") as f:
        d = int(np.frombuffer(f.read(4), dtype="<i4")[0])
    if not 1 <= d <= _MAX_DIM:
        raise FormatError(f"{path}: bad dimension {d} in the first vector header")
    row = 4 + d * dtype.itemsize
    if size % row:
        raise FormatError(f"{path}: file size {size} is not a multiple of the vector record "
                          f"size {row} (4 + {d} x {dtype.itemsize} bytes): truncated or not "
                          f"a {os.path.splitext(path)[1]} file")
    n = size // row
    raw: npt.NDArray[Any]
    if dtype.itemsize == 4:
        raw = (np.memmap(path, dtype="<i4", mode="r", shape=(n, d + 1)) if mmap
               else np.fromfile(path, dtype="<i4").reshape(n, d + 1))
        data = raw[:, 1:].view(dtype)
    else:
        raw = (np.memmap(path, dtype="u1", mode="r", shape=(n, row)) if mmap
               else np.fromfile(path, dtype="u1").reshape(n, row))
        data = raw[:, 4:]
    _check_row_headers(path, raw, d)
    return data


def read_fvecs(path: PathLike, mmap: bool = True) -> npt.NDArray[np.float32]:
    """float32 (n, d) from a TEXMEX .fvecs file."""
    return _read_vecs(path, _VECS[".fvecs"], mmap)


def read_ivecs(path: PathLike, mmap: bool = True) -> npt.NDArray[np.int32]:
    """int32 (n, d) from a TEXMEX .ivecs file (e.g. ground-truth neighbour ids)."""
    return _read_vecs(path, _VECS[".ivecs"], mmap)


def read_bvecs(path: PathLike, mmap: bool = True) -> npt.NDArray[np.uint8]:
    """uint8 (n, d) from a TEXMEX .bvecs file."""
    return _read_vecs(path, _VECS[".bvecs"], mmap)


def _write_vecs(path: PathLike, x: npt.ArrayLike, dtype: np.dtype[Any]) -> None:
    x = _as_2d(x, dtype)
    n, d = x.shape
    with open(path, "wb") as f:
        for s in range(0, n, _CHUNK_ROWS):
            block = x[s:s + _CHUNK_ROWS]
            rec = np.empty((block.shape[0], 4 + d * dtype.itemsize), dtype="u1")
            rec[:, :4] = np.frombuffer(np.int32(d).astype("<i4").tobytes(), dtype="u1")
            rec[:, 4:] = np.ascontiguousarray(block, dtype=dtype).view("u1").reshape(
                block.shape[0], -1)
            rec.tofile(f)


def write_fvecs(path: PathLike, x: npt.ArrayLike) -> None:
    """Writes (n, d) vectors as float32 .fvecs."""
    _write_vecs(path, x, _VECS[".fvecs"])


def write_ivecs(path: PathLike, x: npt.ArrayLike) -> None:
    """Writes (n, d) integers as int32 .ivecs."""
    _write_vecs(path, x, _VECS[".ivecs"])


def write_bvecs(path: PathLike, x: npt.ArrayLike) -> None:
    """Writes (n, d) values in 0..255 as uint8 .bvecs."""
    _write_vecs(path, x, _VECS[".bvecs"])


# ------------------------------------------------------------------------------------------
# big-ann-benchmarks .fbin / .u8bin / .i8bin / .ibin
# ------------------------------------------------------------------------------------------
def read_bin(path: PathLike, dtype: Optional[npt.DTypeLike] = None,
             mmap: bool = True) -> npt.NDArray[Any]:
    """(n, d) array from a big-ann-benchmarks file (uint32 n, uint32 d, then n*d values);
    ``dtype`` defaults from the extension (.fbin float32, .u8bin uint8, .i8bin int8, .ibin
    int32)."""
    path = os.fspath(path)
    dt = _bin_dtype(path, dtype)
    size = _size(path)
    if size < 8:
        raise FormatError(f"{path}: too short for a .bin header ({size} bytes)")
    with open(path, "rb") as f:
        n, d = (int(v) for v in np.frombuffer(f.read(8), dtype="<u4"))
    if not 1 <= d <= _MAX_DIM:
        raise FormatError(f"{path}: bad dimension {d} in the header")
    expected = 8 + n * d * dt.itemsize
    if expected != size:
        raise FormatError(f"{path}: header says {n} x {d} {dt} values ({expected} bytes) "
                          f"but the file has {size} bytes")
    if n == 0:
        return np.empty((0, d), dtype=dt)
    if mmap:
        return np.memmap(path, dtype=dt, mode="r", offset=8, shape=(n, d))
    with open(path, "rb") as f:
        f.seek(8)
        out = np.fromfile(f, dtype=dt, count=n * d)
    if out.size != n * d:
        raise FormatError(f"{path}: file shrank while reading")
    return out.reshape(n, d)


def _bin_dtype(path: str, dtype: Optional[npt.DTypeLike]) -> np.dtype[Any]:
    """The value type of a .bin file: ``dtype``, else the one its extension names."""
    if dtype is None:
        named = _BINS.get(os.path.splitext(path)[1].lower())
        if named is None:
            raise ValueError(f"cannot tell the value type of {path!r}: pass dtype")
        return named
    return np.dtype(dtype)


def write_bin(path: PathLike, x: npt.ArrayLike, dtype: Optional[npt.DTypeLike] = None) -> None:
    """Writes (n, d) values in big-ann-benchmarks layout; ``dtype`` defaults from the
    extension."""
    path = os.fspath(path)
    dt = _bin_dtype(path, dtype).newbyteorder("<")
    arr = _as_2d(x, dt)
    with open(path, "wb") as f:
        np.array(arr.shape, dtype="<u4").tofile(f)
        for s in range(0, arr.shape[0], _CHUNK_ROWS):
            np.ascontiguousarray(arr[s:s + _CHUNK_ROWS], dtype=dt).tofile(f)


def _as_2d(x: npt.ArrayLike, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"x must be a real numeric array for a {dtype} file; got {arr.dtype}"
                        + (" (the imaginary part would be lost: write x.real and x.imag, or "
                           "a .npy file)" if arr.dtype.kind == "c" else ""))
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"x must be a 2-D array (n, d) with d >= 1; got shape {arr.shape}")
    if arr.shape[0] >= 1 << 32 or arr.shape[1] > _MAX_DIM:
        raise ValueError(f"x is too large for this format: shape {arr.shape}")
    if dtype.kind in "iu" and arr.dtype.kind == "f":
        raise TypeError(f"x must hold integers for {dtype} output; got {arr.dtype}")
    if dtype.kind in "iu" and arr.size:
        info = np.iinfo(dtype)
        if arr.min() < info.min or arr.max() > info.max:
            raise ValueError(f"x has values outside the {dtype} range "
                             f"[{info.min}, {info.max}]")
    return arr


# ------------------------------------------------------------------------------------------
# any supported file
# ------------------------------------------------------------------------------------------
def _read_npy(path: PathLike, mmap: bool) -> npt.NDArray[Any]:
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, EOFError) as e:
        raise FormatError(f"{os.fspath(path)}: not a valid .npy file ({e})") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 2:
        raise FormatError(f"{os.fspath(path)}: expected a 2-D array; got shape "
                          f"{getattr(arr, 'shape', None)}")
    return arr


_READERS: Dict[str, Callable[..., npt.NDArray[Any]]] = {
    ".npy": _read_npy, ".fvecs": read_fvecs, ".ivecs": read_ivecs, ".bvecs": read_bvecs,
    ".fbin": read_bin, ".u8bin": read_bin, ".i8bin": read_bin, ".ibin": read_bin,
}


def read_vectors(path: PathLike, mmap: bool = True) -> npt.NDArray[Any]:
    """Reads an (n, d) array from any supported file (chosen by extension, see the module
    docstring). Memory-mapped read-only by default."""
    ext = _ext(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", os.fspath(path))
    return _READERS[ext](path, mmap=mmap)


def write_vectors(path: PathLike, x: npt.ArrayLike) -> None:
    """Writes an (n, d) array to any supported file (chosen by extension)."""
    ext = _ext(path)
    if ext == ".npy":
        arr = np.asarray(x)
        if arr.ndim != 2:
            raise ValueError(f"x must be a 2-D array (n, d); got shape {arr.shape}")
        np.save(path, arr, allow_pickle=False)
    elif ext in _VECS:
        _write_vecs(path, x, _VECS[ext])
    else:
        write_bin(path, x, _BINS[ext])


def chunks(n: int, size: int) -> Tuple[Tuple[int, int], ...]:
    """(start, stop) row ranges of at most ``size`` rows covering ``0..n``."""
    return tuple((s, min(n, s + size)) for s in range(0, n, size))
