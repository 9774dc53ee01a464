"""index_factory: an empty index from a short description ("PQ16x8,Refine")."""
from __future__ import annotations

import re
from typing import Any, List, Optional

from .base import Index
from .binary import BinaryIndex
from .flat import FlatIndex
from .ivf import IVFIndex
from .opq import OPQIndex
from .pq import PQIndex
from .sq import DEFAULT_RESCORE, RescoreSQ8Index, SQ8Index

_HELP = ("expected 'Flat', 'PQ<m>[x<nbits>][fs]' (e.g. 'PQ48x8', 'PQ96x4fs') or "
         "'BIN<bits>' (e.g. 'BIN1'), 'RaBitQ<bits>' (e.g. 'RaBitQ4'), 'SQ8', 'BIN1,RescoreSQ8[x<multiplier>]', optionally followed by ',Refine' to keep the "
         "vectors for re-ranking")


def _opq_prefix(tokens: List[str], description: str) -> Optional[int]:
    """Pops a leading 'OPQ<m>' token (a rotation learned for m subspaces, then PQ) and returns
    its m; None without one."""
    found = re.fullmatch(r"OPQ(\d+)", tokens[0], flags=re.IGNORECASE)
    if found is None:
        return None
    if len(tokens) < 2 or re.fullmatch(r"PQ\d+.*", tokens[1], flags=re.IGNORECASE) is None:
        raise ValueError(f"index_factory: {tokens[0]!r} in {description!r} must be followed "
                         f"by a PQ token, e.g. 'OPQ16,PQ16x8'")
    tokens.pop(0)
    return int(found.group(1))


def _unknown(token: str, description: str) -> ValueError:
    return ValueError(f"index_factory: unknown token {token!r} in {description!r}; {_HELP}")


def index_factory(dim: int, description: str, metric: str = "l2") -> Index[Any]:
    """Builds an empty index from a short description.

    ``"Flat"`` exact search; ``"PQ48x8"`` (or ``"PQ48"``) 8-bit PQ with 48 subquantizers;
    ``"PQ96x4fs"`` 4-bit fast-scan PQ; ``"BIN1"`` binary codes with 1 bit per dimension.
    ``"RaBitQ4"`` extended-RaBitQ binary codes with 4 bits per dimension
    (``BinaryIndex(method="extended")``; ``"BIN4"`` is the residual form).
    An ``"OPQ<m>,"`` prefix before a PQ token (``"OPQ16,PQ16x8"``) learns a rotation with the
    codebooks (:class:`OPQIndex`).
    A ``",Refine"`` suffix keeps the float32 vectors so ``search(..., rerank=k')`` works.
    ``"IVF4096,PQ64x4fs,Refine"`` an :class:`IVFIndex` (codecs ``Flat``, ``PQ<m>x8``,
    ``PQ<m>x4fs``, ``BIN<bits>``, ``RaBitQ<bits>``, ``SQ8``); ``"IVF,..."`` picks nlist at fit
    (:func:`auto_nlist`).
    ``metric``: "l2", "ip" or "cosine". A bad description raises ValueError naming the bad
    token.
    """
    if not isinstance(description, str):
        raise TypeError(f"description must be a string; got {type(description).__name__}")
    tokens = [t.strip() for t in description.split(",")]
    ivf = re.fullmatch(r"IVF(\d*)", tokens[0], flags=re.IGNORECASE)
    if ivf is not None:
        return _ivf_factory(dim, description, tokens, ivf.group(1), metric)
    opq = _opq_prefix(tokens, description)  # train: "OPQ<m>," before a PQ token
    main, mods = tokens[0], tokens[1:]
    sq8 = _sq8(dim, main, mods, metric, description)
    if sq8 is not None:
        return sq8
    pq = re.fullmatch(r"PQ(\d+)(?:x(\d+))?(fs)?", main, flags=re.IGNORECASE)
    binary = re.fullmatch(r"BIN(\d+)", main, flags=re.IGNORECASE)
    extended = re.fullmatch(r"RaBitQ(\d+)", main, flags=re.IGNORECASE)  # extended RaBitQ
    binary = binary or extended
    if main.lower() != "flat" and pq is None and binary is None:
        raise _unknown(main, description)
    keep = False
    for tok in mods:
        if tok.lower() not in ("refine", "rflat"):
            raise _unknown(tok, description)
        keep = True
    if main.lower() == "flat":
        if keep:
            raise ValueError(f"index_factory: token 'Refine' in {description!r} does not apply "
                             f"to 'Flat' (it already keeps the vectors)")
        return FlatIndex(dim, metric)
    if pq is not None:
        m = int(pq.group(1))
        nbits = int(pq.group(2)) if pq.group(2) else (4 if pq.group(3) else 8)
        if pq.group(3) and nbits != 4:
            raise ValueError(f"index_factory: token {main!r} in {description!r}: fast-scan "
                             f"('fs') codes are 4-bit, write 'PQ{m}x4fs'")
        if m < 1:
            raise ValueError(f"index_factory: token {main!r}: m must be >= 1")
        if opq is not None and opq != m:
            raise ValueError(f"index_factory: 'OPQ{opq}' in {description!r} must match the "
                             f"PQ token's m = {m} (write 'OPQ{m},{main}')")
        cls = PQIndex if opq is None else OPQIndex
        return cls(dim, m, nbits, metric, keep_vectors=keep)
    if binary is None:                    # ruled out above; keeps the type checker informed
        raise _unknown(main, description)
    return BinaryIndex(dim, int(binary.group(1)), metric, keep_vectors=keep,
                       method="residual" if extended is None else "extended")


