"""Argument checks and numpy conversion shared by the public API.

Every check names the argument and says what was expected, so the message alone tells the user
how to fix the call. Conversions copy only when the input is not already C-contiguous float32.
"""
from __future__ import annotations

import numbers
from typing import Optional

import numpy as np

from . import _core

METRICS = ("l2", "ip")


def _describe(arr: np.ndarray) -> str:
    return f"{arr.dtype} {tuple(arr.shape)}"


def as_float_matrix(x, name: str, dim: Optional[int] = None,
                    check_finite: bool = True) -> np.ndarray:
    """Returns x as a C-contiguous float32 (n, dim) array with n >= 1 and only finite values.

    check_finite=False leaves the NaN/inf check to the caller (e.g. a kernel that detects
    non-finite results as it goes, where a separate pass would double the cost)."""
    if x is None:
        raise TypeError(f"{name} must be an array of shape (n, {dim or 'd'}); got None")
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real numeric array (float32 preferred); "
                        f"got dtype {arr.dtype}")
    expected = f"({'n'}, {dim if dim is not None else 'd'})"
    if arr.ndim != 2:
        hint = f"; for a single vector use {name}.reshape(1, -1)" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be float32 of shape {expected}; got {_describe(arr)}{hint}")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name} must be float32 of shape {expected}; got {_describe(arr)} "
                         f"(dimension mismatch: expected {dim}, got {arr.shape[1]})")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(arr.shape)}")
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported just below
        out = np.ascontiguousarray(arr, dtype=np.float32)
    if check_finite and not _core.all_finite(out):
        raise ValueError(f"{name} contains NaN or infinity"
                         + (" (after conversion to float32)" if arr.dtype != np.float32 else ""))
    return out


def as_codes(codes, name: str, width: Optional[int] = None, kind: str = "uint8") -> np.ndarray:
    """Returns codes as a C-contiguous uint8 (n, width) array with n, width >= 1; width=None
    accepts any. ``kind`` describes the expected dtype in the TypeError (e.g. packed bits)."""
    shape = f"(n, {width if width is not None else 'nbytes'})"
    if codes is None:
        raise TypeError(f"{name} must be a uint8 array of shape {shape}; got None")
    arr = codes if isinstance(codes, np.ndarray) else np.asarray(codes)
    if arr.dtype != np.uint8:
        raise TypeError(f"{name} must be {kind} of shape {shape}; got {_describe(arr)}")
    if arr.ndim != 2:
        hint = f"; for a single code use {name}.reshape(1, -1)" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be uint8 of shape {shape}; got {_describe(arr)}{hint}")
    if width is not None and arr.shape[1] != width:
        raise ValueError(f"{name} must be uint8 of shape {shape}; got {_describe(arr)} "
                         f"(nbytes mismatch: expected {width}, got {arr.shape[1]})")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(arr.shape)}")
    return np.ascontiguousarray(arr)


def check_int(value, name: str, minimum: int = 1) -> int:
    """Returns value as int, requiring an integer (not bool) >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return value


def check_metric(metric) -> str:
    if not isinstance(metric, str) or metric.lower() not in METRICS:
        raise ValueError(f"metric must be one of {METRICS} (for cosine, normalize the vectors "
                         f"and use 'ip'); got {metric!r}")
    return metric.lower()
