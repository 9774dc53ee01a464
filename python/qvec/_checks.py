"""Argument checks and numpy conversion shared by the public API.

Every check names the argument and says what was expected, so the message alone tells the user
how to fix the call. Conversions copy only when the input is not already C-contiguous float32.
Limits (the largest k, the binary quantizer's bits) are read from ``_core``, which states them.
"""
from __future__ import annotations

import numbers
from typing import Any, Optional, Tuple, TypeVar, Union

import numpy as np
import numpy.typing as npt

from . import _core

#: Metrics every search accepts. "cosine" is computed by the Python layer: it normalizes copies
#: of the vectors and searches by inner product, so results are cosine similarities, largest
#: first.
METRICS = ("l2", "ip", "cosine")
#: Rotations of the binary quantizer and index: None, "random" or "itq" (bools accepted:
#: True is "random", False is None).
ROTATIONS = (None, "random", "itq")
#: The largest k any search accepts (the core's kMaxK).
MAX_K: int = int(_core.MAX_K)

FloatMatrix = npt.NDArray[np.float32]
ByteMatrix = npt.NDArray[np.uint8]
IdMatrix = npt.NDArray[np.int64]
#: What every float search returns: (distances float32, ids int64), one row per query.
SearchResult = Tuple[FloatMatrix, IdMatrix]
Rotation = Union[None, bool, str]

_ResultT = TypeVar("_ResultT", bound=Tuple[Any, ...])
_NORMALIZE_ROWS = 1 << 16


def _describe(arr: np.ndarray[Any, Any]) -> str:
    return f"{arr.dtype} {tuple(arr.shape)}"


def _as_array(x: Any, name: str, kinds: str, wanted: str, shape: str) -> np.ndarray[Any, Any]:
    """x as an ndarray whose dtype kind is one of ``kinds``, else TypeError saying ``wanted``."""
    if x is None:
        raise TypeError(f"{name} must be {wanted} of shape {shape}; got None")
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.dtype.kind not in kinds:
        raise TypeError(f"{name} must be {wanted}; got dtype {arr.dtype}")
    return arr


def check_matrix_shape(arr: np.ndarray[Any, Any], name: str, wanted: str, shape: str,
                       width: Optional[int], width_name: str, single: str) -> None:
    """The shape checks every matrix input shares: 2-D (a 1-D array gets the reshape hint for
    one ``single``), ``width`` columns when given (else a ``width_name`` mismatch), n and
    width >= 1. Raises ValueError saying "{name} must be {wanted} of shape {shape}"."""
    if arr.ndim != 2:
        hint = f"; for a single {single} use {name}.reshape(1, -1)" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be {wanted} of shape {shape}; got {_describe(arr)}{hint}")
    if width is not None and arr.shape[1] != width:
        raise ValueError(f"{name} must be {wanted} of shape {shape}; got {_describe(arr)} "
                         f"({width_name} mismatch: expected {width}, got {arr.shape[1]})")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(arr.shape)}")


def as_float_matrix(x: npt.ArrayLike, name: str, dim: Optional[int] = None,
                    check_finite: bool = True) -> FloatMatrix:
    """Returns x as a C-contiguous float32 (n, dim) array with n >= 1 and only finite values.

    check_finite=False leaves the NaN/inf check to the caller (e.g. a kernel that detects
    non-finite results as it goes, where a separate pass would double the cost)."""
    arr = _as_array(x, name, "fiu", "a real numeric array (float32 preferred)",
                    f"(n, {dim or 'd'})")
    expected = f"({'n'}, {dim if dim is not None else 'd'})"
    check_matrix_shape(arr, name, "float32", expected, dim, "dimension", "vector")
    out: FloatMatrix
    if arr.dtype == np.float32 and arr.flags.c_contiguous:
        out = arr     # as it is: the errstate below costs more than a one-query search's scan
    else:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported just below
            out = np.ascontiguousarray(arr, dtype=np.float32)
    if check_finite and not _core.all_finite(out):
        raise ValueError(f"{name} contains NaN or infinity"
                         + (" (after conversion to float32)" if arr.dtype != np.float32 else ""))
    return out


