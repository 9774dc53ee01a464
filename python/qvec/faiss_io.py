"""Reading and writing faiss index files, without faiss.

:func:`read_faiss` turns a file written by ``faiss.write_index`` (or
``faiss.write_index_binary``) into the matching qvec index; :func:`write_faiss` writes a qvec
index that ``faiss.read_index`` (``faiss.read_index_binary`` for a HammingIndex) loads. Both
follow faiss's own serializer (``faiss/impl/index_read.cpp`` and ``index_write.cpp``):
little-endian fields, a four-character code (fourcc) naming each index, vectors stored as a
uint64 element count followed by the elements.

===============================  ==========  ============================================
faiss index                      fourcc      qvec index
===============================  ==========  ============================================
IndexFlatL2 / IndexFlatIP        IxF2 IxFI   :class:`FlatIndex` "l2" / "ip" (IxFl with
                                             either metric too)
IndexPQ (nbits 1..8)             IxPq        :class:`PQIndex` (same codebooks and codes)
IndexPQFastScan (nbits 4)        IPfs        :class:`PQIndex` nbits=4 (the packed blocks
                                             are unpacked to plain codes)
IndexBinaryFlat                  IBxF        :class:`HammingIndex`
IndexIDMap / IndexIDMap2         IxMp IxM2   the inner index with these user ids
IndexBinaryIDMap / IDMap2        IBMp IBM2   the inner HammingIndex with these user ids
IndexIVFFlat                     IwFl        :class:`IVFIndex` codec "flat" (the same
                                             centroids, lists and ids)
IndexIVFPQ (nbits 8 or 4)        IwPQ        :class:`IVFIndex` codec "pq8" / "pq4", the same
                                             by_residual, codebooks, codes and lists
IndexScalarQuantizer (QT_8bit)   IxSQ        :class:`SQ8Index` (codes shifted by 128, ranges
                                             converted, see below)
IndexIVFScalarQuantizer          IwSq IwSQ   :class:`IVFIndex` codec "sq8", the same
(QT_8bit)                                    by_residual (IwSQ: always), codes and lists
===============================  ==========  ============================================

An IVF's coarse quantizer must be an IndexFlat (its vectors are the centroids) and its lists
faiss's in-file "ilar" lists (not an on-disk or mmap'ed OnDiskInvertedLists); the lists are
read into memory (qvec rebuilds its scan layout from them).

Distances are the same as faiss's on the same file (squared L2, inner products, Hamming
counts); 4-bit PQ searches with quantized tables in both libraries, each its own way, so
those results agree closely but not bit for bit. Anything else raises :class:`FormatError`
naming its fourcc. Every count in the file is checked against the bytes that remain before
anything is allocated, so a truncated or crafted file raises FormatError, never a crash or a
huge allocation.

Scalar quantizers: faiss's QT_8bit decodes code c (0..255) as vmin + (c + 0.5) / 255 * vdiff,
qvec decodes code u (-128..127) as lo + (u + 128) * step with step = (hi - lo) / 255. The codes
are kept byte for byte (u = c - 128) and the ranges converted so both decode alike (to float32
rounding): lo = vmin + vdiff / 510, step = vdiff / 255; written back, vmin = lo - step / 2,
vdiff = 255 * step. Vectors added after a conversion are encoded by each library's own rule
(qvec floors onto its grid; faiss, reading a qvec file, rounds to the nearest code).
Other quantizer types (4-bit, uniform, fp16, ...) raise FormatError naming them.

Writing: a FlatIndex or PQIndex with metric "cosine" is written as inner product over its
(stored unit) vectors, so faiss answers like qvec only for normalized queries; vectors kept
for re-ranking (``keep_vectors=True``) are not written (no faiss PQ index holds them). Ids
other than 0..n-1 are written as an IndexIDMap (IndexBinaryIDMap) wrapper, except for an
IVFIndex, whose lists hold the user ids (codecs "flat", "pq8", "pq4"; "binary" has no faiss
counterpart).
"""
from __future__ import annotations

import mmap
import os
import struct
from typing import Any, BinaryIO, Callable, Dict, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _format
from ._errors import FormatError
from .index.base import Index
from .index.flat import FlatIndex
from .index.hamming import HammingIndex
from .index.ids import IdMap
from .index.ivf import IVFIndex
from .index.pq import PQIndex
from .index.sq import RescoreSQ8Index, SQ8Index
from .index.storage import Array, Rows
from .pq import ProductQuantizer

__all__ = ["read_faiss", "write_faiss"]

PathLike = Union[str, "os.PathLike[str]"]

# faiss MetricType values
_METRIC_IP, _METRIC_L2 = 0, 1
_MAX_DIM = 1 << 20            # faiss's own bound on Index::d
_MAX_NESTING = 8              # wrappers around wrappers: a crafted file could nest forever
_FASTSCAN_BLOCK = 32          # IndexPQFastScan block size (bbs) written
# faiss pq4 packing: byte j of a 32-vector half block holds vector _PERM0[j] (low nibble) and
# vector _PERM0[j] + 16 (high nibble)
_PERM0 = np.array([0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15])


