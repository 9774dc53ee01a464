"""Saving and loading indexes: each kind's file layout (its named parameters and arrays) on top
of the container of :mod:`qvec._format`. docs/FORMAT.md is the reference.

Layout 2 (written since the index package) is stated per kind below and in the file's
``layout`` parameter; layout 3 differs for the ``ivf`` kind only (see ivf_io.py). Layout 1 is what qvec 0.1.0 wrote (no ``layout`` parameter): identical
for ``flat`` and ``pq``; for ``binary`` it held the quantizer's pickle state (``quantizer``,
``q.*``, ``codes.*``, ``code_fields``, ``codes_class``), which :func:`_binary_rows_layout_1`
and :func:`_binary_model_layout_1` read into the layout-2 names.

Every parameter is checked against the arrays the file holds before anything is built from
it, so a crafted ``dim`` (or ``m``, ``ntotal`` ...) raises FormatError instead of allocating.
"""
from __future__ import annotations

import os
from typing import (Any, Callable, Dict, List, Mapping, Optional, Tuple, Type, TypeVar, Union,
                    cast)

import numpy as np

from .. import _format
from .._errors import FormatError
from ..binary import METHODS, BinaryQuantizer
from ..pq import SUPPORTED_NBITS
from .base import Index, check_index_metric
from .binary import BinaryIndex, spell_rotate
from .flat import FlatIndex
from .hamming import HammingIndex
from .ids import IdMap
from .opq import OPQIndex
from .pq import PQIndex, code_size
from .sq import RescoreSQ8Index, SQ8Index, ranges_mode
from .storage import Array, Rows, Templates

#: The newest layout this qvec reads. Layouts 3 and 4 changed the ``ivf`` kind only (3: its
#: codes live in the inverted lists alone, no row-major ``codes`` array; 4: uint16 list
#: numbers, and list rows of extended codes of more than one bit that keep one level scale;
#: ivf_io.py), so other kinds are still written as layout 2, readable by the qvec versions
#: before it.
LAYOUT = 4
_WRITTEN_LAYOUT = {"ivf": 4}
#: Arrays with one row per vector: memory-mapped by ``load(mmap=True)`` (layout 1 names too).
ROW_ARRAYS = frozenset({"vectors", "ids", "codes", "factors", "sign_dots", "codes.codes", "codes.factors",
                        "bits"})
# IVF: the kind "ivf" (ivf_io.py) and its mapped arrays
from .ivf import IVFIndex  # noqa: E402
from .ivf_io import MAPPED as _IVF_MAPPED, ivf_layout, read_ivf  # noqa: E402
ROW_ARRAYS = ROW_ARRAYS | _IVF_MAPPED
_INT64_MAX = int(np.iinfo(np.int64).max)

Params = Dict[str, Any]
Arrays = Mapping[str, Array]
NamedArrays = List[Tuple[str, Array]]
PathLike = Union[str, "os.PathLike[str]"]
T = TypeVar("T")

# BinaryQuantizer.__setstate__ (dim, bits, metric, rotate, mean, rotation), typed for callers.
_set_quantizer_state: Callable[[BinaryQuantizer, Dict[str, Any]], None] = \
    BinaryQuantizer.__setstate__


# ------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------
def layout(index: Index[Any]) -> Tuple[str, Params, NamedArrays]:
    """(kind, parameters, arrays) of one consistent state of ``index``."""
    state = index._state
    params: Params
    model: NamedArrays = []
    if isinstance(index, (FlatIndex, HammingIndex)):
        params = {}
    elif isinstance(index, PQIndex):
        pq = state.model
        trained = pq is not None and pq.is_trained
        params = {"m": index.m, "nbits": index.nbits, "keep_vectors": index.keeps_vectors,
                  "trained": trained}
        if pq is not None and trained:
            model = [("codebooks", pq.codebooks)]
            if pq.rotation is not None:  # OPQIndex
                model.append(("rotation", pq.rotation))
    elif isinstance(index, BinaryIndex):
        bq = state.model
        params = {"bits": bq.bits, "rotate": index.rotate,
                  "keep_vectors": index.keeps_vectors, "trained": bq.is_trained}
        if index.method != "residual":   # files without it hold residual codes
            params["method"] = index.method
        if bq.is_trained:
            model = [("mean", bq.mean)]
            rotation = bq.rotation
            if rotation is not None:
                model.append(("rotation", rotation))
    elif isinstance(index, IVFIndex):   # IVF: params, model and the inverted lists
        params, model, ivf_lists = ivf_layout(index)
        model = model + ivf_lists
    elif isinstance(index, SQ8Index):     # and RescoreSQ8Index
        params, model = _sq8_layout(index, state.model)
    else:
        raise TypeError(f"cannot save a {type(index).__name__}")
    idmap = state.idmap
    params.update(layout=_WRITTEN_LAYOUT.get(index.kind, 2), dim=index.dim, metric=index.metric, ntotal=idmap.n,
                  next_id=idmap.next_id, id_start=idmap.start if idmap.ids is None else None)
    arrays = model + [(name, state.rows.get(name)) for name in state.rows.templates]
    if idmap.ids is not None:
        arrays.append(("ids", idmap.ids))
    return index.kind, params, arrays