def as_queries(x: npt.ArrayLike, name: str, dim: Optional[int] = None,
               check_finite: bool = True) -> Tuple[FloatMatrix, bool]:
    """as_float_matrix for search inputs, which also take one vector as a 1-D array: returns
    the (nq, dim) matrix and whether the input was 1-D (see :func:`one_row`)."""
    arr = x if isinstance(x, np.ndarray) or x is None else np.asarray(x)
    single = isinstance(arr, np.ndarray) and arr.ndim == 1
    if single:
        arr = arr.reshape(1, -1)
    return as_float_matrix(arr, name, dim, check_finite), single


def one_row(result: _ResultT, single: bool) -> _ResultT:
    """The first row of each array of a search result when the query was 1-D, so a 1-D query
    gives results of shape (k,)."""
    if not single:
        return result
    return type(result)(part[0] for part in result)


def as_codes(codes: npt.ArrayLike, name: str, width: Optional[int] = None,
             kind: str = "uint8") -> ByteMatrix:
    """Returns codes as a C-contiguous uint8 (n, width) array with n, width >= 1; width=None
    accepts any. ``kind`` describes the expected dtype in the TypeError (e.g. packed bits)."""
    shape = f"(n, {width if width is not None else 'nbytes'})"
    if codes is None:
        raise TypeError(f"{name} must be a uint8 array of shape {shape}; got None")
    arr = codes if isinstance(codes, np.ndarray) else np.asarray(codes)
    if arr.dtype != np.uint8:
        raise TypeError(f"{name} must be {kind} of shape {shape}; got {_describe(arr)}")
    check_matrix_shape(arr, name, "uint8", shape, width, "nbytes", "code")
    out: ByteMatrix = np.ascontiguousarray(arr)
    return out


def as_query_codes(codes: npt.ArrayLike, name: str, width: Optional[int] = None,
                   kind: str = "uint8") -> Tuple[ByteMatrix, bool]:
    """as_codes for the query side of a search, which also takes one code as a 1-D array:
    returns the (nq, width) codes and whether the input was 1-D."""
    arr = codes if isinstance(codes, np.ndarray) or codes is None else np.asarray(codes)
    single = isinstance(arr, np.ndarray) and arr.ndim == 1
    if single:
        arr = arr.reshape(1, -1)
    return as_codes(arr, name, width, kind), single


def as_packed_bits(codes: npt.ArrayLike, name: str, width: Optional[int] = None,
                   kind: str = "uint8") -> ByteMatrix:
    """as_codes for packed bits, which also takes sentence-transformers' "binary" precision:
    int8 codes ``packbits(x > 0) - 128`` are the "ubinary" bytes with the top bit flipped
    (b - 128 == b ^ 0x80 modulo 256), flipped back here (a copy)."""
    arr = codes if isinstance(codes, np.ndarray) or codes is None else np.asarray(codes)
    if isinstance(arr, np.ndarray) and arr.dtype == np.int8:
        arr = arr.view(np.uint8) ^ np.uint8(0x80)
    return as_codes(arr, name, width, kind)


def as_query_bits(codes: npt.ArrayLike, name: str,
                  kind: str = "uint8") -> Tuple[ByteMatrix, bool]:
    """as_query_codes for packed bits, taking the int8 "binary" convention as as_packed_bits."""
    arr = codes if isinstance(codes, np.ndarray) or codes is None else np.asarray(codes)
    single = isinstance(arr, np.ndarray) and arr.ndim == 1
    if single:
        arr = arr.reshape(1, -1)
    return as_packed_bits(arr, name, None, kind), single


