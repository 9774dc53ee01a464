"""The residual token codec of :class:`qvec.MultiVectorIndex` (``codec="RQ<a>+PQ<m>x8"``), in the
spirit of PLAID / ColBERTv2: a token is coded as ``a`` levels of full-dimensional k-means
centroids (256 each, every level quantizing what the levels before it left over), then an
8-bit product quantizer of the final residual; a + m bytes per token.

Late-interaction token embeddings cluster tightly (one cluster per word sense), so the
residual the PQ sees is far smaller than the token itself and the same bytes reconstruct it
much better than a plain PQ of the token. The codec stays additive, token ~= sum over code
bytes j of B_j[code_j], so the byte-code MaxSim scorer serves it unchanged: the table of byte
j for query token q is <q, B_j[c]> over the 256 values c.

The first one or two levels also name a coarse cell per token (256 or 65536 cells); the
two-stage search ranks a query token's cells by their table sums and takes the tokens of the
best cells as its candidates (PLAID's centroid interaction), far cheaper than scanning every
token's full code.

When m does not divide dim, the residual is zero-padded to the next multiple of m (the last
sub-spaces hold fewer real dimensions).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

from .. import _core
from .._errors import NotTrainedError
from ..pq import ProductQuantizer

FloatArray = npt.NDArray[np.float32]
MAX_LEVELS = 4


class ResidualCodec:
    """a levels of 256 full-dimensional centroids, then PQ<m>x8 of the (padded) residual."""

    def __init__(self, dim: int, levels: int, m: int) -> None:
        if not 1 <= levels <= MAX_LEVELS:
            raise ValueError(f"RQ<a>+PQ<m>: a must be in [1, {MAX_LEVELS}]; got {levels}")
        if m < 1:
            raise ValueError(f"RQ<a>+PQ<m>: m must be >= 1; got {m}")
        self.dim, self.levels, self.m = dim, levels, m
        self.padded = -(-dim // m) * m
        self.centroids: Optional[FloatArray] = None          # (levels, 256, dim)
        self.pq: Optional[ProductQuantizer] = None

    def _trained(self) -> Tuple[FloatArray, ProductQuantizer]:
        if self.centroids is None or self.pq is None:
            raise NotTrainedError("the residual codec is not trained: call train(tokens) first")
        return self.centroids, self.pq

    @property
    def code_size(self) -> int:
        return self.levels + self.m

    def _pad(self, x: FloatArray) -> FloatArray:
        if self.padded == self.dim:
            return np.ascontiguousarray(x, dtype=np.float32)
        out = np.zeros((x.shape[0], self.padded), dtype=np.float32)
        out[:, :self.dim] = x
        return out

    def fit(self, x: FloatArray, seed: int, iters: int) -> "ResidualCodec":
        if x.shape[0] < 256:
            raise ValueError(f"tokens has {x.shape[0]} vectors; the RQ codec needs at least 256")
        r = np.array(x, dtype=np.float32)
        levels = []
        for level in range(self.levels):
            c = _core.kmeans(r, 256, iters, seed + level)
            r -= c[_core.ivf_assign(r, c)]
            levels.append(c)
        self.centroids = np.ascontiguousarray(np.stack(levels), dtype=np.float32)
        self.pq = ProductQuantizer(self.padded, self.m, 8, "ip").fit(
            self._pad(r), seed=seed, iters=iters)
        return self

    def encode(self, x: FloatArray) -> npt.NDArray[np.uint8]:
        centroids, pq = self._trained()
        r = np.array(x, dtype=np.float32)
        codes = np.empty((x.shape[0], self.code_size), dtype=np.uint8)
        for level in range(self.levels):
            a = _core.ivf_assign(r, centroids[level])
            codes[:, level] = a
            r -= centroids[level][a]
        codes[:, self.levels:] = pq.encode(self._pad(r))
        return codes

    def decode(self, codes: npt.NDArray[np.uint8]) -> FloatArray:
        centroids, pq = self._trained()
        out = pq.decode(np.ascontiguousarray(codes[:, self.levels:]))[:, :self.dim].copy()
        for level in range(self.levels):
            out += centroids[level][codes[:, level]]
        return out

    def tables(self, q: FloatArray) -> FloatArray:
        """(t, a + m, 256): byte j's table; sim(q, token) = sum_j tables[:, j, code_j]."""
        centroids, pq = self._trained()
        coarse = np.einsum("td,lcd->tlc", q, centroids, optimize=True)
        fine = pq.distance_tables(self._pad(q))
        return np.ascontiguousarray(np.concatenate([coarse, fine], axis=1), dtype=np.float32)

    # -- coarse cells (the candidate step) ----------------------------------------------------
    @property
    def cell_levels(self) -> int:
        return min(self.levels, 2)

    def cells(self, codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
        cell = codes[:, 0].astype(np.int64)
        if self.cell_levels == 2:
            cell = cell * 256 + codes[:, 1]
        return cell

    def cell_index(self, codes: npt.NDArray[np.uint8]) -> Dict[str, Any]:
        """Tokens grouped by cell: rows (tokens sorted by cell), the non-empty cells, their
        first row in `rows` and their sizes."""
        cell = self.cells(codes)
        rows = np.argsort(cell, kind="stable").astype(np.int64)
        used, starts, sizes = np.unique(cell[rows], return_index=True, return_counts=True)
        return {"rows": rows, "used": used, "starts": starts.astype(np.int64),
                "sizes": sizes.astype(np.int64)}

    def cell_hits(self, tables: FloatArray, cells: Dict[str, Any],
                  kprime: int) -> npt.NDArray[np.int64]:
        """(t, kprime) token rows: for each query token, the tokens of its best cells (by the
        sum of the cell levels' table entries), best cell first, cut at kprime; -1 pads."""
        used = cells["used"]
        if self.cell_levels == 2:
            score = tables[:, 0, used >> 8] + tables[:, 1, used & 255]
        else:
            score = tables[:, 0, used]
        nt, nc = score.shape
        take = min(kprime, nc)
        top = np.argpartition(-score, take - 1, axis=1)[:, :take]
        hits = np.full((nt, kprime), -1, dtype=np.int64)
        rows, starts, sizes = cells["rows"], cells["starts"], cells["sizes"]
        for i in range(nt):
            best = top[i][np.argsort(-score[i, top[i]], kind="stable")]
            n = sizes[best]
            upto = int(np.searchsorted(np.cumsum(n), kprime)) + 1
            best, n = best[:upto], n[:upto]
            before = np.cumsum(n) - n
            pos = np.repeat(starts[best] - before, n) + np.arange(int(n.sum()))
            got = rows[pos[:kprime]]
            hits[i, :got.size] = got
        return hits

    # -- persistence ---------------------------------------------------------------------------
    def arrays(self) -> List[Tuple[str, np.ndarray]]:
        centroids, pq = self._trained()
        return [("rq_centroids", centroids), ("codebooks", pq.codebooks)]

    def restore(self, centroids: FloatArray, codebooks: FloatArray) -> "ResidualCodec":
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.pq = ProductQuantizer(self.padded, self.m, 8, "ip")
        self.pq.codebooks = codebooks
        return self
