#pragma once
// Run-time SIMD dispatch. The CPU is inspected once; the QVEC_SIMD environment variable
// ("scalar", "avx2", "avx512_skx", "avx512") may force a lower level than the CPU supports.

namespace qvec {

/// Ordered: a CPU that runs a level runs every lower one. AVX512_SKX is the Skylake-SP /
/// Cascade Lake set (AVX-512 F, BW, DQ, VL, CD); AVX512 adds VBMI, VPOPCNTDQ and BITALG
/// (Ice Lake, Sapphire Rapids, Zen 4).
enum class SimdLevel : int { Scalar = 0, AVX2 = 1, AVX512_SKX = 2, AVX512 = 3 };

/// The level the kernels run at (detected once, lowered by QVEC_SIMD if set).
SimdLevel simd_level();
/// The best level this CPU and this build support, ignoring QVEC_SIMD.
SimdLevel supported_simd_level();
const char* simd_level_name(SimdLevel level);
/// The level of the kernel table that one kernel family runs: simd_level(), or the next lower
/// level the family has a variant of (pq8 runs its AVX2 table at AVX512_SKX). family: "dense",
/// "pq8", "pq4", "hamming", "rabitq", "filter", "sq8", "maxsim" or "pqlut"; returns nullptr for
/// any other name. For tests and diagnostics.
const char* kernel_level_name(const char* family);

}  // namespace qvec