# -- IVF tokens: IVF<nlist>,{Flat|PQ<m>x8|PQ<m>x4fs|BIN<bits>|RaBitQ<bits>|SQ8}[,Refine] ----
def _ivf_factory(dim: int, description: str, tokens: List[str], nlist_text: str,
                 metric: str) -> Index[Any]:
    nlist = int(nlist_text) if nlist_text else None
    if nlist is not None and nlist < 1:
        raise ValueError(f"index_factory: nlist in {description!r} must be >= 1")
    if len(tokens) < 2:
        raise ValueError(f"index_factory: {description!r} needs a codec after 'IVF<nlist>', "
                         f"e.g. 'IVF1024,PQ32x4fs'")
    codec, mods = tokens[1], tokens[2:]
    keep = False
    for tok in mods:
        if tok.lower() not in ("refine", "rflat"):
            raise _unknown(tok, description)
        keep = True
    pq = re.fullmatch(r"PQ(\d+)(?:x(\d+))?(fs)?", codec, flags=re.IGNORECASE)
    binary = re.fullmatch(r"BIN(\d+)", codec, flags=re.IGNORECASE)
    extended = re.fullmatch(r"RaBitQ(\d+)", codec, flags=re.IGNORECASE)
    if codec.lower() == "flat":
        if keep:
            raise ValueError(f"index_factory: token 'Refine' in {description!r} does not apply "
                             f"to 'Flat' (it already keeps the vectors)")
        return IVFIndex(dim, nlist, "flat", metric)
    if pq is not None:
        m = int(pq.group(1))
        nbits = int(pq.group(2)) if pq.group(2) else (4 if pq.group(3) else 8)
        if nbits not in (4, 8) or (pq.group(3) and nbits != 4):
            raise ValueError(f"index_factory: token {codec!r} in {description!r}: write "
                             f"'PQ{m}x8' or 'PQ{m}x4fs'")
        return IVFIndex(dim, nlist, "pq8" if nbits == 8 else "pq4", metric, m=m,
                        keep_vectors=keep)
    found = binary or extended
    if found is not None:
        return IVFIndex(dim, nlist, "binary", metric, bits=int(found.group(1)),
                        keep_vectors=keep, method="residual" if binary else "extended")
    if codec.lower() == "sq8":
        return IVFIndex(dim, nlist, "sq8", metric, keep_vectors=keep)
    raise _unknown(codec, description)


def _sq8(dim: int, main: str, mods: "list[str]", metric: str,
         description: str) -> Optional[SQ8Index]:
    """"SQ8[,Refine]" -> SQ8Index; "BIN1,RescoreSQ8[x<m>][,Refine]" -> RescoreSQ8Index (m: the
    shortlist multiplier, default DEFAULT_RESCORE); None for other descriptions."""
    rescore = [re.fullmatch(r"RescoreSQ8(?:x(\d+))?", t, flags=re.IGNORECASE) for t in mods]
    if main.lower() != "sq8" and not any(rescore):
        return None
    if main.lower() == "sq8" and any(rescore):
        raise ValueError(f"index_factory: 'RescoreSQ8' in {description!r} follows 'BIN1', not 'SQ8'")
    if main.lower() != "sq8" and main.lower() != "bin1":
        raise ValueError(f"index_factory: 'RescoreSQ8' in {description!r} needs the first stage "
                         f"'BIN1'; got {main!r}")
    keep, multiplier = False, None
    for tok, match in zip(mods, rescore):
        if match is not None and multiplier is None:
            multiplier = int(match.group(1)) if match.group(1) else DEFAULT_RESCORE
        elif tok.lower() in ("refine", "rflat"):
            keep = True
        else:
            raise _unknown(tok, description)
    if multiplier is None:
        return SQ8Index(dim, metric, keep_vectors=keep)
    return RescoreSQ8Index(dim, metric, keep_vectors=keep, rescore=multiplier)