# ------------------------------------------------------------------------------------------
# the faiss objects this module knows, parsed
# ------------------------------------------------------------------------------------------
class _Parsed:
    """What a faiss file held: ``kind`` ("flat", "pq", "hamming", "sq8", "ivf_flat", "ivf_pq",
    "ivf_sq8"), dim, metric, the row arrays (as the qvec index keeps them) and the model;
    ``ids`` when an ID map wrapped it or the IVF lists held them."""

    def __init__(self, kind: str, dim: int, ntotal: int, metric: str,
                 rows: Dict[str, Array], model: Optional[Dict[str, Any]] = None) -> None:
        self.kind, self.dim, self.ntotal, self.metric = kind, dim, ntotal, metric
        self.rows = rows
        self.model = model or {}
        self.ids: Optional[npt.NDArray[np.int64]] = None


class _Reader:
    """Sequential little-endian reads over a read-only mapping, bounds-checked."""

    def __init__(self, buf: Union[mmap.mmap, bytes], where: str, keep_mapped: bool) -> None:
        self.buf, self.where, self.keep_mapped = buf, where, keep_mapped
        self.pos = 0
        self.size = len(buf)

    def fail(self, what: str) -> FormatError:
        return FormatError(f"{self.where}: {what} (at byte {self.pos})")

    def take(self, n: int, what: str) -> int:
        """Offset of the next ``n`` bytes, which must lie inside the file."""
        if n < 0 or n > self.size - self.pos:
            raise self.fail(f"file is truncated reading {what} ({n} bytes wanted, "
                            f"{self.size - self.pos} left)")
        start = self.pos
        self.pos += n
        return start

    def scalar(self, fmt: str, what: str) -> Any:
        size = struct.calcsize(fmt)
        return struct.unpack_from(fmt, self.buf, self.take(size, what))[0]

    def i32(self, what: str) -> int:
        return int(self.scalar("<i", what))

    def i64(self, what: str) -> int:
        return int(self.scalar("<q", what))

    def u64(self, what: str) -> int:
        return int(self.scalar("<Q", what))

    def boolean(self, what: str) -> bool:
        b = int(self.scalar("<B", what))
        if b > 1:
            raise self.fail(f"{what} is not a bool (byte {b})")
        return b == 1

    def fourcc(self) -> str:
        raw = bytes(self.buf[self.take(4, "an index type code"):self.pos])
        return raw.decode("latin-1")

    def array(self, dtype: npt.DTypeLike, count: int, what: str) -> Array:
        """``count`` values of ``dtype`` at the current position: a copy, or a read-only view
        of the mapping when the reader keeps it mapped and the values are aligned."""
        dt = np.dtype(dtype)
        if count < 0 or count > (self.size - self.pos) // dt.itemsize:
            raise self.fail(f"file is truncated or corrupt: {what} says {count} values of "
                            f"{dt.itemsize} bytes, {self.size - self.pos} bytes are left")
        start = self.take(count * dt.itemsize, what)
        view = np.frombuffer(self.buf, dtype=dt, count=count, offset=start)
        if self.keep_mapped and start % dt.itemsize == 0:
            return view
        return view.copy()

    def vector(self, dtype: npt.DTypeLike, what: str) -> Array:
        """A faiss std::vector: uint64 count, then the values."""
        return self.array(dtype, self.u64(f"{what} length"), what)


def _metric(r: _Reader, code: int) -> str:
    if code == _METRIC_L2:
        return "l2"
    if code == _METRIC_IP:
        return "ip"
    raise r.fail(f"faiss metric type {code} is not supported (qvec reads METRIC_L2 and "
                 f"METRIC_INNER_PRODUCT)")


def _index_header(r: _Reader) -> Tuple[int, int, str]:
    """faiss ``Index`` fields: int32 d, int64 ntotal, two unused int64, bool is_trained, int32
    metric (and a float32 metric argument for metrics past L2). Returns (d, ntotal, metric)."""
    d = r.i32("d")
    ntotal = r.i64("ntotal")
    if not 0 < d <= _MAX_DIM or ntotal < 0:
        raise r.fail(f"corrupt index header (d={d}, ntotal={ntotal})")
    r.take(16, "header")
    r.boolean("is_trained")
    code = r.i32("metric type")
    if code > 1:
        r.take(4, "metric argument")
    return d, ntotal, _metric(r, code)


def _rows_of(r: _Reader, arr: Array, ntotal: int, width: int, what: str) -> Array:
    if arr.size != ntotal * width:
        raise r.fail(f"{what} holds {arr.size} values, ntotal x {width} = {ntotal * width} "
                     f"expected")
    return arr.reshape(ntotal, width)


