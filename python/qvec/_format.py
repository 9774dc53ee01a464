"""The qvec container format: one file holding a kind, JSON parameters and named arrays.

Layout (version 1, little-endian; docs/FORMAT.md is the reference):

    preamble   32 bytes   magic b"QVECIDX\\0", u32 version, u32 params_len,
                          kind (12 bytes ASCII, NUL-padded), u32 n_arrays
    params     params_len bytes of UTF-8 JSON (an object), then u32 CRC32 of preamble + params
    padding    zeros to the next multiple of 64
    arrays     n_arrays times: a 64-byte descriptor (name, dtype, shape, nbytes, payload CRC32,
               descriptor CRC32), the payload, zeros to the next multiple of 64
    trailer    16 bytes   b"QVECEND\\0", u64 total file length

Every array payload starts at a multiple of 64 bytes, so it can be memory-mapped in place.
Every length is checked against the file size before anything is allocated or read.
"""
from __future__ import annotations

import io
import json
import os
import secrets
import stat
import struct
import zlib
from typing import Any, BinaryIO, Callable, Dict, List, NoReturn, Optional, Sequence, Tuple, Union, cast

import numpy as np

from ._errors import FormatError

MAGIC = b"QVECIDX\x00"
END_MAGIC = b"QVECEND\x00"
VERSION = 1
ALIGN = 64
MAX_PARAMS = 1 << 20          # parameters are a small JSON object; refuse anything larger
MAX_ARRAYS = 64
MAX_NDIM = 3
MAX_EMPTY_EXTENT = 1 << 48    # bytes an empty array would hold with its zero dimensions as 1

_PREAMBLE = struct.Struct("<8sII12sI")          # 32 bytes
_DESCRIPTOR = struct.Struct("<16sBBHI3QQII")    # 64 bytes
_TRAILER = struct.Struct("<8sQ")                # 16 bytes
assert _PREAMBLE.size == 32 and _DESCRIPTOR.size == 64 and _TRAILER.size == 16

# dtype code <-> numpy dtype (always stored little-endian)
_DTYPES: Dict[int, "np.dtype[Any]"] = {1: np.dtype("<u1"), 2: np.dtype("<i4"), 3: np.dtype("<i8"), 4: np.dtype("<f4"),
           5: np.dtype("<u8"), 6: np.dtype("<i1"), 7: np.dtype("<u4"), 8: np.dtype("<f8"),
           9: np.dtype("<i2"), 10: np.dtype("<u2")}

PathLike = Union[str, "os.PathLike[str]"]


def _pad(n: int) -> int:
    return (-n) % ALIGN


def _name_field(text: str, width: int, what: str) -> bytes:
    raw = text.encode("ascii")
    if not raw or len(raw) > width or not all(c.isalnum() or c in "_." for c in text):
        raise ValueError(f"{what} must be 1..{width} ASCII letters, digits, '_' or '.'; "
                         f"got {text!r}")
    return raw.ljust(width, b"\x00")


def _parse_name(raw: bytes, what: str, where: str) -> str:
    text = raw.rstrip(b"\x00")
    if not text or b"\x00" in text or not all(chr(c).isalnum() or chr(c) in "_." for c in text):
        raise FormatError(f"{where}: {what} field is corrupt ({raw!r})")
    return text.decode("ascii")


