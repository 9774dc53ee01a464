"""BinaryIndex: binary codes from a BinaryQuantizer (sign bits plus residual levels, with
per-vector factors), searched asymmetrically; optionally with the float32 vectors for exact
re-ranking."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from .._checks import check_int
from ..binary import BinaryCodes, BinaryQuantizer
from .base import FloatArray, Index, State, check_index_metric, codec_metric
from .ids import IdArray
from .storage import Array

#: Per-vector float32 factors of a code: [||x_r||^2, <x - mean, mean>, rho] and one scale per
#: level (:class:`qvec.BinaryCodes`), so ``factors`` has 3 + bits columns.
FIXED_FACTORS = 3

Rotate = Union[None, str, bool]

# BinaryCodes from its row arrays, typed for callers (the class validates them).
_codes_from: Callable[[Array, Array, Optional[Array]], BinaryCodes] = BinaryCodes


def spell_rotate(rotate: Rotate) -> Optional[str]:
    """``rotate`` as the quantizer spells it: None, "random" or "itq" (True -> "random",
    False -> None, as 0.1.0 wrote it)."""
    if isinstance(rotate, bool):
        return "random" if rotate else None
    if rotate is not None and not isinstance(rotate, str):
        raise ValueError(f"rotate must be None, 'random' or 'itq' (or a bool); got {rotate!r}")
    return rotate


class BinaryIndex(Index[BinaryQuantizer]):
    """Binary codes from :class:`qvec.BinaryQuantizer` (``bits`` bits per dimension), searched
    by the quantizer's asymmetric estimator; optionally keeps the vectors for re-ranking.

    Args:
        dim: vector dimension.
        bits: levels per coordinate, 1..8; ``bits * ceil(dim / 8)`` bytes of code per vector,
            plus ``3 + bits`` float32 factors.
        metric: "l2", "ip" or "cosine" (unit-normalized vectors and queries, searched by
            inner product; cosine similarities, largest first).
        rotate: None (no rotation), "random" (a seeded random orthogonal matrix, the default)
            or "itq" (learned on the training set), as :class:`qvec.BinaryQuantizer` spells it;
            True / False are read as "random" / None.
        keep_vectors: also store the float32 vectors, for ``search(..., rerank=k')``.
        method: "residual" (each level binarizes the previous residual) or "extended"
            (extended RaBitQ codes: the closest ``bits``-bit grid direction), as
            :class:`qvec.BinaryQuantizer` spells it; same layout and search.

    ``fit`` trains a new quantizer and is refused (ValueError) once the index holds vectors.
    Searches are safe beside adds and removes from other threads (see :mod:`qvec.index.base`).
    """

    kind = "binary"
    _filterable = True

    def __init__(self, dim: int, bits: int = 1, metric: str = "l2",
                 rotate: Rotate = "random", keep_vectors: bool = False,
                 method: str = "residual") -> None:
        dim = check_int(dim, "dim")
        bits = check_int(bits, "bits")
        metric = check_index_metric(metric)
        self._rotate = spell_rotate(rotate)
        self._keep = bool(keep_vectors)
        self._method = method
        model = self._new_quantizer(dim, bits, metric)   # validates bits and rotate
        templates: Dict[str, Tuple[np.dtype, Tuple[int, ...]]] = {
            "codes": (np.dtype(np.uint8), (model.code_size,)),
            "factors": (np.dtype(np.float32), (FIXED_FACTORS + bits,))}
        if method == "extended" and bits > 1:
            # ||x_r||_1 per vector: the 1-bit pass of the pruned extended search needs it.
            templates["sign_dots"] = (np.dtype(np.float32), (1,))
        if self._keep:
            templates["vectors"] = (np.dtype(np.float32), (dim,))
        super().__init__(dim, metric, model, templates)

    def _new_quantizer(self, dim: int, bits: int, metric: str) -> BinaryQuantizer:
        return BinaryQuantizer(dim, bits=bits, metric=codec_metric(metric), rotate=self._rotate,
                               method=self._method)

    @property
    def quantizer(self) -> BinaryQuantizer:
        """The current quantizer (shared, not a copy; :meth:`fit` replaces it with a new one)."""
        return self._state.model

    @property
    def bits(self) -> int:
        return self._state.model.bits

    @property
    def rotate(self) -> Optional[str]:
        """None, "random" or "itq"."""
        return self._rotate

    @property
    def method(self) -> str:
        """"residual" or "extended" (see :class:`qvec.BinaryQuantizer`)."""
        return self._method

    @property
    def code_size(self) -> int:
        """Bytes of packed bits per vector (the factors come on top)."""
        return self._state.model.code_size

    def _model_trained(self, model: BinaryQuantizer) -> bool:
        return model.is_trained

    # -- training --------------------------------------------------------------------------
    def fit(self, x: npt.ArrayLike, *, seed: int = 0, max_train: Optional[int] = None,
            verbose: bool = False, itq_iters: int = 20) -> "BinaryIndex":
        """Trains a new quantizer (mean and rotation; see :meth:`BinaryQuantizer.fit`:
        rotate="itq" learns on at most ``max_train`` vectors, None meaning the quantizer's
        default); returns self. Raises ValueError if the index holds vectors. ``verbose`` is
        accepted for the common signature (binary training reports no progress)."""
        def train() -> BinaryQuantizer:
            bq = self._new_quantizer(self._dim, self.bits, self._metric)
            data = self._fit_input(x)
            if max_train is None:
                return bq.fit(data, seed=seed, itq_iters=itq_iters)
            return bq.fit(data, seed=seed, itq_iters=itq_iters, max_train=max_train)

        self._install_model(train)
        return self

    def train(self, x: npt.ArrayLike, seed: int = 0, **kwargs: Any) -> "BinaryIndex":
        """Alias of :meth:`fit` (with its 0.1.0 signature)."""
        return self.fit(x, seed=seed, **kwargs)

    # -- codec -----------------------------------------------------------------------------
    def _encode(self, model: BinaryQuantizer, x: FloatArray) -> Dict[str, Array]:
        codes = model.encode(x)
        out: Dict[str, Array] = {"codes": codes.codes, "factors": codes.factors}
        # An index read from a file written before sign_dots existed keeps none.
        if "sign_dots" in self._templates and codes.sign_dots is not None:
            out["sign_dots"] = codes.sign_dots.reshape(-1, 1)
        if self._keep:
            out["vectors"] = np.array(x)
        return out

    def _search_rows(self, state: State[BinaryQuantizer], queries: FloatArray,
                     k: int, filter: object = None) -> Tuple[FloatArray, IdArray]:
        # Building the codes object validates every row (a pass over all factors): do it once
        # per state (any add or remove makes a new one), not on every search.
        codes: Optional[BinaryCodes] = state.memo.get("codes")
        if codes is None:
            dots = (state.rows.get("sign_dots").reshape(-1)
                    if "sign_dots" in state.rows.templates else None)
            codes = state.memo.setdefault("codes", _codes_from(state.rows.get("codes"),
                                                               state.rows.get("factors"), dots))
        return state.model.search(queries, codes, k, filter=filter)

    def _describe(self) -> str:
        return (f"dim={self._dim}, bits={self.bits}, metric={self._metric!r}, "
                f"rotate={self._rotate!r}, keep_vectors={self._keep}"
                + (f", method={self._method!r}" if self._method != "residual" else ""))