def _pq_model(r: _Reader, d: int) -> Tuple[int, int, Array]:
    """faiss ``ProductQuantizer``: uint64 d, M, nbits, then the centroids (M, 2**nbits,
    d / M). Returns (M, nbits, centroids)."""
    pd, m, nbits = r.u64("pq d"), r.u64("pq M"), r.u64("pq nbits")
    if pd != d or not 0 < m <= d or d % m:
        raise r.fail(f"corrupt ProductQuantizer (d={pd}, M={m} for an index of d={d})")
    if not 1 <= nbits <= 8:
        raise r.fail(f"ProductQuantizer with nbits={nbits}: qvec reads nbits 1..8")
    centroids = r.vector(np.float32, "pq centroids")
    ksub = 1 << nbits
    if centroids.size != d * ksub:
        raise r.fail(f"pq centroids hold {centroids.size} values, d x 2**nbits = {d * ksub} "
                     f"expected")
    return m, nbits, centroids.reshape(m, ksub, d // m)


def _read_flat(r: _Reader, fourcc: str, depth: int) -> _Parsed:
    d, ntotal, metric = _index_header(r)
    if fourcc != "IxFl" and metric != {"IxF2": "l2", "IxFI": "ip"}[fourcc]:
        raise r.fail(f"{fourcc} with metric {metric}")
    # stored as a vector of bytes counted in float32 units (faiss's WRITEXBVECTOR)
    vectors = r.vector(np.float32, "flat vectors")
    return _Parsed("flat", d, ntotal, metric,
                   {"vectors": _rows_of(r, vectors, ntotal, d, "flat vectors")})


def _read_pq(r: _Reader, fourcc: str, depth: int) -> _Parsed:
    d, ntotal, metric = _index_header(r)
    m, nbits, centroids = _pq_model(r, d)
    width = (m * nbits + 7) // 8                      # both bit-pack codes the same way
    codes = _rows_of(r, r.vector(np.uint8, "pq codes"), ntotal, width, "pq codes")
    r.i32("search_type")
    r.boolean("encode_signs")
    r.i32("polysemous_ht")
    return _Parsed("pq", d, ntotal, metric, {"codes": codes},
                   {"m": m, "nbits": nbits, "codebooks": centroids})


def _read_pq_fastscan(r: _Reader, fourcc: str, depth: int) -> _Parsed:
    d, ntotal, metric = _index_header(r)
    m, nbits, centroids = _pq_model(r, d)
    if nbits != 4:
        raise r.fail(f"IndexPQFastScan with nbits={nbits} (faiss writes 4)")
    r.i32("implem")
    bbs = r.i32("bbs")
    r.i32("qbs")
    ntotal2, m2 = r.u64("ntotal2"), r.u64("M2")
    if (bbs <= 0 or bbs % 32 or m2 != m + (m & 1) or ntotal2 % bbs
            or not ntotal <= ntotal2 < ntotal + bbs):
        raise r.fail(f"corrupt IndexPQFastScan fields (bbs={bbs}, M2={m2}, ntotal2={ntotal2} "
                     f"for M={m}, ntotal={ntotal})")
    packed = r.vector(np.uint8, "fast-scan codes")
    if packed.size != ntotal2 * m2 // 2:
        raise r.fail(f"fast-scan codes hold {packed.size} bytes, ntotal2 x M2 / 2 = "
                     f"{ntotal2 * m2 // 2} expected")
    codes = unpack_fastscan(packed.astype(np.uint8, copy=False), ntotal, m, bbs)
    return _Parsed("pq", d, ntotal, metric, {"codes": codes},
                   {"m": m, "nbits": 4, "codebooks": centroids})


def _read_id_map(r: _Reader, fourcc: str, depth: int) -> _Parsed:
    binary = fourcc.startswith("IB")
    d, ntotal = (_binary_header(r)[:2] if binary else _index_header(r)[:2])
    inner = _read(r, depth + 1, binary)
    ids = r.vector(np.int64, "id map")
    if inner.ntotal != ntotal or ids.size != ntotal or inner.dim != d:
        raise r.fail(f"{fourcc}: id map of {ids.size} ids, wrapper ntotal {ntotal}, inner "
                     f"index ntotal {inner.ntotal} (d {d} vs {inner.dim}) disagree")
    if inner.ids is None:
        inner.ids = np.asarray(ids, dtype=np.int64)
    else:
        # the inner index (an IVF, or another map) labels its rows 0..ntotal-1 in the map
        if inner.ids.size and (int(inner.ids.min()) < 0 or int(inner.ids.max()) >= ntotal):
            raise r.fail(f"{fourcc}: the inner index's labels are not positions in the map")
        inner.ids = np.asarray(ids, dtype=np.int64)[inner.ids]
    return inner


def _binary_header(r: _Reader) -> Tuple[int, int]:
    """faiss ``IndexBinary`` fields: int32 d (bits), int32 code_size, int64 ntotal, bool
    is_trained, int32 metric. Returns (d, ntotal)."""
    d, code_size, ntotal = r.i32("d"), r.i32("code_size"), r.i64("ntotal")
    if not 0 < d <= _MAX_DIM or d % 8 or code_size != d // 8 or ntotal < 0:
        raise r.fail(f"corrupt binary index header (d={d}, code_size={code_size}, "
                     f"ntotal={ntotal})")
    r.boolean("is_trained")
    r.i32("metric type")
    return d, ntotal


def _read_binary_flat(r: _Reader, fourcc: str, depth: int) -> _Parsed:
    d, ntotal = _binary_header(r)
    codes = _rows_of(r, r.vector(np.uint8, "binary codes"), ntotal, d // 8, "binary codes")
    return _Parsed("hamming", d, ntotal, "hamming", {"codes": codes})


# ------------------------------------------------------------------------------------------
# IVF (IndexIVFFlat, IndexIVFPQ)
# ------------------------------------------------------------------------------------------
def _ivf_header(r: _Reader, depth: int) -> Tuple[int, int, str, int, int, Array]:
    """faiss ``IndexIVF`` fields: the index header, uint64 nlist and nprobe, the coarse
    quantizer (a flat index: its vectors are the centroids) and the direct map (skipped).
    Returns (d, ntotal, metric, nlist, nprobe, centroids)."""
    d, ntotal, metric = _index_header(r)
    nlist, nprobe = r.u64("nlist"), r.u64("nprobe")
    if not 0 < nlist <= r.size:
        raise r.fail(f"corrupt IVF header (nlist={nlist})")
    quantizer = _read(r, depth + 1, False)
    if (quantizer.kind != "flat" or quantizer.ids is not None or quantizer.dim != d
            or quantizer.ntotal != nlist):
        raise r.fail(f"the IVF coarse quantizer must be an IndexFlat of {nlist} centroids of "
                     f"dimension {d}")
    kind = r.scalar("<b", "direct map type")
    r.vector(np.int64, "direct map")
    if kind == 2:
        r.vector(np.int64, "direct map hash table")
    elif kind not in (0, 1):
        raise r.fail(f"unknown direct map type {kind}")
    return d, ntotal, metric, nlist, nprobe, quantizer.rows["vectors"]


def _inverted_lists(r: _Reader, nlist: int, code_size: int, ntotal: int
                    ) -> Tuple[Array, Array, npt.NDArray[np.int64]]:
    """faiss ``ArrayInvertedLists`` ("ilar"): nlist, code_size, the list sizes ("full": all
    of them; "sprs": (list, size) pairs), then each non-empty list's codes and ids. Returns
    (codes (ntotal, code_size), list of each code int32 (ntotal,), ids int64 (ntotal,))."""
    fourcc = r.fourcc()
    if fourcc != "ilar":
        raise r.fail(f"inverted lists of type {fourcc!r} are not supported (qvec reads 'ilar' "
                     f"lists stored in the file)")
    if r.u64("nlist") != nlist or r.u64("code_size") != code_size:
        raise r.fail("the inverted lists disagree with the index on nlist or code_size")
    kind = r.fourcc()
    if kind == "full":
        sizes = r.vector(np.uint64, "list sizes").astype(np.int64)
        if sizes.size != nlist:
            raise r.fail(f"{sizes.size} list sizes for nlist={nlist}")
    elif kind == "sprs":
        pairs = r.vector(np.uint64, "list sizes")
        if pairs.size % 2 or (pairs.size and int(pairs[0::2].max()) >= nlist):
            raise r.fail("corrupt sparse list sizes")
        sizes = np.zeros(nlist, dtype=np.int64)
        sizes[pairs[0::2].astype(np.int64)] = pairs[1::2].astype(np.int64)
    else:
        raise r.fail(f"unknown list size type {kind!r}")
    total = sum(sizes.tolist())          # Python ints: crafted sizes cannot overflow
    if sizes.min() < 0 or total != ntotal:
        raise r.fail(f"the inverted lists hold {total} entries, ntotal is {ntotal}")
    if ntotal * (code_size + 8) > r.size - r.pos:
        raise r.fail(f"file is truncated: {ntotal} list entries of {code_size + 8} bytes do "
                     f"not fit in the {r.size - r.pos} bytes left")
    codes = np.empty((ntotal, code_size), dtype=np.uint8)
    ids = np.empty(ntotal, dtype=np.int64)
    start = 0
    for size in sizes.tolist():
        if size:
            codes[start:start + size] = r.array(np.uint8, size * code_size,
                                                 "list codes").reshape(size, code_size)
            ids[start:start + size] = r.array(np.int64, size, "list ids")
            start += size
    assign = np.repeat(np.arange(nlist, dtype=np.int32), sizes)
    return codes, assign, ids


def _read_ivf_flat(r: _Reader, fourcc: str, depth: int) -> _Parsed:
    d, ntotal, metric, nlist, nprobe, centroids = _ivf_header(r, depth)
    codes, assign, ids = _inverted_lists(r, nlist, 4 * d, ntotal)
    p = _Parsed("ivf_flat", d, ntotal, metric,
                {"assign": assign, "vectors": codes.view("<f4").reshape(ntotal, d)},
                {"nlist": nlist, "nprobe": nprobe, "centroids": centroids})
    p.ids = ids
    return p


def _read_ivf_pq(r: _Reader, fourcc: str, depth: int) -> _Parsed:
    d, ntotal, metric, nlist, nprobe, centroids = _ivf_header(r, depth)
    by_residual = r.boolean("by_residual")
    code_size = r.u64("code_size")
    m, nbits, codebooks = _pq_model(r, d)
    if nbits not in (4, 8):
        raise r.fail(f"IndexIVFPQ with nbits={nbits}: qvec's IVF codecs are pq8 and pq4")
    if code_size != (m if nbits == 8 else (m + 1) // 2):
        raise r.fail(f"IVFPQ code_size {code_size} does not match M={m}, nbits={nbits}")
    codes, assign, ids = _inverted_lists(r, nlist, code_size, ntotal)
    p = _Parsed("ivf_pq", d, ntotal, metric, {"assign": assign, "codes": codes},
                {"nlist": nlist, "nprobe": nprobe, "centroids": centroids, "m": m,
                 "nbits": nbits, "codebooks": codebooks, "by_residual": by_residual})
    p.ids = ids
    return p


# ------------------------------------------------------------------------------------------
# scalar quantizers (IndexScalarQuantizer, IndexIVFScalarQuantizer), QT_8bit only
# ------------------------------------------------------------------------------------------
_QT_NAMES = ("QT_8bit", "QT_4bit", "QT_8bit_uniform", "QT_4bit_uniform", "QT_fp16",
             "QT_8bit_direct", "QT_6bit", "QT_bf16", "QT_8bit_direct_signed")


def _sq_model(r: _Reader, d: int) -> Array:
    """faiss ``ScalarQuantizer``: int32 qtype, int32 rangestat, float32 rangestat_arg, uint64
    d and code_size, then the trained vector (QT_8bit: vmin (d,), vdiff (d,)). Returns qvec's
    ranges float32 (2, d) (module docstring: the conversion)."""
    qtype = r.i32("scalar quantizer type")
    r.take(8, "scalar quantizer range statistic")
    sd, code_size = r.u64("scalar quantizer d"), r.u64("scalar quantizer code_size")
    if qtype != 0:
        name = _QT_NAMES[qtype] if 0 <= qtype < len(_QT_NAMES) else str(qtype)
        raise r.fail(f"scalar quantizer type {name} is not supported (qvec reads QT_8bit)")
    if sd != d or code_size != d:
        raise r.fail(f"corrupt ScalarQuantizer (d={sd}, code_size={code_size} for d={d})")
    trained = np.asarray(r.vector(np.float32, "scalar quantizer ranges"), dtype=np.float64)
    if trained.size != 2 * d:
        raise r.fail(f"QT_8bit ranges hold {trained.size} values, 2 x d = {2 * d} expected")
    vmin, vdiff = trained[:d], trained[d:]
    lo = vmin + vdiff / 510.0
    return np.stack([lo, lo + vdiff]).astype(np.float32)


def _faiss_codes(codes: Array) -> npt.NDArray[np.uint8]:
    """faiss QT_8bit codes (uint8) <-> qvec int8 codes viewed as uint8: code -/+ 128."""
    return np.bitwise_xor(np.asarray(codes).view(np.uint8), np.uint8(0x80))


def _read_sq(r: _Reader, fourcc: str, depth: int) -> _Parsed:
    d, ntotal, metric = _index_header(r)
    ranges = _sq_model(r, d)
    codes = _rows_of(r, r.vector(np.uint8, "scalar quantizer codes"), ntotal, d,
                     "scalar quantizer codes")
    return _Parsed("sq8", d, ntotal, metric, {"codes": _faiss_codes(codes).view(np.int8)},
                   {"ranges": ranges})


def _read_ivf_sq(r: _Reader, fourcc: str, depth: int) -> _Parsed:
    d, ntotal, metric, nlist, nprobe, centroids = _ivf_header(r, depth)
    ranges = _sq_model(r, d)
    if r.u64("code_size") != d:
        raise r.fail("IVFScalarQuantizer code_size does not match d")
    by_residual = True if fourcc == "IwSQ" else r.boolean("by_residual")
    codes, assign, ids = _inverted_lists(r, nlist, d, ntotal)
    p = _Parsed("ivf_sq8", d, ntotal, metric, {"assign": assign, "codes": _faiss_codes(codes)},
                {"nlist": nlist, "nprobe": nprobe, "centroids": centroids, "ranges": ranges,
                 "by_residual": by_residual})
    p.ids = ids
    return p


_Read = Callable[[_Reader, str, int], _Parsed]
_FLOAT_READERS: Dict[str, _Read] = {
    "IxF2": _read_flat, "IxFI": _read_flat, "IxFl": _read_flat, "IxPq": _read_pq,
    "IPfs": _read_pq_fastscan, "IwFl": _read_ivf_flat, "IwPQ": _read_ivf_pq,
    "IxSQ": _read_sq, "IwSq": _read_ivf_sq, "IwSQ": _read_ivf_sq}
_BINARY_READERS: Dict[str, _Read] = {"IBxF": _read_binary_flat}
_ID_MAPS = {"IxMp", "IxM2", "IBMp", "IBM2"}


def _read(r: _Reader, depth: int, binary: Optional[bool]) -> _Parsed:
    """One index at the current position (``binary``: None at the top, else the family the
    wrapper belongs to)."""
    if depth > _MAX_NESTING:
        raise r.fail("index wrappers nested too deeply")
    fourcc = r.fourcc()
    if fourcc in _ID_MAPS and binary in (None, fourcc.startswith("IB")):
        return _read_id_map(r, fourcc, depth)
    readers = {**(_FLOAT_READERS if binary is not True else {}),
               **(_BINARY_READERS if binary is not False else {})}
    reader = readers.get(fourcc)
    if reader is None:
        known = ", ".join(sorted(set(_FLOAT_READERS) | set(_BINARY_READERS) | _ID_MAPS))
        raise FormatError(f"{r.where}: faiss index type {fourcc!r} is not supported by "
                          f"qvec.read_faiss (supported: {known})")
    return reader(r, fourcc, depth)


def _build(p: _Parsed) -> Index[Any]:
    """The qvec index holding what ``p`` describes (no copy of the row arrays, except list
    numbers cast to the index's dtype)."""
    index: Index[Any]
    model: Any = None
    if p.kind == "flat":
        index = FlatIndex(p.dim, p.metric)
    elif p.kind == "hamming":
        index = HammingIndex(p.dim)
    elif p.kind.startswith("ivf"):
        index = _ivf_index(p)
        model = index._state.model
    elif p.kind == "sq8":
        sq_index = SQ8Index(p.dim, p.metric, ranges=p.model["ranges"])
        model = sq_index.quantizer
        index = sq_index
    else:
        pq_index = PQIndex(p.dim, p.model["m"], p.model["nbits"], p.metric)
        pq_index.pq.codebooks = p.model["codebooks"]
        model = pq_index.pq
        index = pq_index
    templates = index._templates
    parts = {name: (arr if name not in templates else arr.astype(templates[name][0], copy=False),)
             for name, arr in p.rows.items()}
    index._restore_state(model, Rows(index._templates, parts), _idmap(p))
    if isinstance(index, IVFIndex) and "codes" in p.rows:
        index._restore_codes(codes=p.rows["codes"])     # IVF keeps its codes in the lists
    return index


def _ivf_index(p: _Parsed) -> IVFIndex:
    """An empty IVFIndex with the file's centroids, codec and codebooks."""
    mdl = p.model
    nlist = mdl["nlist"]
    nprobe = max(1, min(mdl["nprobe"], nlist))
    if p.kind == "ivf_flat":
        index = IVFIndex(p.dim, nlist, "flat", p.metric, nprobe=nprobe)
    elif p.kind == "ivf_sq8":
        index = IVFIndex(p.dim, nlist, "sq8", p.metric, by_residual=mdl["by_residual"],
                         nprobe=nprobe)
        index.quantizer.ranges = mdl["ranges"]    # the fresh index's own codec
    else:
        index = IVFIndex(p.dim, nlist, "pq8" if mdl["nbits"] == 8 else "pq4", p.metric,
                         m=mdl["m"], by_residual=mdl["by_residual"], nprobe=nprobe)
        index.codebooks = mdl["codebooks"]
    index.centroids = np.reshape(mdl["centroids"], (nlist, p.dim))
    return index


def _idmap(p: _Parsed) -> IdMap:
    if p.ids is None:
        return IdMap(p.ntotal, 0, None, p.ntotal)
    ids = p.ids
    if ids.size and (int(ids.min()) < 0 or np.unique(ids).size != ids.size):
        raise FormatError("the faiss id map holds negative or repeated ids; qvec indexes need "
                          "unique ids >= 0")
    if ids.size and bool(np.all(ids == np.arange(ids[0], ids[0] + ids.size))):
        return IdMap(p.ntotal, int(ids[0]), None, int(ids[-1]) + 1)
    return IdMap(p.ntotal, 0, ids, int(ids.max()) + 1 if ids.size else 0)


def read_faiss(path: PathLike, mmap: bool = False) -> Index[Any]:
    """Reads a faiss index file (``faiss.write_index`` / ``write_index_binary``) into the
    matching qvec index: FlatIndex, PQIndex, HammingIndex or IVFIndex, with the user ids of
    an ID-map wrapper (see the module docstring for the types).

    mmap: leave the codes (and aligned float vectors) in the file, memory-mapped read-only,
        instead of copying them into memory.

    Raises FormatError naming the path for an unsupported index type (its fourcc), a
    truncated or corrupt file, or ids qvec cannot hold (negative or repeated).
    """
    where = os.fspath(path)
    with open(where, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 4:
            raise FormatError(f"{where}: not a faiss index file ({size} bytes)")
        buf = _map(f, size)
    try:
        r = _Reader(buf, where, keep_mapped=mmap)
        parsed = _read(r, 0, None)
        if r.pos != size:
            raise FormatError(f"{where}: {size - r.pos} bytes of trailing data after the "
                              f"index (not a single faiss index file?)")
        try:
            return _build(parsed)
        except FormatError as e:
            raise FormatError(f"{where}: {e}") from None
        except ValueError as e:
            raise FormatError(f"{where}: inconsistent faiss index ({e})") from None
    finally:
        _close(buf)


def _map(f: BinaryIO, size: int) -> mmap.mmap:
    return mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ)


def _close(buf: mmap.mmap) -> None:
    """Unmaps ``buf`` unless arrays of the index still view it (mmap=True)."""
    try:
        buf.close()
    except BufferError:
        pass


# ------------------------------------------------------------------------------------------
# 4-bit fast-scan packing (faiss pq4_pack_codes)
# ------------------------------------------------------------------------------------------
def unpack_fastscan(packed: npt.NDArray[np.uint8], n: int, m: int,
                    bbs: int = _FASTSCAN_BLOCK) -> npt.NDArray[np.uint8]:
    """faiss IndexPQFastScan codes (blocks of ``bbs`` vectors; per block, per pair of
    subquantizers, per 32 vectors: 16 bytes for the even subquantizer then 16 for the odd)
    -> qvec 4-bit codes uint8 (n, ceil(m / 2)), subquantizer 2j in the low nibble of byte j.
    """
    pairs = (m + 1) // 2
    nblocks = packed.size // (bbs * pairs)
    # [block, pair, 32-vector group, even/odd subquantizer, byte]
    p = packed.reshape(nblocks, pairs, bbs // 32, 2, 16)
    nib = np.empty((nblocks, bbs // 32, 32, pairs, 2), dtype=np.uint8)
    # byte j holds vector _PERM0[j] in its low nibble and _PERM0[j] + 16 in its high nibble
    nib[:, :, _PERM0] = (p & 15).transpose(0, 2, 4, 1, 3)
    nib[:, :, _PERM0 + 16] = (p >> 4).transpose(0, 2, 4, 1, 3)
    flat = nib.reshape(nblocks * bbs, pairs, 2)[:n]
    return np.ascontiguousarray(flat[:, :, 0] | (flat[:, :, 1] << 4))


def pack_fastscan(codes: npt.NDArray[np.uint8], m: int,
                  bbs: int = _FASTSCAN_BLOCK) -> npt.NDArray[np.uint8]:
    """The inverse of :func:`unpack_fastscan`: qvec 4-bit codes (n, ceil(m / 2)) -> faiss
    fast-scan blocks of ``bbs`` vectors (the last one padded with zero codes)."""
    n, pairs = codes.shape
    nblocks = -(-n // bbs)
    full = np.zeros((nblocks * bbs, pairs, 2), dtype=np.uint8)
    full[:n, :, 0] = codes & 15
    full[:n, :, 1] = codes >> 4
    nib = full.reshape(nblocks, bbs // 32, 32, pairs, 2)
    low = nib[:, :, _PERM0].transpose(0, 3, 1, 4, 2)        # [block, pair, group, sq, byte]
    high = nib[:, :, _PERM0 + 16].transpose(0, 3, 1, 4, 2)
    return np.ascontiguousarray(low | (high << 4)).reshape(-1)


# ------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------
class _Writer:
    def __init__(self, f: BinaryIO) -> None:
        self.f = f

    def pack(self, fmt: str, *values: Any) -> None:
        self.f.write(struct.pack(fmt, *values))

    def fourcc(self, code: str) -> None:
        self.f.write(code.encode("ascii"))

    def vector(self, arr: npt.ArrayLike, dtype: npt.DTypeLike, count: Optional[int] = None
               ) -> None:
        """A faiss std::vector: uint64 ``count`` (default: the number of values), values."""
        a = np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("<"))
        self.pack("<Q", a.size if count is None else count)
        step = max(1, (1 << 24) // max(1, a.itemsize))
        flat = a.reshape(-1)
        for s in range(0, flat.size, step):
            self.f.write(flat[s:s + step].tobytes())

    def index_header(self, d: int, ntotal: int, metric: str) -> None:
        code = _METRIC_L2 if metric == "l2" else _METRIC_IP
        self.pack("<iqqqBi", d, ntotal, 1 << 20, 1 << 20, 1, code)

    def binary_header(self, d: int, ntotal: int) -> None:
        self.pack("<iiqBi", d, d // 8, ntotal, 1, _METRIC_L2)


def _faiss_metric(index: Index[Any]) -> str:
    """The faiss metric of a qvec index: "cosine" is inner product on its unit vectors."""
    return "l2" if index.metric == "l2" else "ip"


def _write_pq_model(w: _Writer, d: int, pq: ProductQuantizer) -> None:
    w.pack("<QQQ", d, pq.m, pq.nbits)
    w.vector(pq.codebooks, np.float32)


def _write_sq_model(w: _Writer, d: int, sq: Any) -> None:
    """QT_8bit, RS_minmax, the ranges as faiss's (vmin, vdiff) (module docstring)."""
    ranges = np.asarray(sq.ranges, dtype=np.float32)
    lo, hi = ranges[0], ranges[1]
    step = (hi - lo) / np.float32(255)                 # float32, as the qvec quantizer's
    step = np.where(hi == lo, np.float32(1), step).astype(np.float64)
    vmin = lo.astype(np.float64) - step / 2
    w.pack("<iif", 0, 0, 0.0)
    w.pack("<QQ", d, d)
    w.vector(np.concatenate([vmin, 255.0 * step]), np.float32)


def _write_inner(w: _Writer, index: Index[Any]) -> None:
    state = index._state
    n = state.idmap.n
    metric = _faiss_metric(index)
    if isinstance(index, FlatIndex):
        w.fourcc("IxF2" if metric == "l2" else "IxFI")
        w.index_header(index.dim, n, metric)
        vectors = state.rows.get("vectors")
        w.vector(vectors, np.float32, count=vectors.size)   # counted in float32 units
    elif isinstance(index, HammingIndex):
        w.fourcc("IBxF")
        w.binary_header(index.dim, n)
        w.vector(state.rows.get("codes"), np.uint8)
    elif isinstance(index, PQIndex):
        if not index.is_trained:
            raise ValueError("write_faiss: the PQIndex is not trained (faiss files hold "
                             "trained quantizers only)")
        pq = index.pq
        codes = state.rows.get("codes")
        w.fourcc("IxPq" if index.nbits != 4 else "IPfs")
        w.index_header(index.dim, n, metric)
        _write_pq_model(w, index.dim, pq)
        if index.nbits != 4:
            w.vector(codes, np.uint8)
            w.pack("<iBi", 0, 0, 0)            # search_type ST_PQ, encode_signs, ht
        else:
            bbs = _FASTSCAN_BLOCK
            w.pack("<iii", 0, bbs, 0)          # implem, bbs, qbs
            w.pack("<QQ", -(-n // bbs) * bbs, index.m + (index.m & 1))
            w.vector(pack_fastscan(np.asarray(codes, dtype=np.uint8), index.m, bbs), np.uint8)
    elif isinstance(index, SQ8Index) and not isinstance(index, RescoreSQ8Index):
        if not index.is_trained:
            raise ValueError("write_faiss: the SQ8Index is not trained (faiss files hold "
                             "trained quantizers only)")
        w.fourcc("IxSQ")
        w.index_header(index.dim, n, metric)
        _write_sq_model(w, index.dim, index.quantizer)
        w.vector(_faiss_codes(state.rows.get("codes")), np.uint8)
    else:
        raise TypeError(f"write_faiss: cannot write a {type(index).__name__} (supported: "
                        f"FlatIndex, PQIndex, HammingIndex, SQ8Index)")


def _write_ivf(w: _Writer, index: IVFIndex) -> None:
    """IndexIVFFlat / IndexIVFPQ: the coarse centroids as an IndexFlat quantizer, no direct
    map, and "ilar" inverted lists holding each list's codes and user ids."""
    if index.codec not in ("flat", "pq8", "pq4", "sq8"):
        raise TypeError(f"write_faiss: cannot write an IVFIndex with codec {index.codec!r} "
                        f"(supported: 'flat', 'pq8', 'pq4', 'sq8')")
    state = index._state
    centroids = state.model.centroids
    if centroids is None or not state.model.trained:
        raise ValueError("write_faiss: the IVFIndex is not trained (faiss files hold trained "
                         "indexes only)")
    n, d, metric = state.idmap.n, index.dim, _faiss_metric(index)
    nlist = int(centroids.shape[0])
    w.fourcc({"flat": "IwFl", "sq8": "IwSq"}.get(index.codec, "IwPQ"))
    w.index_header(d, n, metric)
    w.pack("<QQ", nlist, min(index.nprobe, nlist))
    w.fourcc("IxF2" if metric == "l2" else "IxFI")
    w.index_header(d, nlist, metric)
    w.vector(centroids, np.float32)
    w.pack("<bQ", 0, 0)                        # direct map: none, empty array
    if index.codec == "flat":
        codes = np.asarray(state.rows.get("vectors"), dtype="<f4").view(np.uint8)
    elif index.codec == "sq8":
        _write_sq_model(w, d, index.quantizer)
        w.pack("<QB", d, index.by_residual)
        codes = _faiss_codes(index._row_codes(state))
    else:
        pq = index.quantizer
        w.pack("<BQ", index.by_residual, pq.code_size)
        _write_pq_model(w, d, pq)
        codes = np.asarray(index._row_codes(state), dtype=np.uint8)
    codes = codes.reshape(n, -1)
    assign = np.asarray(state.rows.get("assign"), dtype=np.int64)
    order = np.argsort(assign, kind="stable")
    sizes = np.bincount(assign, minlength=nlist)
    ids = state.idmap.row_ids()
    w.fourcc("ilar")
    w.pack("<QQ", nlist, codes.shape[1])
    w.fourcc("full")
    w.vector(sizes, np.uint64)
    start = 0
    for size in sizes.tolist():
        if size:
            rows = order[start:start + size]
            w.f.write(np.ascontiguousarray(codes[rows]).tobytes())
            w.f.write(np.ascontiguousarray(ids[rows], dtype="<i8").tobytes())
            start += size


def _write(w: _Writer, index: Index[Any]) -> None:
    if isinstance(index, IVFIndex):
        _write_ivf(w, index)              # the inverted lists hold the user ids
        return
    idmap = index._state.idmap
    if idmap.ids is None and idmap.start == 0:
        _write_inner(w, index)
        return
    n = idmap.n
    if isinstance(index, HammingIndex):
        w.fourcc("IBMp")
        w.binary_header(index.dim, n)
    else:
        w.fourcc("IxMp")
        w.index_header(index.dim, n, _faiss_metric(index))
    _write_inner(w, index)
    w.vector(idmap.row_ids(), np.int64)


def write_faiss(index: Index[Any], path: PathLike) -> int:
    """Writes ``index`` (FlatIndex, PQIndex, HammingIndex or IVFIndex) as a faiss index
    file; returns its size in bytes. Read it with ``faiss.read_index(path)``
    (``faiss.read_index_binary`` for a HammingIndex). Ids other than 0..n-1 become an
    IndexIDMap (IndexBinaryIDMap) wrapper (an IVF's lists hold them instead); 8-bit PQ
    becomes IndexPQ, 4-bit PQ IndexPQFastScan, an SQ8Index IndexScalarQuantizer (QT_8bit), an
    IVFIndex IndexIVFFlat, IndexIVFPQ or IndexIVFScalarQuantizer. The
    file is written to a temporary file renamed over ``path``, so a failed write leaves
    ``path`` as it was."""
    # Checked before anything is written: unsupported indexes raise TypeError here.
    if not isinstance(index, (FlatIndex, PQIndex, HammingIndex, IVFIndex, SQ8Index)) \
            or isinstance(index, RescoreSQ8Index):
        raise TypeError(f"write_faiss: cannot write a {type(index).__name__} (supported: "
                        f"FlatIndex, PQIndex, HammingIndex, SQ8Index, IVFIndex)")

    def write(f: BinaryIO) -> int:
        _write(_Writer(f), index)
        return f.tell()

    return _format.write_atomic(path, write)
