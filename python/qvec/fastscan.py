"""Scan-optimized storage of product-quantization codes (4-bit "fast-scan" and 8-bit blocks)."""
from __future__ import annotations

from typing import Any, Dict

import numpy as np
import numpy.typing as npt

from . import _core
from ._checks import ByteMatrix, as_codes, check_int


class FastScanCodes:
    """PQ codes rearranged once for the scan kernels. Make one with
    :meth:`ProductQuantizer.pack` and pass it to :meth:`ProductQuantizer.search` in place of the
    raw codes, to skip the rearrangement that each search of raw codes does (it costs about as
    much as scanning the codes for one query, so it matters for small query batches).

    Layouts (you never need them to get the speed):

    - nbits=4 (fast-scan): vectors in blocks of 32; for each block and each subquantizer j (m
      rounded up to even, the padding subquantizer all zeros), 16 bytes whose byte t holds the
      code of vector t of the block in its low nibble and of vector t + 16 in its high nibble.
      Total ``ceil(n / 32) * 16 * m_even`` bytes.
    - nbits=8: vectors in blocks of 64; for each block and subquantizer j, 64 bytes whose byte v
      is the code of vector v of the block. Total ``ceil(n / 64) * 64 * m`` bytes.
    - nbits 1..3 use the 4-bit layout, nbits 5..7 the 8-bit one (each code widened).

    Args:
        codes: uint8 (n, code_size) codes, as returned by :meth:`ProductQuantizer.encode`.
        m: number of subquantizers.
        nbits: the quantizer's bits per code, 1..8.
    """

    __slots__ = ("_packed", "_n", "_m", "_nbits")

    def __init__(self, codes: npt.ArrayLike, m: int, nbits: int = 4) -> None:
        m = check_int(m, "m")
        nbits = check_int(nbits, "nbits")
        if not 1 <= nbits <= 8:
            raise ValueError(f"nbits must be in [1, 8]; got {nbits}")
        codes = as_codes(codes, "codes", (m * nbits + 7) // 8)
        n = int(codes.shape[0])
        if nbits not in (4, 8):
            codes = _core.pq_widen_codes(codes, m, nbits)
        pack = _core.fastscan_pack if nbits <= 4 else _core.pq8_pack
        self._packed = pack(codes, m)
        self._packed.flags.writeable = False
        self._n = n
        self._m = m
        self._nbits = nbits

    @property
    def n(self) -> int:
        """Number of vectors."""
        return self._n

    @property
    def m(self) -> int:
        """Number of subquantizers."""
        return self._m

    @property
    def nbits(self) -> int:
        """Bits per subquantizer code (1..8)."""
        return self._nbits

    @property
    def nbytes(self) -> int:
        """Bytes of the packed layout."""
        return int(self._packed.nbytes)

    @property
    def data(self) -> npt.NDArray[np.uint8]:
        """The packed layout, a read-only 1-D uint8 array."""
        return self._packed

    def __len__(self) -> int:
        return self._n

    def to_codes(self) -> ByteMatrix:
        """The codes back, uint8 (n, code_size)."""
        unpack = _core.fastscan_unpack if self._nbits <= 4 else _core.pq8_unpack
        wide = unpack(self._packed, self._n, self._m)
        if self._nbits in (4, 8):
            return wide
        return _core.pq_narrow_codes(wide, self._m, self._nbits)

    def __repr__(self) -> str:
        return (f"FastScanCodes(n={self._n}, m={self._m}, nbits={self._nbits}, "
                f"nbytes={self.nbytes})")

    def __getstate__(self) -> Dict[str, Any]:
        return {"codes": self.to_codes(), "m": self._m, "nbits": self._nbits}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(state["codes"], state["m"], state.get("nbits", 4))  # type: ignore[misc]
