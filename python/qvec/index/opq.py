"""OPQIndex: a PQIndex whose quantizer learns a rotation with its codebooks (OPQ)."""
from __future__ import annotations

from ..pq import ProductQuantizer
from .pq import PQIndex


class OPQIndex(PQIndex):
    """As :class:`PQIndex`, with an OPQ quantizer (``ProductQuantizer(..., opq=True)``):
    ``fit`` learns an orthogonal rotation with the codebooks, and vectors and queries are
    rotated before they are encoded or searched. ``index_factory(dim, "OPQ16,PQ16x8")``.
    Same arguments as :class:`PQIndex`; saved as kind "opq" (the rotation with the codebooks).
    """

    kind = "opq"

    @staticmethod
    def _quantizer(dim: int, m: int, nbits: int, metric: str) -> ProductQuantizer:
        return ProductQuantizer(dim, m, nbits, metric, opq=True)