def save(index: Index[Any], path: PathLike) -> int:
    return _format.save_atomic(path, *layout(index))


def to_bytes(index: Index[Any]) -> bytes:
    return _format.to_bytes(*layout(index))


# ------------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------------
def load(path: PathLike, mmap: bool = False, verify: Optional[bool] = None) -> Index[Any]:
    """Loads an index saved with ``index.save(path)``.

    mmap: map the row arrays (codes, factors, kept vectors, ids) read-only instead of reading
        them: loading is immediate, pages are read on demand by search and shared between
        processes. Adding or removing afterwards copies the mapped arrays into memory; the
        file is never written. The file is opened once: the header that is validated and the
        arrays that are mapped come from the same file even if another thread or process
        saves over ``path`` meanwhile.
    verify: check the CRC32 of every array. Default: True without mmap; False with mmap
        (mapped arrays are then only checked for size; the model arrays are always verified).

    ``index.save(path)`` over a file that a live index has mapped is safe (the save writes a
    new file and renames it; the mapping keeps the old one). Truncating or rewriting a mapped
    file in place (``open(path, "r+b")``, ``truncate``, copying another file over it) is not:
    the next search touching a vanished page kills the process with SIGBUS.

    Raises FormatError (a ValueError) naming the path for a truncated, corrupt,
    wrong-version, inconsistent or non-qvec file, and for anything that is not a regular file
    (a FIFO or a device is refused before it is read, so it cannot block).
    """
    path = os.fspath(path)
    container = _format.read_container(path, mmap=mmap, verify=verify,
                                       map_names=ROW_ARRAYS.__contains__)
    try:
        return restore(container)
    except FormatError as e:
        raise FormatError(f"{path}: {e}") from None


def from_bytes(data: bytes) -> Index[Any]:
    return restore(_format.read_container(data))


def restore(container: _format.Container) -> Index[Any]:
    """The index a parsed container describes."""
    reader = _READERS.get(container.kind)
    if reader is None:
        raise FormatError(f"unknown index kind {container.kind!r} (known: {sorted(_READERS)})")
    params = container.params
    version = params.get("layout", 1)
    if not _is_int(version) or not 1 <= version <= LAYOUT:
        raise FormatError(f"index layout {version!r} is not one this qvec reads (1..{LAYOUT}); "
                          f"upgrade qvec")
    try:
        return reader(params, container.arrays, version)
    except FormatError:
        raise
    except (ValueError, TypeError, KeyError) as e:
        raise FormatError(f"inconsistent {container.kind} index parameters: {e}") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _param(params: Params, key: str, kind: Type[T]) -> T:
    value = params.get(key)
    ok = _is_int(value) if kind is int else isinstance(value, kind)
    if not ok:
        raise FormatError(f"parameter {key!r} missing or of the wrong type ({value!r})")
    return cast(T, value)


def _count(params: Params, key: str, minimum: int) -> int:
    value = _param(params, key, int)
    if not minimum <= value <= _INT64_MAX:
        raise FormatError(f"parameter {key!r} out of range ({value})")
    return value


def _array(arrays: Arrays, name: str, dtype: type, shape: Tuple[int, ...]) -> Array:
    arr = arrays.get(name)
    if arr is None or arr.dtype != np.dtype(dtype) or arr.shape != shape:
        got = None if arr is None else f"{arr.dtype} {arr.shape}"
        raise FormatError(f"array {name!r} must be {np.dtype(dtype)} {shape}; got {got}")
    return arr


def _rows(templates: Templates, n: int, arrays: Arrays) -> Rows:
    parts = {name: (_array(arrays, name, dtype.type, (n,) + tail),)
             for name, (dtype, tail) in templates.items()}
    return Rows(templates, parts)


def _idmap(n: int, params: Params, arrays: Arrays) -> IdMap:
    next_id = _count(params, "next_id", 0)
    start = params.get("id_start")
    if start is None:
        ids = _array(arrays, "ids", np.int64, (n,))
        if n and (int(ids.min()) < 0 or int(ids.max()) >= next_id
                  or np.unique(ids).size != n):
            raise FormatError("ids are negative, duplicated or beyond next_id")
        return IdMap(n, 0, np.asarray(ids, dtype=np.int64), next_id)
    if "ids" in arrays or not _is_int(start) or start < 0 or start + n > next_id:
        raise FormatError("inconsistent id parameters")
    return IdMap(n, start, None, next_id)


