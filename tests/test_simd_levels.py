"""Every SIMD level against the scalar reference: the one parity harness for every kernel
family (dense, pq8, pq4 fast-scan, hamming, rabitq, sq8).

Each level runs tests/_battery.py in its own process (the level is chosen once per process from
QVEC_SIMD), and every output is compared with the scalar run, per family: exactly, or as
_battery.TOLERANCE states for outputs whose float rounding may differ (FMA, summation order).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

import qvec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _battery  # noqa: E402

ORDER = ["scalar", "avx2", "avx512_skx", "avx512"]
LEVELS = ORDER[: ORDER.index(qvec.supported_simd_level()) + 1]
COMPARED = LEVELS[1:] or ["scalar"]  # a scalar-only CPU still checks the harness runs

_runs: Dict[str, Dict[str, np.ndarray]] = {}


def run_battery(level: str, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, np.ndarray]:
    """The battery's outputs at one level (run once per level per session)."""
    if level not in _runs:
        out = tmp_path_factory.mktemp(level) / "out.npz"
        env = dict(os.environ, QVEC_SIMD=level)
        subprocess.run([sys.executable, str(HERE / "_battery.py"), str(out)], check=True,
                       env=env, cwd=HERE)
        with np.load(out) as data:
            _runs[level] = {key: data[key] for key in data.files}
    return _runs[level]


def assert_matches(key: str, value: np.ndarray, ref: np.ndarray) -> None:
    """value equals the scalar output ref, exactly or within _battery.TOLERANCE[key]."""
    assert value.shape == ref.shape and value.dtype == ref.dtype, key
    tol = _battery.TOLERANCE.get(key)
    if tol is None:
        np.testing.assert_array_equal(value, ref, err_msg=key)
    elif tol[0] == "close":
        np.testing.assert_allclose(value, ref, rtol=tol[1], atol=tol[2], err_msg=key)
    else:
        differing = np.unpackbits(value ^ ref).sum()
        assert differing <= tol[1] * value.size * 8, (key, int(differing))


@pytest.mark.parametrize("family", sorted(_battery.FAMILIES))
@pytest.mark.parametrize("level", COMPARED)
def test_level_matches_scalar(level: str, family: str,
                              tmp_path_factory: pytest.TempPathFactory) -> None:
    scalar = run_battery("scalar", tmp_path_factory)
    got = run_battery(level, tmp_path_factory)
    assert str(scalar["level"]) == "scalar" and str(got["level"]) == level
    assert set(got) == set(scalar)
    keys = [key for key in scalar if key.startswith(family + "/")]
    assert keys, f"the battery has no outputs for {family}"
    for key in keys:
        assert_matches(key, got[key], scalar[key])


def test_tolerances_name_real_outputs(tmp_path_factory: pytest.TempPathFactory) -> None:
    # A tolerance for an output the battery no longer produces would silently loosen nothing;
    # a stale entry usually means a renamed output now compared exactly by accident.
    scalar = run_battery("scalar", tmp_path_factory)
    assert set(_battery.TOLERANCE) <= set(scalar)


def test_comparison_can_fail() -> None:
    ref = np.arange(10, dtype=np.int64)
    with pytest.raises(AssertionError):
        assert_matches("dense/exact_l2_i", ref + (ref == 3), ref)
    with pytest.raises(AssertionError):
        assert_matches("dense/exact_l2_d", ref.astype(np.float32) * 1.01, ref.astype(np.float32))
    bits = np.zeros(1000, np.uint8)
    flipped = bits.copy()
    flipped[:20] = 1
    with pytest.raises(AssertionError):
        assert_matches("rabitq/rotated_codes", flipped, bits)


KERNEL_FAMILIES = ["dense", "pq8", "pq4", "hamming", "rabitq", "exrabitq", "filter", "sq8",
                   "maxsim", "pqlut"]
# The families without a variant of their own at a level, and the table they run there.
FALLBACK = {("pq8", "avx512_skx"): "avx2", ("pqlut", "avx512_skx"): "avx2",
            ("pqlut", "avx512"): "avx2"}


@pytest.mark.parametrize("level", LEVELS)
def test_every_family_runs_the_table_of_its_level(level: str) -> None:
    # The battery cannot see a family that silently ran a lower level's table: ask dispatch.
    code = ("import json, sys, qvec; print(json.dumps({f: qvec._core.kernel_level(f) "
            "for f in sys.argv[1:]}))")
    env = dict(os.environ, QVEC_SIMD=level)
    got = subprocess.run([sys.executable, "-c", code, *KERNEL_FAMILIES], env=env, check=True,
                         capture_output=True, text=True).stdout
    want = {f: FALLBACK.get((f, level), level) for f in KERNEL_FAMILIES}
    assert json.loads(got) == want
    with pytest.raises(ValueError, match="family must be one of"):
        qvec._core.kernel_level("adc")


def test_forcing_above_cpu_is_clamped_and_bad_value_rejected() -> None:
    env = dict(os.environ, QVEC_SIMD="avx512")
    code = "import qvec; print(qvec.simd_level())"
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert got == qvec.supported_simd_level()
    env["QVEC_SIMD"] = "sse9"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert bad.returncode != 0
    assert "QVEC_SIMD must be one of scalar, avx2, avx512_skx, avx512" in bad.stderr


# Instructions of the avx512 level that Skylake-SP lacks: VBMI byte permutes, VPOPCNTDQ /
# BITALG popcounts and bit shuffles, and VNNI dot products.
NOT_SKX = re.compile(r"\b(vpermb|vpermi2b|vpermt2b|vpmultishiftqb|vpopcnt[bwdq]|vpshufbitqmb|"
                     r"vpdpbusds?|vpdpwssds?)\b")
KERNEL_OBJECTS = "CMakeFiles/qvec_core.dir/csrc/src/kernels"


def kernel_objects(suffix: str) -> List[Path]:
    """The kernel object files named *<suffix>.cpp.o in this checkout's build trees."""
    return sorted((HERE.parent / "build").glob(f"*/{KERNEL_OBJECTS}/*{suffix}.cpp.o"))


def foreign_instructions(obj: Path) -> List[str]:
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(obj)], check=True,
                          capture_output=True, text=True).stdout
    return sorted({m.group(1) for m in NOT_SKX.finditer(text)})


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump")
def test_skx_objects_use_only_skylake_instructions() -> None:
    skx = kernel_objects("_avx512_skx")
    if not skx:
        pytest.skip("no build tree with kernel objects in this checkout")
    # The check can fail: the avx512 objects it is not about do hold such instructions.
    assert any(foreign_instructions(obj) for obj in kernel_objects("_avx512"))
    found = {obj.name: foreign_instructions(obj) for obj in skx}
    assert all(not names for names in found.values()), found
