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
``.parquet``   one column of fixed-size lists or lists of numbers            float32
=============  ===========================================================  ==============

Parquet (the optional extra ``qvec[parquet]``, pyarrow): ``read_vectors("x.parquet",
column="embedding")`` reads one column of vectors, FixedSizeList<float32> zero-copy, lists of
other numbers converted to float32; :func:`iter_parquet` streams several files row group by
row group, which ``qvec build`` uses to fill an index without loading everything.

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
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from ._errors import FormatError

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["read_vectors", "write_vectors", "read_fvecs", "read_ivecs", "read_bvecs",
           "write_fvecs", "write_ivecs", "write_bvecs", "read_bin", "write_bin", "EXTENSIONS",
           "read_parquet", "iter_parquet", "parquet_shape", "parquet_rows"]

_MAX_DIM = 1 << 24
_CHUNK_ROWS = 1 << 16
_CHECK_BYTES = 1 << 26       # bytes of a mapped TEXMEX file whose row headers are checked at once

_VECS: Dict[str, np.dtype[Any]] = {".fvecs": np.dtype("<f4"), ".ivecs": np.dtype("<i4"),
                                   ".bvecs": np.dtype("u1")}
_BINS: Dict[str, np.dtype[Any]] = {".fbin": np.dtype("<f4"), ".u8bin": np.dtype("u1"),
                                   ".i8bin": np.dtype("i1"), ".ibin": np.dtype("<i4")}
EXTENSIONS = (".npy",) + tuple(_VECS) + tuple(_BINS) + (".parquet",)


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