def _common(params: Params) -> Tuple[int, str, int]:
    """dim, metric, ntotal."""
    return (_count(params, "dim", 1), _param(params, "metric", str),
            _count(params, "ntotal", 0))


def _read_flat(params: Params, arrays: Arrays, version: int) -> Index[Any]:
    dim, metric, n = _common(params)
    index = FlatIndex(dim, metric)          # allocates nothing
    index._restore_state(None, _rows(index._templates, n, arrays), _idmap(n, params, arrays))
    return index


def _read_hamming(params: Params, arrays: Arrays, version: int) -> Index[Any]:
    """arrays codes uint8 (n, dim // 8)."""
    dim, _, n = _common(params)
    if dim % 8:
        raise FormatError(f"dim must be a multiple of 8 bits; got {dim}")
    index = HammingIndex(dim)               # allocates nothing
    index._restore_state(None, _rows(index._templates, n, arrays), _idmap(n, params, arrays))
    return index


def _read_pq(params: Params, arrays: Arrays, version: int,
             cls: Type[PQIndex] = PQIndex) -> Index[Any]:
    """params m, nbits, keep_vectors, trained; arrays codebooks float32 (m, 2**nbits, dim/m)
    if trained, codes uint8 (n, code_size), vectors float32 (n, dim) if keep_vectors; for
    OPQIndex (kind "opq") also rotation float32 (dim, dim) if trained."""
    dim, metric, n = _common(params)
    m = _count(params, "m", 1)
    nbits = _param(params, "nbits", int)
    keep = _param(params, "keep_vectors", bool)
    if dim % m:
        raise FormatError(f"m must divide dim (dim={dim}, m={m})")
    if nbits not in SUPPORTED_NBITS:
        raise FormatError(f"nbits must be one of {SUPPORTED_NBITS}; got {nbits}")
    if _param(params, "trained", bool):
        # checked first: the quantizer allocates exactly what the codebooks hold
        codebooks = _array(arrays, "codebooks", np.float32, (m, 1 << nbits, dim // m))
        rotation = (_array(arrays, "rotation", np.float32, (dim, dim))
                    if cls is OPQIndex else None)
        index = cls(dim, m, nbits, metric, keep_vectors=keep)
        model = index.pq
        model.codebooks = codebooks
        if rotation is not None:
            try:
                model.rotation = rotation
            except ValueError as e:
                raise FormatError(f"bad OPQ rotation: {e}") from None
    else:
        if n:
            raise FormatError("untrained PQ index with stored codes")
        index = cls._unbuilt(dim, m, nbits, check_index_metric(metric), keep)
        model = None
    index._restore_state(model, _rows(index._templates, n, arrays), _idmap(n, params, arrays))
    return index


def _read_binary(params: Params, arrays: Arrays, version: int) -> Index[Any]:
    """params bits, rotate (null, "random" or "itq"), keep_vectors, trained, method (absent:
    "residual"); arrays mean
    float32 (dim,) and rotation float32 (dim, dim) (if trained; rotation only with a
    rotation), codes uint8 (n, bits * ceil(dim / 8)), factors float32 (n, 3 + bits), vectors
    float32 (n, dim) if keep_vectors; method "extended" with bits > 1 also sign_dots float32
    (n, 1) (absent in files written before it: that index keeps the bit-plane scan)."""
    dim, metric, n = _common(params)
    bits = _count(params, "bits", 1)
    keep = _param(params, "keep_vectors", bool)
    trained = _param(params, "trained", bool)
    row_arrays: Optional[Arrays] = arrays
    if version == 1:
        rotate, model_arrays = _binary_model_layout_1(params, arrays, dim, bits, trained)
        row_arrays = _binary_rows_layout_1(params, arrays, n)
    else:
        rotate, model_arrays = params.get("rotate"), arrays
        if rotate is not None and not isinstance(rotate, str):
            raise FormatError(f"parameter 'rotate' of the wrong type ({rotate!r})")
    if trained:       # checked before anything is built
        mean = _array(model_arrays, "mean", np.float32, (dim,))
        rotation = (None if rotate is None else
                    _array(model_arrays, "rotation", np.float32, (dim, dim)))
    elif n:
        raise FormatError("untrained binary index with stored codes")
    method = params.get("method", "residual")
    if method not in METHODS:
        raise FormatError(f"parameter 'method' must be one of {METHODS}; got {method!r}")
    index = BinaryIndex(dim, bits, metric, rotate, keep_vectors=keep,
                        method=method)   # allocates nothing
    model = index.quantizer
    if trained:
        _set_quantizer_state(model, {"dim": dim, "bits": bits, "metric": model.metric,
                                     "rotate": rotate, "method": method, "mean": mean,
                                     "rotation": rotation})
    templates = dict(index._templates)
    if "sign_dots" in templates and (row_arrays is None or "sign_dots" not in row_arrays):
        del templates["sign_dots"]   # written before sign_dots: the bit-plane scan serves it
    rows = Rows(templates) if row_arrays is None else _rows(templates, n, row_arrays)
    index._restore_state(model, rows, _idmap(n, params, arrays))
    return index


def _binary_model_layout_1(params: Params, arrays: Arrays, dim: int, bits: int,
                           trained: bool) -> Tuple[Optional[str], Arrays]:
    """0.1.0: the rotation kind is the quantizer's (``quantizer.rotate``; the index's own
    ``rotate`` was a bool), the model arrays are ``q.mean`` and ``q.rotation``."""
    if not trained:
        return spell_rotate(_param(params, "rotate", bool)), {}
    quantizer = _param(params, "quantizer", dict)
    if quantizer.get("dim") != dim or quantizer.get("bits") != bits:
        raise FormatError("quantizer parameters do not match the index's dim and bits")
    rotate = quantizer.get("rotate")
    if rotate is not None and not isinstance(rotate, str):
        raise FormatError(f"quantizer parameter 'rotate' of the wrong type ({rotate!r})")
    return rotate, {name[2:]: arr for name, arr in arrays.items() if name.startswith("q.")}


def _binary_rows_layout_1(params: Params, arrays: Arrays, n: int) -> Optional[Arrays]:
    """0.1.0: the codes object's fields ``codes.codes`` and ``codes.factors`` (listed in
    ``code_fields``) hold the layout-2 ``codes`` and ``factors``; before the first add there
    were none (None: no rows)."""
    fields = _param(params, "code_fields", list)
    codes_class = params.get("codes_class")
    if not fields and codes_class is None and n == 0:
        return None
    if codes_class != "BinaryCodes" or sorted(fields) != ["codes.codes", "codes.factors"]:
        raise FormatError(f"unknown codes class {codes_class!r} or fields {fields!r}")
    renamed = {"codes": arrays.get("codes.codes"), "factors": arrays.get("codes.factors"),
               "vectors": arrays.get("vectors")}
    return {name: arr for name, arr in renamed.items() if arr is not None}


# -- sq8 / bin_sq8 (qvec.index.sq) ------------------------------------------------------------
def _sq8_layout(index: SQ8Index, sq: Any) -> Tuple[Params, NamedArrays]:
    params: Params = {"keep_vectors": index.keeps_vectors, "trained": sq.is_trained,
                      "ranges_mode": ranges_mode(sq), "quantile": sq._quantile}
    if isinstance(index, RescoreSQ8Index):
        params["rescore"] = index.rescore
    return params, ([("ranges", sq.ranges)] if sq.is_trained else [])


def _read_sq8(params: Params, arrays: Arrays, version: int) -> Index[Any]:
    """params keep_vectors, trained, ranges_mode ("minmax" / "quantile"), quantile (float),
    rescore (bin_sq8 only, >= 1); arrays ranges float32 (2, dim) if trained, codes int8
    (n, dim), bits uint8 (n, ceil(dim / 8)) (bin_sq8 only), vectors float32 (n, dim) if
    keep_vectors."""
    dim, metric, n = _common(params)
    keep = _param(params, "keep_vectors", bool)
    mode = _param(params, "ranges_mode", str)
    quantile = _param(params, "quantile", float)
    ranges = _array(arrays, "ranges", np.float32, (2, dim)) if _param(params, "trained", bool) \
        else None
    if ranges is None and n:
        raise FormatError("untrained sq8 index with stored codes")
    if "rescore" in params:
        index: SQ8Index = RescoreSQ8Index(dim, metric, mode, keep, _count(params, "rescore", 1))
    else:
        index = SQ8Index(dim, metric, mode, keep)
    model = index.quantizer
    model._quantile = quantile if 0.0 <= quantile < 0.5 else model._quantile
    if ranges is not None:
        model.ranges = ranges   # the quantizer validates them (a ValueError -> FormatError)
    index._restore_state(model, _rows(index._templates, n, arrays), _idmap(n, params, arrays))
    return index


_READERS: Dict[str, Callable[[Params, Arrays, int], Index[Any]]] = {
    "flat": _read_flat, "pq": _read_pq, "binary": _read_binary,
    "hamming": _read_hamming,
    "ivf": read_ivf,  # IVF
    "sq8": _read_sq8, "bin_sq8": _read_sq8}

# multivec: the "multivector" kind (its layout lives with the index, docs/FORMAT.md)
from .multivector import read as _read_multivector  # noqa: E402
_READERS["multivector"] = cast(Callable[[Params, Arrays, int], Any], _read_multivector)
# train: OPQ
_READERS["opq"] = lambda params, arrays, version: _read_pq(params, arrays, version, OPQIndex)