# ------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------
def write_container(f: BinaryIO, kind: str, params: Dict[str, Any],
                    arrays: Sequence[Tuple[str, np.ndarray]]) -> int:
    """Writes one container to the binary file object ``f``; returns the bytes written."""
    kind_raw = _name_field(kind, 12, "kind")
    body = json.dumps(params, sort_keys=True, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")
    if len(body) > MAX_PARAMS:
        raise ValueError(f"parameters too large to save ({len(body)} bytes)")
    if len(arrays) > MAX_ARRAYS:
        raise ValueError(f"too many arrays to save ({len(arrays)})")
    pre = _PREAMBLE.pack(MAGIC, VERSION, len(body), kind_raw, len(arrays))
    f.write(pre)
    f.write(body)
    f.write(struct.pack("<I", zlib.crc32(body, zlib.crc32(pre))))
    pos = len(pre) + len(body) + 4
    f.write(b"\x00" * _pad(pos))
    pos += _pad(pos)
    for name, arr in arrays:
        arr = np.asarray(arr)
        code = next((c for c, dt in _DTYPES.items() if dt == arr.dtype.newbyteorder("<")), None)
        if code is None:
            raise ValueError(f"cannot save array {name!r} of dtype {arr.dtype}")
        dtype = _DTYPES[code]
        if not 1 <= arr.ndim <= MAX_NDIM:
            raise ValueError(f"cannot save array {name!r} with {arr.ndim} dimensions")
        arr = np.ascontiguousarray(arr, dtype=dtype)
        payload = arr.reshape(-1).data.cast("B") if arr.size else memoryview(b"")
        shape = list(arr.shape) + [0] * (MAX_NDIM - arr.ndim)
        head = _DESCRIPTOR.pack(_name_field(name, 16, "array name"), code, arr.ndim,
                                0, 0, *shape, arr.nbytes, _crc32(payload), 0)
        head = head[:60] + struct.pack("<I", zlib.crc32(head[:60]))
        f.write(head)
        _write_payload(f, payload)
        pos += len(head) + arr.nbytes
        f.write(b"\x00" * _pad(pos))
        pos += _pad(pos)
    pos += _TRAILER.size
    f.write(_TRAILER.pack(END_MAGIC, pos))
    return pos


def _crc32(payload: memoryview, chunk: int = 1 << 24) -> int:
    crc = 0
    for start in range(0, len(payload), chunk):
        crc = zlib.crc32(payload[start:start + chunk], crc)
    return crc


def _write_payload(f: BinaryIO, payload: memoryview, chunk: int = 1 << 24) -> None:
    for start in range(0, len(payload), chunk):
        f.write(payload[start:start + chunk])


def save_atomic(path: PathLike, kind: str, params: Dict[str, Any],
                arrays: Sequence[Tuple[str, np.ndarray]]) -> int:
    """Writes a container to ``path`` atomically (see :func:`write_atomic`)."""
    return write_atomic(path, lambda f: write_container(f, kind, params, arrays))


def write_atomic(path: PathLike, write: Callable[[BinaryIO], int]) -> int:
    """Writes a file to ``path`` atomically: ``write(f)`` fills a temporary file in the same
    folder (and returns the bytes written), which is fsync'ed and renamed over ``path``. If
    anything fails the temporary file is removed and a previous file at ``path`` is left
    untouched."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = ""
    try:
        # The name is bound before the file exists, so a KeyboardInterrupt landing anywhere
        # (even between the open and the assignment of its result) finds the file to remove.
        while not tmp:
            tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:   # another writer's: never ours to remove
                tmp = ""
        with os.fdopen(fd, "wb") as f:
            written = write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            if tmp:
                os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)
    return written


def _fsync_dir(folder: str) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def to_bytes(kind: str, params: Dict[str, Any], arrays: Sequence[Tuple[str, np.ndarray]]) -> bytes:
    buf = io.BytesIO()
    write_container(buf, kind, params, arrays)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------------
class Container:
    """A parsed container: ``kind`` (str), ``params`` (dict), ``arrays`` (name -> ndarray,
    read-only np.memmap for mapped arrays), ``mapped`` (names of mapped arrays)."""

    def __init__(self, kind: str, params: Dict[str, Any], arrays: Dict[str, np.ndarray],
                 mapped: List[str], size: int):
        self.kind, self.params, self.arrays, self.mapped, self.size = (
            kind, params, arrays, mapped, size)


def _read_exact(f: io.BufferedIOBase, n: int, where: str, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise FormatError(f"{where}: file is truncated (reading {what}: expected {n} bytes, "
                          f"got {len(data)})")
    return data


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"non-finite number {name} in parameters")


def read_container(source: Union[PathLike, bytes], mmap: bool = False,
                   verify: Optional[bool] = None,
                   map_names: Optional[Callable[[str], bool]] = None) -> Container:
    """Parses a container from a path (or bytes). With ``mmap=True`` (paths only) the non-empty
    arrays whose name passes ``map_names`` (default: all) are memory-mapped read-only; their
    CRC32 is checked only when ``verify=True`` (that reads every page once). Sizes, offsets and
    all other fields are always validated. Raises FormatError on any inconsistency."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if mmap:
            raise ValueError("mmap=True needs a path, not bytes")
        buf = io.BytesIO(bytes(source))
        with buf:
            return _parse(buf, len(buf.getbuffer()), "<bytes>", False, True, None)
    path = os.fspath(source)
    if verify is None:
        verify = not mmap
    with _open_regular(path) as f:
        # The header is validated and the arrays are read or mapped from this one open file:
        # a save over ``path`` meanwhile renames another file there, this one stays whole.
        return _parse(f, os.fstat(f.fileno()).st_size, path, mmap, verify, map_names)


def _open_regular(path: str) -> io.BufferedReader:
    """Opens ``path`` for reading, refusing anything but a regular file before reading a byte
    (opening a FIFO without O_NONBLOCK would wait for a writer forever)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FormatError(f"{path}: not a regular file (a qvec index is a regular file)")
        return io.open(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _parse(f: io.BufferedIOBase, size: int, where: str, mmap: bool, verify: bool,
           map_names: Optional[Callable[[str], bool]]) -> Container:
    if size < _PREAMBLE.size:
        head = f.read(8)
        if not MAGIC.startswith(head) or not head:
            raise FormatError(f"{where}: not a qvec index file (bad magic {head!r})")
        raise FormatError(f"{where}: file is truncated ({size} bytes, shorter than the "
                          f"{_PREAMBLE.size}-byte header)")
    pre = _read_exact(f, _PREAMBLE.size, where, "header")
    magic, version, params_len, kind_raw, n_arrays = _PREAMBLE.unpack(pre)
    if magic != MAGIC:
        raise FormatError(f"{where}: not a qvec index file (bad magic {magic!r}, expected "
                          f"{MAGIC!r})")
    if version != VERSION:
        raise FormatError(f"{where}: unsupported format version {version} (this qvec reads "
                          f"version {VERSION}); upgrade qvec or re-save the index")
    if params_len > MAX_PARAMS or _PREAMBLE.size + params_len + 4 > size:
        raise FormatError(f"{where}: corrupt header (parameter block of {params_len} bytes "
                          f"does not fit in a {size}-byte file)")
    if n_arrays > MAX_ARRAYS:
        raise FormatError(f"{where}: corrupt header ({n_arrays} arrays; at most {MAX_ARRAYS})")
    body = _read_exact(f, params_len, where, "parameters")
    (crc,) = struct.unpack("<I", _read_exact(f, 4, where, "parameter checksum"))
    if crc != zlib.crc32(body, zlib.crc32(pre)):
        raise FormatError(f"{where}: header checksum mismatch (the header or parameters are "
                          f"corrupt)")
    kind = _parse_name(kind_raw, "kind", where)
    try:
        params = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError(f"{where}: parameters are not valid JSON ({e})") from None
    if not isinstance(params, dict):
        raise FormatError(f"{where}: parameters must be a JSON object")
    pos = _PREAMBLE.size + params_len + 4
    _check_padding(f, pos, size, where)
    pos += _pad(pos)
    arrays: Dict[str, np.ndarray] = {}
    mapped: List[str] = []
    for i in range(n_arrays):
        if pos + _DESCRIPTOR.size > size:
            raise FormatError(f"{where}: file is truncated (array {i} header at offset {pos} "
                              f"runs past the end of the {size}-byte file)")
        head = _read_exact(f, _DESCRIPTOR.size, where, f"array {i} header")
        (name_raw, code, ndim, res1, res2, s0, s1, s2, nbytes, pcrc,
         hcrc) = _DESCRIPTOR.unpack(head)
        if hcrc != zlib.crc32(head[:60]):
            raise FormatError(f"{where}: array {i} header checksum mismatch (corrupt)")
        name = _parse_name(name_raw, "array name", where)
        shape = (s0, s1, s2)
        if (code not in _DTYPES or not 1 <= ndim <= MAX_NDIM or res1 or res2
                or any(shape[ndim:]) or name in arrays):
            raise FormatError(f"{where}: array {name!r} header is corrupt")
        dtype = _DTYPES[code]
        shape = shape[:ndim]
        count, extent = 1, dtype.itemsize
        for s in shape:
            count *= s
            extent *= max(s, 1)
        if count == 0 and extent > MAX_EMPTY_EXTENT:
            # an empty array's shape is not bounded by the file size: bound it here
            raise FormatError(f"{where}: array {name!r} has an impossible shape {shape}")
        if count * dtype.itemsize != nbytes:
            raise FormatError(f"{where}: array {name!r} shape {shape} x {dtype.itemsize} bytes "
                              f"does not match its length {nbytes}")
        start = pos + _DESCRIPTOR.size
        end = start + nbytes
        if end + _pad(end) + _TRAILER.size > size:
            raise FormatError(f"{where}: file is truncated (array {name!r} needs bytes "
                              f"{start}..{end}, file has {size})")
        arr: np.ndarray
        if mmap and nbytes and (map_names is None or map_names(name)):
            # np.memmap maps the file object's descriptor (its stubs want a writable file)
            arr = np.memmap(cast(Any, f), dtype=dtype, mode="r", offset=start, shape=shape)
            if verify and _crc32(np.asarray(arr).reshape(-1).data.cast("B")) != pcrc:
                raise FormatError(f"{where}: array {name!r} checksum mismatch (corrupt data)")
            mapped.append(name)
            f.seek(end)
        else:
            arr = np.empty(shape, dtype=dtype)
            if nbytes:
                view = arr.reshape(-1).data.cast("B")
                got = f.readinto(view)
                if got != nbytes:
                    raise FormatError(f"{where}: file is truncated inside array {name!r}")
            if _crc32(arr.reshape(-1).data.cast("B")) != pcrc:
                raise FormatError(f"{where}: array {name!r} checksum mismatch (corrupt data)")
        arrays[name] = arr
        _check_padding(f, end, size, where)
        pos = end + _pad(end)
    if pos + _TRAILER.size != size:
        raise FormatError(f"{where}: file length {size} does not match its contents "
                          f"({pos + _TRAILER.size} bytes expected); truncated or trailing data")
    end_magic, length = _TRAILER.unpack(_read_exact(f, _TRAILER.size, where, "trailer"))
    if end_magic != END_MAGIC or length != size:
        raise FormatError(f"{where}: corrupt trailer (file is truncated or damaged)")
    return Container(kind, params, arrays, mapped, size)


def _check_padding(f: io.BufferedIOBase, pos: int, size: int, where: str) -> None:
    n = _pad(pos)
    if pos + n > size:
        raise FormatError(f"{where}: file is truncated at offset {pos}")
    if n:
        f.seek(pos)
        if _read_exact(f, n, where, "padding") != b"\x00" * n:
            raise FormatError(f"{where}: corrupt padding at offset {pos}")
