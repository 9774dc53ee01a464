"""The optional CUDA path: the same searches on one GPU, numpy in and numpy out.

    qvec.cuda_available()                       # False without a GPU, a driver or a CUDA build
    qvec.cuda_unavailable_reason()              # why not ("" when available)
    pq.search(q, codes, k, device="cuda")       # uploads the codes for this call
    gpu = index.to_gpu("cuda:0")                # codes stay on the device across searches
    dist, ids = gpu.search(q, k)                # = index.search(q, k, device="cuda:0")

``device`` is "cpu" (the default everywhere), "cuda" (device 0) or "cuda:N". GPU searches give
the CPU's ids (up to ties between equal distances) and distances: bit for bit for Hamming and
the asymmetric binary estimator, float ADC / exact distances summed in another order (relative
differences of about 1e-6) for PQ and exact search. PQ 4-bit codes are scored with float tables
on the GPU, which is the CPU's ``rescore="exact"``. k is at most :data:`MAX_K` (4096) there.
Large query batches are sent in chunks on two CUDA streams, copies overlapping the scans.
Errors: :class:`CudaUnavailableError` (no GPU), :class:`GpuOutOfMemoryError` (a MemoryError),
ValueError for a bad device id or k; the CPU path keeps working after any of them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Tuple

import numpy as np
import numpy.typing as npt

from . import _core

if TYPE_CHECKING:
    from .index.base import Index, SearchResult, State

#: Largest k of a GPU search.
MAX_K: int = int(_core.CUDA_MAX_K)

CudaUnavailableError = _core.CudaUnavailableError
GpuOutOfMemoryError = _core.GpuOutOfMemoryError
CudaError = _core.CudaError

__all__ = ["MAX_K", "CudaError", "CudaUnavailableError", "GpuIndex", "GpuOutOfMemoryError",
           "cuda_available", "cuda_device_count", "cuda_unavailable_reason", "parse_device"]


def cuda_available() -> bool:
    """Whether GPU searches can run: qvec built with CUDA, a driver, at least one device."""
    return bool(_core.cuda_available())


def cuda_unavailable_reason() -> str:
    """Why :func:`cuda_available` is False ("" when it is True)."""
    return str(_core.cuda_unavailable_reason())


def cuda_device_count() -> int:
    """CUDA devices visible to qvec (0 when unavailable)."""
    return int(_core.cuda_device_count())


def parse_device(device: object) -> Optional[int]:
    """None for "cpu", the device id for "cuda" (0) and "cuda:N"; ValueError otherwise. Does
    not check that the device exists (see :func:`gpu_device`)."""
    if isinstance(device, str):
        name = device.strip().lower()
        if name == "cpu":
            return None
        if name == "cuda":
            return 0
        if name.startswith("cuda:") and name[5:].isdigit():
            return int(name[5:])
    raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N'; got {device!r}")


def gpu_device(device: object) -> Optional[int]:
    """:func:`parse_device`, and for a GPU the check that it is usable: CudaUnavailableError
    (with the reason) without one, ValueError for an id past the last device."""
    if device == "cpu":          # every search passes here: skip the parse
        return None
    dev = parse_device(device)
    if dev is not None:
        _core.cuda_check_device(dev)
    return dev


# -- one-call searches of the quantizers (the codes are uploaded for the call) ---------------
def pq_search(pq: Any, queries: npt.NDArray[np.float32], codes: npt.NDArray[np.uint8], k: int,
              device: int) -> "SearchResult":
    result: SearchResult = _core.gpu_index_pq(device, pq, codes).search(queries, k)
    return result


def binary_search(bq: Any, queries: npt.NDArray[np.float32], codes: npt.NDArray[np.uint8],
                  factors: npt.NDArray[np.float32], k: int, query_bits: int,
                  device: int) -> "SearchResult":
    gpu = _core.gpu_index_binary(device, bq, codes, factors)
    result: SearchResult = gpu.search(queries, k, query_bits)
    return result


def hamming_search(queries: npt.NDArray[np.uint8], codes: npt.NDArray[np.uint8], k: int,
                   device: int) -> Tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    gpu = _core.gpu_index_hamming(device, codes)
    result: Tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]] = gpu.search_hamming(queries, k)
    return result


def exact_search(queries: npt.NDArray[np.float32], base: npt.NDArray[np.float32], k: int,
                 metric: str, device: int) -> "SearchResult":
    result: SearchResult = _core.gpu_index_exact(device, base, metric).search(queries, k)
    return result


# -- indexes -----------------------------------------------------------------------------
def _upload(index: "Index[Any]", state: "State[Any]", device: int) -> Any:
    """The GPU copy of ``state``'s rows for this index kind."""
    from .binary import default_query_bits

    rows = state.rows
    kind = index.kind
    if kind == "flat":
        return _core.gpu_index_exact(device, np.ascontiguousarray(rows.get("vectors")),
                                    index._codec_metric), 0
    if kind == "pq":
        return _core.gpu_index_pq(device, state.model._pq,
                                 np.ascontiguousarray(rows.get("codes"))), 0
    if kind == "binary":
        model = state.model
        return (_core.gpu_index_binary(device, model._bq, np.ascontiguousarray(rows.get("codes")),
                                      np.ascontiguousarray(rows.get("factors"))),
                default_query_bits(model.bits))
    raise ValueError(f"{type(index).__name__} has no GPU search (FlatIndex, PQIndex and "
                     f"BinaryIndex have)")


def search_rows(index: "Index[Any]", state: "State[Any]", queries: npt.NDArray[np.float32],
                k: int, device: int) -> "SearchResult":
    """(distances, rows) of ``state`` on the GPU. The upload is cached with the state (any add
    or remove makes a new one), so the codes stay on the device across searches."""
    key = f"cuda:{device}"
    gpu = state.memo.get(key)
    if gpu is None:
        gpu = state.memo.setdefault(key, _upload(index, state, device))
    handle, query_bits = gpu
    result: SearchResult = handle.search(queries, k, query_bits)
    return result


class GpuIndex:
    """An index searched on one GPU (from :meth:`qvec.FlatIndex.to_gpu` and the other indexes'
    ``to_gpu``): its codes are uploaded once and kept on the device while the index does not
    change; after an ``add`` or ``remove`` the next search uploads the new codes. ``search``
    is the index's search with ``device`` fixed."""

    def __init__(self, index: "Index[Any]", device: object = "cuda") -> None:
        dev = gpu_device(device)
        if dev is None:
            raise ValueError("to_gpu() needs a CUDA device ('cuda' or 'cuda:N'); got 'cpu'")
        self._index = index
        self._device = f"cuda:{dev}"
        state = index._state
        index._require_trained(state)
        if state.idmap.n:
            search_rows(index, state, np.zeros((1, index.dim), np.float32), 1, dev)

    @property
    def device(self) -> str:
        return self._device

    @property
    def index(self) -> "Index[Any]":
        """The CPU index this searches."""
        return self._index

    def search(self, queries: npt.ArrayLike, k: int,
               rerank: Optional[int] = None) -> "SearchResult":
        """As the index's ``search`` (rerank runs on the CPU), on this GPU."""
        return self._index.search(queries, k, rerank=rerank, device=self._device)

    def __repr__(self) -> str:
        return f"GpuIndex({self._index!r}, device={self._device!r})"
