"""The container format: round trips, atomic save, and corrupt files always raising FormatError."""
import os
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qvec
from qvec import _format


def _small_index(keep_vectors=True):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 8)).astype(np.float32)
    index = qvec.PQIndex(8, 2, metric="l2", keep_vectors=keep_vectors)
    index.train(x, iters=3)
    index.add(x[:200])
    index.add(x[200:], ids=np.arange(1000, 1100))
    index.remove([5, 1007])
    return index


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("fmt") / "small.qvec"
    index = _small_index()
    index.save(path)
    return path, path.read_bytes(), index


def test_formaterror_is_valueerror():
    assert issubclass(qvec.FormatError, ValueError)


def test_container_round_trip(tmp_path):
    arrays = [("a", np.arange(7, dtype=np.uint8)), ("b", np.ones((3, 5), np.float32)),
              ("c", np.array([[-1, 2]], np.int64)), ("empty", np.zeros((0, 4), np.uint8))]
    path = tmp_path / "c.qvec"
    size = _format.save_atomic(path, "test", {"x": 1, "s": "é"}, arrays)
    assert size == os.path.getsize(path) and size % 16 == 0
    for mmap in (False, True):
        c = _format.read_container(path, mmap=mmap)
        assert c.kind == "test" and c.params == {"x": 1, "s": "é"}
        for name, arr in arrays:
            assert c.arrays[name].dtype == arr.dtype
            np.testing.assert_array_equal(c.arrays[name], arr)
        if mmap:
            assert isinstance(c.arrays["b"], np.memmap)
    data = path.read_bytes()
    # every payload is 64-byte aligned
    pos = 64 * ((32 + struct.unpack_from("<I", data, 12)[0] + 4 + 63) // 64)
    for _ in arrays:
        nbytes = struct.unpack_from("<Q", data, pos + 48)[0]
        assert (pos + 64) % 64 == 0
        pos += 64 + nbytes + (-(64 + nbytes)) % 64
    assert data[pos:pos + 8] == b"QVECEND\x00"


def test_big_endian_input_is_stored_little_endian(tmp_path):
    arr = np.arange(6, dtype=">f4").reshape(2, 3)
    _format.save_atomic(tmp_path / "be.qvec", "test", {}, [("a", arr)])
    out = _format.read_container(tmp_path / "be.qvec").arrays["a"]
    assert out.dtype == np.dtype("<f4")
    np.testing.assert_array_equal(out, arr)


def test_wrong_magic_and_version(saved, tmp_path):
    path, data, _ = saved
    bad = tmp_path / "bad.qvec"
    bad.write_bytes(b"NOTQVEC!" + data[8:])
    with pytest.raises(qvec.FormatError, match="magic"):
        qvec.load(bad)
    bad.write_bytes(data[:8] + struct.pack("<I", 99) + data[12:])
    with pytest.raises(qvec.FormatError, match="version 99"):
        qvec.load(bad)
    bad.write_bytes(b"")
    with pytest.raises(qvec.FormatError):
        qvec.load(bad)
    np.save(tmp_path / "x.npy", np.zeros(3))
    with pytest.raises(qvec.FormatError, match="not a qvec"):
        qvec.load(tmp_path / "x.npy")


def test_huge_lengths_do_not_allocate(tmp_path):
    # a well-formed header whose array claims 2**60 bytes: rejected by the size check
    path = tmp_path / "huge.qvec"
    _format.save_atomic(path, "test", {}, [("a", np.zeros(4, np.uint8))])
    data = bytearray(path.read_bytes())
    pos = 64
    head = bytearray(data[pos:pos + 64])
    struct.pack_into("<3Q", head, 24, 1 << 60, 0, 0)
    struct.pack_into("<Q", head, 48, 1 << 60)
    struct.pack_into("<I", head, 60, __import__("zlib").crc32(bytes(head[:60])))
    data[pos:pos + 64] = head
    path.write_bytes(bytes(data))
    for mmap in (False, True):
        with pytest.raises(qvec.FormatError, match="truncated"):
            _format.read_container(path, mmap=mmap)


def test_mmap_skips_payload_crc_unless_verify(saved, tmp_path):
    path, data, index = saved
    c = _format.read_container(path)
    # flip a byte inside the codes payload
    raw = bytearray(data)
    codes_at = raw.index(b"codes\x00") + 64
    raw[codes_at] ^= 0xFF
    bad = tmp_path / "flip.qvec"
    bad.write_bytes(bytes(raw))
    with pytest.raises(qvec.FormatError, match="checksum"):
        qvec.load(bad)
    with pytest.raises(qvec.FormatError, match="checksum"):
        qvec.load(bad, mmap=True, verify=True)
    loaded = qvec.load(bad, mmap=True)        # documented: mapped payloads are not checksummed
    assert len(loaded) == len(index)
    assert c.kind == "pq"


@settings(deadline=None, max_examples=60, derandomize=True)
@given(cut=st.integers(min_value=0, max_value=10**9))
def test_fuzz_truncation(saved, tmp_path_factory, cut):
    path, data, _ = saved
    cut = cut % len(data)
    bad = tmp_path_factory.mktemp("trunc") / "t.qvec"
    bad.write_bytes(data[:cut])
    for mmap in (False, True):
        with pytest.raises(qvec.FormatError):
            qvec.load(bad, mmap=mmap)


@settings(deadline=None, max_examples=150, derandomize=True)
@given(flips=st.lists(st.tuples(st.integers(min_value=0, max_value=10**9),
                                st.integers(min_value=1, max_value=255)),
                      min_size=1, max_size=3))
def test_fuzz_byte_flips(saved, tmp_path_factory, flips):
    path, data, _ = saved
    raw = bytearray(data)
    for pos, mask in flips:
        raw[pos % len(raw)] ^= mask
    if bytes(raw) == data:        # two flips that cancel out
        return
    bad = tmp_path_factory.mktemp("flip") / "f.qvec"
    bad.write_bytes(bytes(raw))
    with pytest.raises(qvec.FormatError):
        qvec.load(bad)
    with pytest.raises(qvec.FormatError):
        qvec.load(bad, mmap=True, verify=True)
    with pytest.raises(qvec.FormatError):
        qvec.PQIndex.__new__(qvec.PQIndex).__setstate__({"qvec_index": bytes(raw)})


def test_atomic_save_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "index.qvec"
    old = _small_index()
    old.save(path)
    before = path.read_bytes()

    new = _small_index(keep_vectors=False)
    new.add(np.zeros((3, 8), np.float32))
    calls = {"n": 0}
    real = _format._write_payload

    def failing(f, payload, chunk=1 << 24):
        calls["n"] += 1
        if calls["n"] == 2:              # die after some bytes are written
            f.write(bytes(payload[: len(payload) // 2]))
            raise OSError(28, "No space left on device")
        real(f, payload, chunk)

    monkeypatch.setattr(_format, "_write_payload", failing)
    with pytest.raises(OSError, match="No space"):
        new.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["index.qvec"]          # temporary file removed
    monkeypatch.setattr(_format, "_write_payload", real)

    def failing_replace(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(_format.os, "replace", failing_replace)
    with pytest.raises(KeyboardInterrupt):
        new.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["index.qvec"]
    new.save(path)
    assert len(qvec.load(path)) == len(new)


def test_interrupt_right_after_the_temporary_file_is_created_removes_it(tmp_path, monkeypatch):
    # The signal lands the moment the open returns, before its result is assigned: the window a
    # Ctrl-C in the middle of a save hit on CI (a .tmp file left beside the index).
    path = tmp_path / "index.qvec"
    _small_index().save(path)
    before = path.read_bytes()
    real_open = _format.os.open

    def open_then_interrupted(name, flags, mode=0o777):
        os.close(real_open(name, flags, mode))
        raise KeyboardInterrupt

    monkeypatch.setattr(_format.os, "open", open_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        _small_index(keep_vectors=False).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["index.qvec"]


def test_a_temporary_name_another_writer_holds_is_left_alone(tmp_path, monkeypatch):
    path = tmp_path / "index.qvec"
    names = iter(["taken", "free"])
    monkeypatch.setattr(_format.secrets, "token_hex", lambda n: next(names))
    (tmp_path / ".index.qvec.taken.tmp").write_bytes(b"another save in progress")
    _small_index().save(path)
    assert sorted(os.listdir(tmp_path)) == [".index.qvec.taken.tmp", "index.qvec"]
    assert (tmp_path / ".index.qvec.taken.tmp").read_bytes() == b"another save in progress"
    assert len(qvec.load(path)) == len(_small_index())


def test_saved_file_permissions_follow_umask(tmp_path):
    path = tmp_path / "p.qvec"
    _small_index().save(path)
    umask = os.umask(0)
    os.umask(umask)
    assert (os.stat(path).st_mode & 0o777) == (0o666 & ~umask)


# ------------------------------------------------------------------------------------------
# loading beside a save, special files, crafted sizes (issue 10 items 2, 8, 9, 10)
# ------------------------------------------------------------------------------------------
def _two_files(tmp_path, grow):
    """An index saved at ``path`` and a second, different one at ``other`` (larger when grow)."""
    rng = np.random.default_rng(4)
    a = qvec.FlatIndex(8)
    a.add(rng.standard_normal((50, 8)).astype(np.float32))
    b = qvec.FlatIndex(8)
    b.add(rng.standard_normal((400 if grow else 5, 8)).astype(np.float32),
          ids=np.arange(400 if grow else 5) * 2)
    path, other = tmp_path / "i.qvec", tmp_path / "other.qvec"
    a.save(path)
    b.save(other)
    return a, path, other


@pytest.mark.parametrize("grow", [True, False])
def test_mmap_load_maps_the_file_it_validated(tmp_path, monkeypatch, grow):
    # another process saves over the path between reading the header and mapping the arrays
    a, path, other = _two_files(tmp_path, grow)
    import json

    real = json.loads
    swapped = []

    def loads_then_save(*args, **kwargs):
        out = real(*args, **kwargs)
        if not swapped:
            os.replace(other, path)
            swapped.append(True)
        return out

    monkeypatch.setattr(json, "loads", loads_then_save)
    loaded = qvec.load(path, mmap=True)
    monkeypatch.undo()
    assert swapped and len(loaded) == len(a)
    np.testing.assert_array_equal(loaded.reconstruct(loaded.ids), a.reconstruct(a.ids))
    np.testing.assert_array_equal(loaded.ids, a.ids)


def test_mmap_loads_beside_a_saving_thread_see_one_file_or_the_other(tmp_path):
    import threading

    a, path, other = _two_files(tmp_path, True)
    b = qvec.load(other)
    expect = {len(a): a.reconstruct(a.ids), len(b): b.reconstruct(b.ids)}
    stop = threading.Event()

    def saver():
        while not stop.is_set():
            b.save(path)
            a.save(path)

    t = threading.Thread(target=saver)
    t.start()
    try:
        for _ in range(150):
            loaded = qvec.load(path, mmap=True)
            np.testing.assert_array_equal(loaded.reconstruct(loaded.ids), expect[len(loaded)])
    finally:
        stop.set()
        t.join()


def _load_in_subprocess(code, *args, timeout=60):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_load_of_a_fifo_raises_instead_of_blocking(tmp_path):
    fifo = tmp_path / "pipe.qvec"
    os.mkfifo(fifo)
    code = ("import sys, qvec\n"
            "try:\n    qvec.load(sys.argv[1], mmap=sys.argv[2] == '1')\n"
            "except qvec.FormatError as e:\n    print('FormatError', e)\n")
    for mmap in ("0", "1"):
        proc = _load_in_subprocess(code, fifo, mmap)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("FormatError") and str(fifo) in proc.stdout
        assert "not a regular file" in proc.stdout
    proc = _load_in_subprocess("import sys; from qvec.cli import main; sys.exit(main(sys.argv[1:]))",
                               "info", fifo)
    assert proc.returncode == 1 and "not a regular file" in proc.stderr
    with pytest.raises(qvec.FormatError, match="not a regular file"):
        qvec.load(tmp_path)                       # a folder


_HUGE = 1 << 40
_HUGE_COMMON = {"dim": _HUGE, "metric": "l2", "ntotal": 0, "id_start": 0, "next_id": 0}


@pytest.mark.parametrize("kind,params,arrays", [
    ("pq", {"m": 1, "nbits": 8, "keep_vectors": False, "trained": True},
     [("codebooks", np.zeros((1, 256, 4), np.float32)), ("codes", np.zeros((0, 1), np.uint8))]),
    ("pq", {"m": 1, "nbits": 8, "keep_vectors": False, "trained": False, "ntotal": 1},
     [("codes", np.zeros((1, 1), np.uint8))]),
    ("binary", {"bits": 1, "rotate": True, "keep_vectors": False, "trained": True,
                "quantizer": {"dim": _HUGE, "bits": 1, "metric": "l2", "rotate": "random"},
                "codes_class": None, "code_fields": []},
     [("q.mean", np.zeros(4, np.float32)), ("q.rotation", np.zeros((4, 4), np.float32))]),
    ("binary", {"layout": 2, "bits": 1, "rotate": "random", "keep_vectors": False,
                "trained": True},
     [("mean", np.zeros(4, np.float32)), ("rotation", np.zeros((4, 4), np.float32))]),
    ("flat", {}, [("vectors", np.zeros((0, 4), np.float32))]),
])
def test_huge_dim_raises_before_allocating(tmp_path, kind, params, arrays):
    # the model a 2**40-dim PQ file describes would take 2**50 bytes: refused by the
    # arrays' shapes, before the quantizer is built
    path = tmp_path / "huge.qvec"
    _format.save_atomic(path, kind, dict(_HUGE_COMMON, **params), arrays)
    for mmap in (False, True):
        with pytest.raises(qvec.FormatError, match=str(path)):
            qvec.load(path, mmap=mmap)


def test_huge_dim_of_an_untrained_empty_index_allocates_nothing(tmp_path):
    # consistent, and nothing in it is dim-sized: it loads; the quantizer is built (and the
    # memory asked for) only when the user trains it
    path = tmp_path / "huge.qvec"
    _format.save_atomic(path, "pq", dict(_HUGE_COMMON, m=1, nbits=8, keep_vectors=False,
                                         trained=False), [("codes", np.zeros((0, 1), np.uint8))])
    for mmap in (False, True):
        index = qvec.load(path, mmap=mmap)
        assert index.dim == _HUGE and not index.is_trained and len(index) == 0
        with pytest.raises(qvec.NotTrainedError):
            index.search(np.zeros((1, 4), np.float32), 1)


@pytest.mark.parametrize("shape", [(0, 1 << 62), (0, (1 << 64) - 1), (0, 1 << 40, 1 << 40)])
def test_huge_shape_of_an_empty_array_raises_formaterror(tmp_path, shape):
    path = tmp_path / "shape.qvec"
    _format.save_atomic(path, "test", {}, [("a", np.zeros((0, 4, 4), np.uint8))])
    data = bytearray(path.read_bytes())
    head = bytearray(data[64:128])
    struct.pack_into("<B", head, 17, len(shape))
    struct.pack_into("<3Q", head, 24, *(list(shape) + [0] * (3 - len(shape))))
    struct.pack_into("<I", head, 60, __import__("zlib").crc32(bytes(head[:60])))
    data[64:128] = head
    path.write_bytes(bytes(data))
    for mmap in (False, True):
        with pytest.raises(qvec.FormatError, match="shape"):
            _format.read_container(path, mmap=mmap)


def test_save_over_a_mapped_file_keeps_the_mapped_index_answering(tmp_path):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((100, 8)).astype(np.float32)
    index = qvec.FlatIndex(8)
    index.add(x)
    path = tmp_path / "m.qvec"
    index.save(path)
    mapped = qvec.load(path, mmap=True)
    ref = mapped.search(x[:5], 3)
    other = qvec.FlatIndex(8)
    other.add(x[::-1] + 1)
    other.save(path)                              # atomic: the mapped inode lives on
    got = mapped.search(x[:5], 3)
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_array_equal(got[0], ref[0])


def test_layout_versions(tmp_path):
    index = _small_index()
    path = tmp_path / "l.qvec"
    index.save(path)
    c = _format.read_container(path)
    assert c.params["layout"] == 2
    for layout, ok in ((1, True), (2, True), (3, True), (4, True), (5, False), ("2", False),
                       (True, False)):
        _format.save_atomic(path, c.kind, dict(c.params, layout=layout), list(c.arrays.items()))
        if ok:
            np.testing.assert_array_equal(qvec.load(path).ids, index.ids)
        else:
            with pytest.raises(qvec.FormatError, match="layout"):
                qvec.load(path)
