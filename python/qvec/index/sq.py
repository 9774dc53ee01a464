"""Int8 scalar-quantized indexes: SQ8Index (factory "SQ8") searches the int8 codes directly;
RescoreSQ8Index (factory "BIN1,RescoreSQ8") is sentence-transformers' retrieval recipe as one
index: a Hamming first stage on sign bits, int8 rescoring of the shortlist, and (with
",Refine") an exact float re-rank."""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union, cast

import numpy as np
import numpy.typing as npt

from .. import _core
from .._checks import check_int
from ..scalar import RANGES, ScalarQuantizer
from .base import FloatArray, Index, State, check_index_metric, codec_metric
from .ids import IdArray
from .storage import Array, Templates

__all__ = ["RescoreSQ8Index", "SQ8Index", "DEFAULT_RESCORE"]

#: Shortlist multiplier of RescoreSQ8Index: the Hamming stage keeps ``rescore * k`` candidates
#: per query for the int8 stage (sentence-transformers' ``rescore_multiplier``).
DEFAULT_RESCORE = 4

RangesArg = Union[None, str, npt.ArrayLike]


class SQ8Index(Index[ScalarQuantizer]):
    """Int8 scalar-quantized codes (one byte per dimension, :class:`qvec.ScalarQuantizer`),
    searched by exact float-query-to-decoded-code distance; optionally keeps the float32
    vectors for exact re-ranking.

    Args:
        dim: vector dimension.
        metric: "l2", "ip" or "cosine" (unit vectors, searched by inner product).
        ranges: the quantizer's calibration: None / "minmax" / "quantile" (learned by
            :meth:`fit`) or a (2, dim) array of minima and maxima (sentence-transformers'
            ``ranges``; the index is then trained already).
        keep_vectors: also store the float32 vectors (factory suffix ",Refine").

    Example:
        >>> index = qvec.index_factory(384, "SQ8", metric="cosine")
        >>> index.fit(corpus); index.add(corpus)
        >>> dist, ids = index.search(queries, k=10)
    """

    kind = "sq8"

    def __init__(self, dim: int, metric: str = "l2", ranges: RangesArg = None,
                 keep_vectors: bool = False) -> None:
        dim = check_int(dim, "dim")
        metric = check_index_metric(metric)
        model = ScalarQuantizer(dim, 8, codec_metric(metric), ranges)
        self._keep = bool(keep_vectors)
        super().__init__(dim, metric, model, self._row_templates(dim))

    def _row_templates(self, dim: int) -> Templates:
        templates: Dict[str, Tuple[np.dtype, Tuple[int, ...]]] = {
            "codes": (np.dtype(np.int8), (dim,))}
        if self._keep:
            templates["vectors"] = (np.dtype(np.float32), (dim,))
        return templates

    @property
    def quantizer(self) -> ScalarQuantizer:
        """The current quantizer (shared; :meth:`fit` replaces it)."""
        return self._state.model

    @property
    def codes(self) -> npt.NDArray[np.int8]:
        """The stored int8 codes (n, dim), in row order."""
        return cast(npt.NDArray[np.int8], self._state.rows.get("codes"))

    def _model_trained(self, model: ScalarQuantizer) -> bool:
        return model.is_trained

    def fit(self, x: npt.ArrayLike, *, seed: int = 0, max_train: Optional[int] = None,
            verbose: bool = False) -> "SQ8Index":
        """Sets the quantizer's ranges from (n, dim) vectors ("minmax" or "quantile", as the
        index was created; ``max_train`` caps the vectors used, a seeded sample). Raises
        ValueError if the index holds vectors."""
        def train() -> ScalarQuantizer:
            old = self._state.model
            sq = ScalarQuantizer(self._dim, 8, old.metric,
                                 old._mode, old._quantile)  # noqa: SLF001 (same package)
            data = self._fit_input(x)
            if max_train is not None:
                data = np.asarray(data)
                limit = check_int(max_train, "max_train")
                if data.shape[0] > limit:
                    pick = np.random.default_rng(seed).choice(data.shape[0], limit, replace=False)
                    data = data[np.sort(pick)]
            return sq.fit(data)

        self._install_model(train)
        return self

    def _encode(self, model: ScalarQuantizer, x: FloatArray) -> Dict[str, Array]:
        out: Dict[str, Array] = {"codes": model.encode(x)}
        if self._keep:
            out["vectors"] = np.array(x)
        return out

    def _packed(self, state: State[ScalarQuantizer]) -> npt.NDArray[np.uint8]:
        """The scan layout of the codes, built once per state."""
        packed: Optional[npt.NDArray[np.uint8]] = state.memo.get("packed")
        if packed is None:
            packed = state.memo.setdefault("packed", state.model.pack(state.rows.get("codes")))
        return packed

    def _search_rows(self, state: State[ScalarQuantizer], queries: FloatArray,
                     k: int) -> Tuple[FloatArray, IdArray]:
        result: Tuple[FloatArray, IdArray] = state.model.search_packed(
            queries, self._packed(state), state.idmap.n, k)
        return result

    def _describe(self) -> str:
        return f"dim={self._dim}, metric={self._metric!r}, keep_vectors={self._keep}"


