// CPU feature detection and the QVEC_SIMD override: the level every kernel family runs at
// (kernels/dispatch.cpp turns the level into tables).
#include "qvec/simd.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/dispatch.h"

namespace qvec {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// AVX-512 F/BW/DQ/VL/CD with the AVX2 level's scalar extensions: the avx512_skx level.
bool cpu_has_skx() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx2") &&
         __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2") &&
         __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("f16c");
}
#endif

SimdLevel detect_cpu() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // GCC and Clang check that the OS saves the wide registers (XCR0) before reporting AVX.
  const bool skx = cpu_has_skx();
  if (detail::build_has_level(SimdLevel::AVX512) && skx &&
      __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vpopcntdq") &&
      __builtin_cpu_supports("avx512bitalg"))
    return SimdLevel::AVX512;
  // Skylake-SP and Cascade Lake: no byte permutes, no vector popcount.
  if (detail::build_has_level(SimdLevel::AVX512_SKX) && skx) return SimdLevel::AVX512_SKX;
  if (detail::build_has_level(SimdLevel::AVX2) && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2") &&
      __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("f16c"))  // -mf16c: half rows
    return SimdLevel::AVX2;
#endif
  return SimdLevel::Scalar;
}

SimdLevel choose_level() {
  SimdLevel best = supported_simd_level();
  const char* forced = std::getenv("QVEC_SIMD");
  if (forced == nullptr || *forced == '\0') return best;
  SimdLevel want;
  if (std::strcmp(forced, "scalar") == 0) want = SimdLevel::Scalar;
  else if (std::strcmp(forced, "avx2") == 0) want = SimdLevel::AVX2;
  else if (std::strcmp(forced, "avx512_skx") == 0) want = SimdLevel::AVX512_SKX;
  else if (std::strcmp(forced, "avx512") == 0) want = SimdLevel::AVX512;
  else
    throw std::invalid_argument(
        "QVEC_SIMD must be one of scalar, avx2, avx512_skx, avx512; got '" +
        std::string(forced) + "'");
  // Forcing can only lower the level: a higher one would crash on this CPU.
  return static_cast<int>(want) < static_cast<int>(best) ? want : best;
}

}  // namespace

SimdLevel supported_simd_level() {
  static const SimdLevel level = detect_cpu();
  return level;
}

SimdLevel simd_level() {
  static const SimdLevel level = choose_level();
  return level;
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::AVX512: return "avx512";
    case SimdLevel::AVX512_SKX: return "avx512_skx";
    case SimdLevel::AVX2: return "avx2";
    default: return "scalar";
  }
}
}  // namespace qvec
