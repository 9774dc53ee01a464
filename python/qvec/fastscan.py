"""Scan-optimized storage of 4-bit product-quantization codes (the "fast-scan" layout)."""
from __future__ import annotations

import numpy as np

from . import _core
from ._checks import as_codes, check_int


class FastScanCodes:
    """4-bit PQ codes rearranged once for the fast-scan kernels. Make one with
    :meth:`ProductQuantizer.pack` and pass it to :meth:`ProductQuantizer.search` in place of the
    raw codes to skip the repacking that each search of raw codes does.

    Layout (you never need it to get the speed): vectors in blocks of 32; for each block and
    each subquantizer j (m rounded up to even, the padding subquantizer all zeros), 16 bytes
    whose byte t holds the code of vector t of the block in its low nibble and of vector
    t + 16 in its high nibble. Total ``ceil(n / 32) * 16 * m_even`` bytes, i.e. about n times
    the code size.

    Args:
        codes: uint8 (n, ceil(m / 2)) nibble codes, as returned by a 4-bit
            :meth:`ProductQuantizer.encode`.
        m: number of subquantizers.
    """

    __slots__ = ("_packed", "_n", "_m")

    def __init__(self, codes, m: int):
        m = check_int(m, "m")
        codes = as_codes(codes, "codes", (m + 1) // 2)
        self._packed = _core.fastscan_pack(codes, m)
        self._packed.flags.writeable = False
        self._n = int(codes.shape[0])
        self._m = m

    @property
    def n(self) -> int:
        """Number of vectors."""
        return self._n

    @property
    def m(self) -> int:
        """Number of subquantizers."""
        return self._m

    @property
    def nbytes(self) -> int:
        """Bytes of the packed layout."""
        return int(self._packed.nbytes)

    @property
    def data(self) -> np.ndarray:
        """The packed layout, a read-only 1-D uint8 array."""
        return self._packed

    def __len__(self) -> int:
        return self._n

    def to_codes(self) -> np.ndarray:
        """The nibble codes back, uint8 (n, ceil(m / 2))."""
        return _core.fastscan_unpack(self._packed, self._n, self._m)

    def __repr__(self) -> str:
        return f"FastScanCodes(n={self._n}, m={self._m}, nbytes={self.nbytes})"

    def __getstate__(self):
        return {"codes": self.to_codes(), "m": self._m}

    def __setstate__(self, state):
        self.__init__(state["codes"], state["m"])