def read_vectors(path: PathLike, mmap: bool = True,
                 column: Optional[str] = None) -> npt.NDArray[Any]:
    """Reads an (n, d) array from any supported file (chosen by extension, see the module
    docstring). Memory-mapped read-only by default. ``column``: the vector column of a
    .parquet file (see :func:`read_parquet`); other formats take none."""
    ext = _ext(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", os.fspath(path))
    if ext == ".parquet":
        return read_parquet(path, column)
    if column is not None:
        raise ValueError(f"column={column!r} applies to .parquet files only, not "
                         f"{os.fspath(path)!r}")
    return _READERS[ext](path, mmap=mmap)


def write_vectors(path: PathLike, x: npt.ArrayLike) -> None:
    """Writes an (n, d) array to any supported file (chosen by extension)."""
    ext = _ext(path)
    if ext == ".parquet":
        raise ValueError("write_vectors does not write .parquet files (write them with "
                         "pyarrow: a FixedSizeList<float32> column)")
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


# ------------------------------------------------------------------------------------------
# Parquet (pyarrow, optional)
# ------------------------------------------------------------------------------------------
def _pyarrow() -> Any:
    try:
        import pyarrow  # type: ignore[import-untyped, import-not-found, unused-ignore]
        import pyarrow.parquet  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        raise ImportError("reading .parquet files needs pyarrow: pip install 'qvec[parquet]'"
                          ) from None
    return pyarrow


def _parquet_files(paths: Union[PathLike, Sequence[PathLike]]) -> List[str]:
    """One path, a folder (its *.parquet files, sorted) or a sequence of paths."""
    if isinstance(paths, (str, os.PathLike)):
        one = os.fspath(paths)
        if os.path.isdir(one):
            found = sorted(os.path.join(one, f) for f in os.listdir(one)
                           if f.lower().endswith(".parquet"))
            if not found:
                raise ValueError(f"{one!r}: a folder with no .parquet files")
            return found
        files = [one]
    else:
        files = [os.fspath(p) for p in paths]
        if not files:
            raise ValueError("no .parquet files given")
    for f in files:
        if not os.path.isfile(f):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", f)
    return files


def _open_parquet(path: str) -> Any:
    pa = _pyarrow()
    try:
        return pa.parquet.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise FormatError(f"{path}: not a readable parquet file ({e})") from None


def _list_columns(schema: Any) -> List[str]:
    pa = _pyarrow()
    return [f.name for f in schema if pa.types.is_fixed_size_list(f.type)
            or pa.types.is_list(f.type) or pa.types.is_large_list(f.type)]


def _column_name(path: str, schema: Any, column: Optional[str]) -> str:
    """The vector column: ``column``, or the only list column when None."""
    names = list(schema.names)
    if column is None:
        lists = _list_columns(schema)
        if len(lists) != 1:
            raise ValueError(f"{path}: pass column= to say which column holds the vectors "
                             f"(list columns: {lists or 'none'}; all columns: {names})")
        return lists[0]
    if column not in names:
        raise ValueError(f"column={column!r} is not in {path} (columns: {names})")
    return column


def _check_value_type(path: str, column: str, list_type: Any) -> None:
    pa = _pyarrow()
    ok = (pa.types.is_fixed_size_list(list_type) or pa.types.is_list(list_type)
          or pa.types.is_large_list(list_type))
    if ok:
        value = list_type.value_type
        ok = pa.types.is_floating(value) or pa.types.is_integer(value)
    if not ok:
        raise TypeError(f"column={column!r} of {path} has type {list_type}; expected a "
                        f"(fixed-size) list of numbers, e.g. fixed_size_list<float>[d]")


def _to_matrix(path: str, column: str, chunk: Any, first_row: int) -> npt.NDArray[np.float32]:
    """One Arrow array of lists as float32 (n, d): zero-copy for fixed-size lists of float32
    without nulls; equal-length variable lists are converted; rows of differing lengths or
    null rows raise ValueError."""
    pa = _pyarrow()
    n = len(chunk)
    if chunk.null_count:
        bad = first_row + int(np.flatnonzero(chunk.is_null().to_numpy(zero_copy_only=False))[0])
        raise ValueError(f"column={column!r} of {path}: row {bad} is null")
    if pa.types.is_fixed_size_list(chunk.type):
        d = chunk.type.list_size
        values = chunk.flatten()
    else:
        offsets = np.asarray(chunk.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
        lengths = np.diff(offsets)
        d = int(lengths[0]) if n else 0
        if n and np.any(lengths != d):
            bad = int(np.flatnonzero(lengths != d)[0])
            raise ValueError(f"column={column!r} of {path}: row {first_row + bad} has "
                             f"{int(lengths[bad])} values, row {first_row} has {d} (ragged "
                             f"lists cannot form a matrix)")
        values = chunk.flatten()
    if values.null_count:
        raise ValueError(f"column={column!r} of {path}: null values inside the vectors")
    if d < 1 or d > _MAX_DIM:
        raise ValueError(f"column={column!r} of {path}: vectors of dimension {d}")
    # zero-copy for float32 values; other numbers are converted
    flat = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float32)
    return flat.reshape(n, d)


def parquet_shape(paths: Union[PathLike, Sequence[PathLike]],
                  column: Optional[str] = None) -> Tuple[int, int]:
    """(rows, dimension) of the vector column over one or several parquet files, from the
    file footers (and the first row for variable-length lists), without reading the data."""
    files = _parquet_files(paths)
    total, dim = 0, None
    for path in files:
        pf = _open_parquet(path)
        schema = pf.schema_arrow
        name = _column_name(path, schema, column)
        _check_value_type(path, name, schema.field(name).type)
        total += pf.metadata.num_rows
        if dim is None and pf.metadata.num_rows:
            ftype = schema.field(name).type
            if _pyarrow().types.is_fixed_size_list(ftype):
                dim = int(ftype.list_size)
            else:
                dim = next(iter_parquet(path, name, batch_rows=1)).shape[1]
    if dim is None:
        raise ValueError(f"no vectors in {files[0] if len(files) == 1 else files}")
    return total, dim


def iter_parquet(paths: Union[PathLike, Sequence[PathLike]], column: Optional[str] = None,
                 batch_rows: Optional[int] = None) -> Iterator[npt.NDArray[np.float32]]:
    """Streams the vector column of one or several parquet files (a path, a folder of
    *.parquet files, or a list of paths) as float32 (rows, d) arrays, one row group at a time
    (or ``batch_rows`` rows at a time), so memory holds one batch, not the data set. Every
    batch must have the dimension of the first: a file whose vectors differ raises
    ValueError naming it."""
    if batch_rows is not None and (not isinstance(batch_rows, int) or batch_rows < 1):
        raise ValueError(f"batch_rows must be an integer >= 1; got {batch_rows!r}")
    dim: Optional[int] = None
    for path in _parquet_files(paths):
        pf = _open_parquet(path)
        name = _column_name(path, pf.schema_arrow, column)
        _check_value_type(path, name, pf.schema_arrow.field(name).type)
        batches = (pf.iter_batches(batch_size=batch_rows, columns=[name]) if batch_rows
                   else (pf.read_row_group(g, columns=[name])
                         for g in range(pf.num_row_groups)))
        row = 0
        for batch in batches:
            col = batch.column(0)
            for chunk in getattr(col, "chunks", [col]):
                if not len(chunk):
                    continue
                x = _to_matrix(path, name, chunk, row)
                row += x.shape[0]
                if dim is None:
                    dim = x.shape[1]
                elif x.shape[1] != dim:
                    raise ValueError(f"column={name!r} of {path} holds vectors of dimension "
                                     f"{x.shape[1]} from row {row - x.shape[0]}; the first "
                                     f"had {dim}")
                yield x


def parquet_rows(path: PathLike, column: Optional[str] = None, start: int = 0,
                 stop: Optional[int] = None) -> npt.NDArray[np.float32]:
    """Rows [start, stop) (stop None: to the end) of one parquet file's vector column as
    float32 (stop - start, d), reading only the row groups that hold them (a shard's slice
    of a large file). The column rules are :func:`read_parquet`'s."""
    if not isinstance(path, (str, os.PathLike)) or os.path.isdir(os.fspath(path)):
        raise ValueError(f"parquet_rows reads one file; got {path!r}")
    one = _parquet_files(path)[0]
    pf = _open_parquet(one)
    name = _column_name(one, pf.schema_arrow, column)
    _check_value_type(one, name, pf.schema_arrow.field(name).type)
    n = int(pf.metadata.num_rows)
    stop = n if stop is None else stop
    if not 0 <= start <= stop <= n:
        raise ValueError(f"rows [{start}, {stop}) are not within the {n} rows of {one}")
    parts: List[npt.NDArray[np.float32]] = []
    row = 0
    for g in range(pf.num_row_groups):
        size = int(pf.metadata.row_group(g).num_rows)
        lo, hi = max(start, row) - row, min(stop, row + size) - row
        if lo < hi:
            col = pf.read_row_group(g, columns=[name]).column(0).slice(lo, hi - lo)
            at = row + lo
            for chunk in col.chunks:
                if len(chunk):
                    parts.append(_to_matrix(one, name, chunk, at))
                    at += len(chunk)
        row += size
    if not parts:
        return np.empty((0, parquet_shape(one, name)[1] if n else 0), dtype=np.float32)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def read_parquet(paths: Union[PathLike, Sequence[PathLike]],
                 column: Optional[str] = None) -> npt.NDArray[np.float32]:
    """The vector column of one or several parquet files as float32 (n, d).

    column: the column holding the vectors, a FixedSizeList (zero-copy when it is float32,
        in one chunk, without nulls) or a list of numbers (converted; every row must have
        the same length). None: the only list column of the file.

    Raises ValueError naming ``column`` when it is missing, ragged or null, TypeError when
    it is not a list of numbers, FormatError for a file that is not parquet."""
    parts = list(iter_parquet(paths, column))
    if not parts:
        _, dim = parquet_shape(paths, column)     # raises: no vectors
        return np.empty((0, dim), dtype=np.float32)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