def as_ids(ids: npt.ArrayLike, name: str, rows: int) -> Tuple[IdMatrix, bool]:
    """Returns row ids as C-contiguous int64 (rows, c), and whether the input was 1-D (one
    query's ids). -1 is the padding of a search result; any other negative id, and any value
    outside int64 (a uint64 2**64 - 1 would wrap to -1 and pass as padding), is an IndexError,
    as is any id the callee finds outside its rows."""
    arr = _as_array(ids, name, "iu", "an integer array (int64 preferred)", f"({rows}, c)")
    single = arr.ndim == 1 and rows == 1
    if single:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[0] != rows:
        raise ValueError(f"{name} must have shape (nq, c) = ({rows}, c), one row per query; got "
                         f"{tuple(arr.shape)}")
    if arr.size:
        if arr.dtype.kind == "u" and arr.dtype.itemsize == 8:
            top = int(arr.max())
            if top > np.iinfo(np.int64).max:
                raise IndexError(f"{name} holds {top}, out of range: ids are int64 row numbers "
                                 f"(a uint64 id beyond int64 is not the -1 padding)")
        elif arr.dtype.kind == "i":
            low = int(arr.min())
            if low < -1:
                raise IndexError(f"{name} holds {low}, out of range: ids are row numbers >= 0, "
                                 f"or -1 for padding")
    out: IdMatrix = np.ascontiguousarray(arr, dtype=np.int64)
    return out, single


def check_int(value: Any, name: str, minimum: int = 1) -> int:
    """Returns value as int, requiring an integer (not bool) >= minimum."""
    if type(value) is int:      # the usual case, without the ABC check (a search calls this
        if value < minimum:     # a few times; the Integral check alone was ~1 us each)
            raise ValueError(f"{name} must be >= {minimum}; got {value}")
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}")
    number = int(value)
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {number}")
    return number


def check_k(k: Any) -> int:
    """Returns k as int, requiring 1 <= k <= MAX_K (the core's limit)."""
    number = check_int(k, "k")
    if number > MAX_K:
        raise ValueError(f"k must be <= {MAX_K}; got {number}")
    return number


def check_metric(metric: Any, allow_cosine: bool = False) -> str:
    """Returns the metric in lower case: "l2" or "ip", and "cosine" when ``allow_cosine``."""
    allowed = METRICS if allow_cosine else METRICS[:2]
    if not isinstance(metric, str) or metric.lower() not in allowed:
        hint = "" if allow_cosine else " (for cosine, normalize the vectors and use 'ip')"
        raise ValueError(f"metric must be one of {allowed}{hint}; got {metric!r}")
    return metric.lower()


def core_metric(metric: str) -> str:
    """The metric the native search runs for a checked ``metric``: cosine is inner product of
    normalized vectors."""
    return "ip" if metric == "cosine" else metric


def check_rotate(rotate: Rotation) -> Optional[str]:
    """Returns the rotation None, "random" or "itq"; True means "random" and False None."""
    if isinstance(rotate, (bool, np.bool_)):
        return "random" if rotate else None
    if isinstance(rotate, str) and rotate.lower() in ROTATIONS[1:]:
        return rotate.lower()
    if rotate is None:
        return None
    raise ValueError(f"rotate must be one of {ROTATIONS} (or a bool); got {rotate!r}")


def normalized(x: FloatMatrix) -> FloatMatrix:
    """A copy of x with every row scaled to unit L2 norm (an all-zero row stays zero). Norms
    are summed in float64, so rows whose squares overflow float32 still normalize."""
    out: FloatMatrix = np.empty_like(x)
    for start in range(0, x.shape[0], _NORMALIZE_ROWS):
        block = x[start:start + _NORMALIZE_ROWS]
        norms = np.sqrt(np.einsum("ij,ij->i", block, block, dtype=np.float64))
        # One multiply by the float32 inverse: a masked divide of the whole block costs twice.
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        np.multiply(block, inverse.astype(np.float32)[:, None],
                    out=out[start:start + _NORMALIZE_ROWS])
    return out
