"""qvec: quantized vector search.

Product quantization (8-bit codes, and 4-bit codes with fast-scan search; asymmetric and
symmetric search), binary codes (Hamming and asymmetric search), exact search, re-ranking and
batched top-k, indexes that save and memory-map, on a C++ core whose SIMD kernels (scalar,
AVX2, AVX-512) are chosen at run time.
numpy in, numpy out; every search releases the GIL and runs on all cores.
"""
from __future__ import annotations

from . import _core
from ._checks import MAX_K, METRICS, ROTATIONS
from ._errors import FormatError, NotTrainedError
from .binary import BinaryCodes, BinaryQuantizer, hamming_distances, hamming_search
from .evaluate import recall_at_k
from .exact import exact_search, topk
from .fastscan import FastScanCodes
from .pq import ProductQuantizer
from .rerank import rerank
from .index import BinaryIndex, FlatIndex, PQIndex, index_factory, load
from .index import OPQIndex  # train: OPQ
from . import io
# faiss files and HammingIndex (faiss-io)
from .faiss_io import read_faiss, write_faiss
from .index import HammingIndex
# IVF partitioning
from .index.ivf import IVFIndex
# sq8: int8 scalar quantization (sentence-transformers' convention) and its indexes
from .scalar import ScalarQuantizer
from .index.sq import RescoreSQ8Index, SQ8Index
from .index.multivector import MultiVectorIndex  # multivec
from . import cuda
from .cuda import GpuIndex, cuda_available, cuda_device_count, cuda_unavailable_reason

__version__ = "0.1.0"

__all__ = [
    "BinaryCodes",
    "BinaryIndex",
    "BinaryQuantizer",
    "FastScanCodes",
    "FlatIndex",
    "FormatError",
    "HammingIndex",
    "IVFIndex",
    "MAX_K",
    "MultiVectorIndex",  # multivec
    "METRICS",
    "NotTrainedError",
    "PQIndex",
    "ProductQuantizer",
    "ROTATIONS",
    "exact_search",
    "index_factory",
    "io",
    "get_num_threads",
    "hamming_distances",
    "hamming_search",
    "load",
    "recall_at_k",
    "read_faiss",
    "rerank",
    "set_num_threads",
    "simd_level",
    "supported_simd_level",
    "topk",
    "write_faiss",
    # sq8
    "RescoreSQ8Index",
    "SQ8Index",
    "ScalarQuantizer",
    # the CUDA path (qvec.cuda)
    "GpuIndex",
    "cuda",
    "cuda_available",
    "cuda_device_count",
    "cuda_unavailable_reason",
]


def simd_level() -> str:
    """The SIMD level the kernels run at: "avx512", "avx512_skx", "avx2" or "scalar" (highest
    first). Chosen once from the CPU; the environment variable QVEC_SIMD (set before the first
    call) can force a lower one. "avx512_skx" is AVX-512 F/BW/DQ/VL/CD without VBMI or vector
    popcount (Skylake-SP, Cascade Lake)."""
    return _core.simd_level()


def supported_simd_level() -> str:
    """The best SIMD level this CPU supports, whatever QVEC_SIMD says."""
    return _core.supported_simd_level()


def get_num_threads() -> int:
    """Threads used by native calls (defaults to the number of cores)."""
    return _core.get_num_threads()


def set_num_threads(n: int) -> None:
    """Sets the threads used by native calls; n >= 1."""
    from ._checks import check_int

    _core.set_num_threads(check_int(n, "n"))
