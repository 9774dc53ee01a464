"""The file layout of the ``ivf`` index kind (docs/FORMAT.md, "ivf"): what
:mod:`qvec.index.persistence` writes and reads for an :class:`IVFIndex`.

params   nlist (null: chosen at fit, untrained), codec, m, bits, by_residual, keep_vectors,
         nprobe, trained, method (binary, only when "extended"; absent: "residual") (and the
         common dim, metric, ntotal, ids parameters)
model    centroids float32 (nlist, dim); PQ: codebooks float32 (m, 2**nbits, dim / m);
         binary: mean float32 (dim,), rotation float32 (dim, dim) (when trained); sq8: ranges
         float32 (2, dim)
rows     assign uint16 (n,) (int32 when nlist > 65536; layouts before 4 hold int32, read
         into memory as uint16 when nlist <= 65536); vectors float32 (n, dim) (flat, or
         keep_vectors); layout 2 files also hold codes uint8 (n, row_bytes) (not for "flat"),
         a second copy of the lists' codes in row order: read files ignore it, layout 3 and
         later drop it
lists    lists.offsets uint64 (nlist + 1,), lists.bytes uint64 (nlist + 1,), lists.codes uint8
         (bytes,), lists.rows int64 (n,): the inverted lists in the codec's scan layout, mapped
         by ``load(mmap=True)`` so a search reads them from the file. Binary rows of extended
         codes of more than one bit keep [||x_r||^2, <x - mean, mean>, rho, alpha_0] and the
         sign dot (alpha_l = alpha_0 2^-l) in layout 4 (written now); files before it kept
         every alpha_l and are compacted into memory when read
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple, cast

import numpy as np

from .. import _core  # type: ignore[attr-defined, unused-ignore]
from .._errors import FormatError
from ..binary import METHODS, BinaryQuantizer
from ..scalar import ScalarQuantizer
from .ivf import CODECS, IVFIndex, IvfModel
from .storage import Array

#: Arrays of an ivf file with one entry per vector or list byte: mapped by load(mmap=True).
MAPPED = frozenset({"assign", "lists.codes", "lists.rows"})
_LIST_ARRAYS = ("lists.offsets", "lists.bytes", "lists.codes", "lists.rows")


def ivf_layout(index: IVFIndex) -> Tuple[Dict[str, Any], List[Tuple[str, Array]],
                                         List[Tuple[str, Array]]]:
    """(params, model arrays, list arrays) of one consistent state of ``index``."""
    state = index._state
    model = state.model
    trained = model.trained
    params: Dict[str, Any] = {
        "nlist": index.nlist, "codec": index.codec, "m": index._m, "bits": index._bits,
        "by_residual": index.by_residual, "keep_vectors": index._keep, "nprobe": index.nprobe,
        "trained": trained}
    if index.method != "residual":      # files without it hold residual codes
        params["method"] = index.method
    arrays: List[Tuple[str, Array]] = []
    if trained:
        arrays.append(("centroids", np.asarray(model.centroids)))
        codec = model.codec
        if isinstance(codec, ScalarQuantizer):
            arrays.append(("ranges", codec.ranges))
        elif codec is not None and index.codec != "binary":
            arrays.append(("codebooks", codec.codebooks))
        elif codec is not None:
            arrays.append(("mean", codec.mean))
            if codec.rotation is not None:
                arrays.append(("rotation", codec.rotation))
    lists: List[Tuple[str, Array]] = []
    if trained and state.idmap.n:
        built = index._lists(state)
        lists = list(zip(_LIST_ARRAYS, (built.offsets, built.code_offsets, built.codes,
                                        built.ids)))
    return params, arrays, lists


def read_ivf(params: Mapping[str, Any], arrays: Mapping[str, Array], version: int) -> IVFIndex:
    """The IVFIndex an ``ivf`` file describes (every parameter checked against its arrays)."""
    from . import persistence as p

    dim, metric, n = p._common(dict(params))
    codec = p._param(dict(params), "codec", str)
    if codec not in CODECS:
        raise FormatError(f"unknown IVF codec {codec!r}")
    trained = p._param(dict(params), "trained", bool)
    nlist_value = params.get("nlist")
    nlist: Optional[int] = None if nlist_value is None else p._count(dict(params), "nlist", 1)
    centroids = None
    if trained:
        if nlist is None:
            raise FormatError("a trained IVF index must state nlist")
        centroids = p._array(arrays, "centroids", np.float32, (nlist, dim))
    elif n:
        raise FormatError("untrained IVF index with stored vectors")
    m = p._count(dict(params), "m", 0)
    bits = p._count(dict(params), "bits", 0)
    method = params.get("method", "residual")
    if method not in METHODS or (method != "residual" and codec != "binary"):
        raise FormatError(f"parameter 'method' must be one of {METHODS} (not residual only "
                          f"for codec 'binary'); got {method!r} for codec {codec!r}")
    index = IVFIndex(dim, nlist, codec, metric, m=m or None, bits=bits or 1, method=method,
                     by_residual=p._param(dict(params), "by_residual", bool),
                     keep_vectors=p._param(dict(params), "keep_vectors", bool),
                     nprobe=p._count(dict(params), "nprobe", 1))
    model = index._state.model
    if trained:
        frozen = np.array(centroids, dtype=np.float32)
        frozen.setflags(write=False)
        model = IvfModel(frozen, _codec_state(index, arrays, dim), index.by_residual)
    # (layout 2's row-major "codes" are ignored)
    rows = p._rows(index._templates, n, _narrow_assign(index, arrays))
    index._restore_state(model, rows, p._idmap(n, dict(params), arrays))
    if trained and n:
        index._restore_codes(lists=_lists(index, arrays, n, version))
    return index


def _narrow_assign(index: IVFIndex, arrays: Mapping[str, Array]) -> Mapping[str, Array]:
    """Files of layouts before 4 hold int32 list numbers: read into memory as the index's
    dtype (assign_dtype), each checked to name a list."""
    assign, dtype = arrays.get("assign"), index._templates["assign"][0]
    if assign is None or assign.dtype != np.int32 or dtype == np.int32:
        return arrays
    if assign.size and (int(assign.min()) < 0 or int(assign.max()) >= int(index.nlist or 0)):
        raise FormatError("array 'assign' names lists outside [0, nlist)")
    return {**arrays, "assign": assign.astype(dtype)}


def _geometric(index: IVFIndex) -> bool:
    """Extended codes of more than one bit: list rows with one level scale (layout 4)."""
    return index.codec == "binary" and index.method == "extended" and index._bits > 1


def _codec_state(index: IVFIndex, arrays: Mapping[str, Array], dim: int) -> Any:
    from . import persistence as p

    codec = index._state.model.codec
    if codec is None:
        return None
    if isinstance(codec, BinaryQuantizer):
        mean = p._array(arrays, "mean", np.float32, (dim,))
        rotation = arrays.get("rotation")
        if rotation is not None:
            rotation = p._array(arrays, "rotation", np.float32, (dim, dim))
        p._set_quantizer_state(codec, {"dim": dim, "bits": codec.bits, "metric": codec.metric,
                                       "rotate": codec.rotate, "method": codec.method,
                                       "mean": mean,
                                       "rotation": rotation})
        return codec
    if isinstance(codec, ScalarQuantizer):
        try:
            codec.ranges = p._array(arrays, "ranges", np.float32, (2, dim))
        except ValueError as e:
            raise FormatError(f"invalid sq8 ranges: {e}") from None
        return codec
    codec.codebooks = p._array(arrays, "codebooks", np.float32,
                               (codec.m, 1 << codec.nbits, dim // codec.m))
    return codec


def _lists(index: IVFIndex, arrays: Mapping[str, Array], n: int, version: int) -> Any:
    from . import persistence as p

    nlist = int(index.nlist or 0)
    offsets = p._array(arrays, "lists.offsets", np.uint64, (nlist + 1,))
    code_offsets = p._array(arrays, "lists.bytes", np.uint64, (nlist + 1,))
    codes = arrays.get("lists.codes")
    if codes is None or codes.dtype != np.uint8 or codes.ndim != 1:
        raise FormatError("array 'lists.codes' must be uint8 (bytes,)")
    rows = p._array(arrays, "lists.rows", np.int64, (n,))
    if version < 4 and _geometric(index):
        code_offsets, codes = _compact_scales(index, offsets, code_offsets, codes, n)
    lists = _core.IvfListArrays(offsets, code_offsets, cast(Any, codes), rows)
    row_bytes = index._code_bytes
    try:
        _core.ivf_check_lists(CODECS[index.codec], row_bytes, index._m, lists)
    except ValueError as e:
        raise FormatError(f"inconsistent inverted lists: {e}") from None
    return lists


def _compact_scales(index: IVFIndex, offsets: Array, code_offsets: Array, codes: Array,
                    n: int) -> Tuple[Array, Array]:
    """Layout 3 binary rows of extended codes (code, 3 + bits factors, sign dot) as layout 4's:
    alpha_1 .. alpha_{bits - 1} dropped (they are alpha_0 2^-l), in memory."""
    row_bytes = index._code_bytes
    old_bytes = row_bytes + 4 * (index._bits - 1)
    if codes.shape[0] != n * old_bytes or not np.array_equal(code_offsets, offsets * old_bytes):
        raise FormatError("inconsistent inverted lists: the codes do not match the rows of "
                          f"{old_bytes} bytes of a layout-3 file")
    old = codes.reshape(n, old_bytes)
    scales_end = row_bytes - 4    # the code, its padding, the 3 fixed factors and alpha_0
    compact = np.concatenate([old[:, :scales_end], old[:, old_bytes - 4:]], axis=1)
    return np.multiply(offsets, row_bytes, dtype=np.uint64), compact.reshape(-1)
