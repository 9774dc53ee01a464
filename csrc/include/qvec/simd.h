#pragma once
// Run-time SIMD dispatch. The CPU is inspected once; the QVEC_SIMD environment variable
// ("scalar", "avx2", "avx512") may force a lower level than the CPU supports.

namespace qvec {

enum class SimdLevel : int { Scalar = 0, AVX2 = 1, AVX512 = 2 };

/// The level the kernels run at (detected once, lowered by QVEC_SIMD if set).
SimdLevel simd_level();
/// The best level this CPU and this build support, ignoring QVEC_SIMD.
SimdLevel supported_simd_level();
const char* simd_level_name(SimdLevel level);

}  // namespace qvec