class RescoreSQ8Index(SQ8Index):
    """Sentence-transformers' quantized retrieval as one index: every vector is stored as its
    sign bits (``numpy.packbits(x > 0, axis=1)``, the "ubinary" precision) and its int8 codes;
    a search takes the ``rescore * k`` nearest by Hamming distance of the query's sign bits,
    rescores them with the float query against their int8 codes (exact to the codes), and
    keeps the best k. With ``keep_vectors`` (factory ",Refine"), ``search(q, k, rerank=r)``
    re-ranks the int8 stage's best r with the float vectors.

    Args:
        dim, metric, ranges, keep_vectors: as :class:`SQ8Index`.
        rescore: the shortlist multiplier (``rescore_multiplier`` in sentence-transformers),
            >= 1; settable later as ``index.rescore``.
    """

    kind = "bin_sq8"

    def __init__(self, dim: int, metric: str = "l2", ranges: RangesArg = None,
                 keep_vectors: bool = False, rescore: int = DEFAULT_RESCORE) -> None:
        super().__init__(dim, metric, ranges, keep_vectors)
        self.rescore = rescore

    def _row_templates(self, dim: int) -> Templates:
        templates = dict(super()._row_templates(dim))
        templates["bits"] = (np.dtype(np.uint8), ((dim + 7) // 8,))
        return templates

    @property
    def rescore(self) -> int:
        """Candidates per result the Hamming stage passes to the int8 stage."""
        return self._rescore

    @rescore.setter
    def rescore(self, value: int) -> None:
        self._rescore = check_int(value, "rescore")

    def _encode(self, model: ScalarQuantizer, x: FloatArray) -> Dict[str, Array]:
        out = super()._encode(model, x)
        out["bits"] = np.packbits(x > 0, axis=1)
        return out

    def _search_rows(self, state: State[ScalarQuantizer], queries: FloatArray,
                     k: int) -> Tuple[FloatArray, IdArray]:
        n = state.idmap.n
        shortlist = min(n, k * self._rescore)
        bits = cast(npt.NDArray[np.uint8], state.rows.get("bits"))
        _, rows = _core.hamming_search(np.packbits(queries > 0, axis=1), bits, shortlist)
        return rescore_int8(state.model, queries, rows, state.rows.get("codes"), k)

    def _describe(self) -> str:
        return super()._describe() + f", rescore={self._rescore}"


def rescore_int8(sq: ScalarQuantizer, queries: FloatArray, rows: IdArray, codes: Array,
                 k: int) -> Tuple[FloatArray, IdArray]:
    """The best k of each query's candidate rows (-1: none) by the float query against the
    decoded int8 codes, in the quantizer's units (L2 ascending, IP descending), ties to the
    smaller row; missing results are -1 and the worst value. In the core (all threads, the
    GIL released): each candidate decoded and scored by the dense kernels."""
    result: Tuple[FloatArray, IdArray] = sq._sq.rescore(  # noqa: SLF001 (same package)
        np.ascontiguousarray(queries, dtype=np.float32),
        np.ascontiguousarray(rows, dtype=np.int64),
        np.ascontiguousarray(codes, dtype=np.int8), k)
    return result


def ranges_mode(sq: ScalarQuantizer) -> str:
    """How the quantizer learns its ranges ("minmax" or "quantile")."""
    mode: str = sq._mode  # noqa: SLF001 (same package)
    assert mode in RANGES
    return mode
