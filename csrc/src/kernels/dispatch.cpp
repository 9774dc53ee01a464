// CPU level -> the table of every kernel family, and the stubs of the levels this build lacks.
// Baseline ISA: nothing here runs a kernel, it only hands out pointers.
#include "kernels/dispatch.h"

#include <cstdlib>
#include <cstring>

namespace qvec::detail {
namespace {

// The table of the active level, or of the next lower level the build has (a family without
// its own skx variant runs its AVX2 table there, see dispatch.h).
template <class Table>
const Table& select(const Table* scalar, const Table* avx2, const Table* skx,
                    const Table* avx512) {
  const int level = static_cast<int>(simd_level());
  if (level >= static_cast<int>(SimdLevel::AVX512) && avx512 != nullptr) return *avx512;
  if (level >= static_cast<int>(SimdLevel::AVX512_SKX) && skx != nullptr) return *skx;
  if (level >= static_cast<int>(SimdLevel::AVX2) && avx2 != nullptr) return *avx2;
  return *scalar;
}

// The AVX512_VNNI variant of a family in place of its avx512 table, where the CPU has VNNI and
// the environment variable `off` is not "0" (so tests reach the plain table on VNNI CPUs too).
template <class Table>
const Table& with_vnni(const Table& level, const Table* vnni, const char* off) {
#if defined(__x86_64__) || defined(__i386__)
  const char* env = std::getenv(off);
  const bool allowed = env == nullptr || std::strcmp(env, "0") != 0;
  if (level.level == SimdLevel::AVX512 && vnni != nullptr && allowed &&
      __builtin_cpu_supports("avx512vnni"))
    return *vnni;
#endif
  return level;
}

}  // namespace

const DenseKernels& dense_kernels() {
  static const DenseKernels& chosen =
      select(dense_scalar_kernels(), dense_avx2_kernels(), dense_avx512_skx_kernels(),
             dense_avx512_kernels());
  return chosen;
}

const Pq8Kernels& pq8_kernels() {
  static const Pq8Kernels& chosen =
      select(pq8_scalar_kernels(), pq8_avx2_kernels(), static_cast<const Pq8Kernels*>(nullptr),
             pq8_avx512_kernels());
  return chosen;
}

const Pq4Kernels& pq4_kernels() {
  static const Pq4Kernels& chosen = with_vnni(
      select(pq4_scalar_kernels(), pq4_avx2_kernels(), pq4_avx512_skx_kernels(),
             pq4_avx512_kernels()),
      pq4_avx512vnni_kernels(), "QVEC_PQ4_VNNI");
  return chosen;
}

const PqLutKernels& pqlut_kernels() {  // ivfspeed
  static const PqLutKernels& chosen = select(pqlut_scalar_kernels(), pqlut_avx2_kernels(),
                                             static_cast<const PqLutKernels*>(nullptr),
                                             static_cast<const PqLutKernels*>(nullptr));
  return chosen;
}

const HammingKernels& hamming_kernels() {
  static const HammingKernels& chosen =
      select(hamming_scalar_kernels(), hamming_avx2_kernels(), hamming_avx512_skx_kernels(),
             hamming_avx512_kernels());
  return chosen;
}

const RabitqKernels& rabitq_kernels() {
  static const RabitqKernels& chosen =
      select(rabitq_scalar_kernels(), rabitq_avx2_kernels(), rabitq_avx512_skx_kernels(),
             rabitq_avx512_kernels());
  return chosen;
}

// exrabitq
const ExRabitqKernels& exrabitq_kernels() {
  static const ExRabitqKernels& chosen =
      select(exrabitq_scalar_kernels(), exrabitq_avx2_kernels(), exrabitq_avx512_skx_kernels(),
             exrabitq_avx512_kernels());
  return chosen;
}

const FilterKernels& filter_kernels() {
  static const FilterKernels& chosen =
      select(filter_scalar_kernels(), filter_avx2_kernels(), filter_avx512_skx_kernels(),
             filter_avx512_kernels());
  return chosen;
}

const Sq8Kernels& sq8_kernels() {
  static const Sq8Kernels& chosen = with_vnni(
      select(sq8_scalar_kernels(), sq8_avx2_kernels(), sq8_avx512_skx_kernels(),
             sq8_avx512_kernels()),
      sq8_avx512vnni_kernels(), "QVEC_SQ8_VNNI");
  return chosen;
}

// multivec
const MaxSimKernels& maxsim_kernels() {
  static const MaxSimKernels& chosen =
      select(maxsim_scalar_kernels(), maxsim_avx2_kernels(), maxsim_avx512_skx_kernels(),
             maxsim_avx512_kernels());
  return chosen;
}

}  // namespace qvec::detail

namespace qvec {

const char* kernel_level_name(const char* family) {
  using namespace detail;
  const struct {
    const char* name;
    SimdLevel (*level)();
  } families[] = {
      {"dense", [] { return dense_kernels().level; }},
      {"pq8", [] { return pq8_kernels().level; }},
      {"pq4", [] { return pq4_kernels().level; }},
      {"hamming", [] { return hamming_kernels().level; }},
      {"rabitq", [] { return rabitq_kernels().level; }},
      {"exrabitq", [] { return exrabitq_kernels().level; }},
      {"filter", [] { return filter_kernels().level; }},
      {"sq8", [] { return sq8_kernels().level; }},
      {"maxsim", [] { return maxsim_kernels().level; }},
      {"pqlut", [] { return pqlut_kernels().level; }},
  };
  for (const auto& f : families)
    if (std::strcmp(family, f.name) == 0) return simd_level_name(f.level());
  return nullptr;
}

}  // namespace qvec

namespace qvec::detail {

bool build_has_level(SimdLevel level) {
  switch (level) {
#if defined(QVEC_HAVE_AVX512)
    case SimdLevel::AVX512: return true;
#endif
#if defined(QVEC_HAVE_AVX512_SKX)
    case SimdLevel::AVX512_SKX: return true;
#endif
#if defined(QVEC_HAVE_AVX2)
    case SimdLevel::AVX2: return true;
#endif
    case SimdLevel::Scalar: return true;
    default: return false;
  }
}

// qvec_add_kernels (cmake/QvecSimd.cmake) defines QVEC_HAVE_<LEVEL> when it builds that
// level's files; without them the getters exist and say "not built".
#if !defined(QVEC_HAVE_AVX2)
const DenseKernels* dense_avx2_kernels() { return nullptr; }
const Pq8Kernels* pq8_avx2_kernels() { return nullptr; }
const Pq4Kernels* pq4_avx2_kernels() { return nullptr; }
const HammingKernels* hamming_avx2_kernels() { return nullptr; }
const RabitqKernels* rabitq_avx2_kernels() { return nullptr; }
const ExRabitqKernels* exrabitq_avx2_kernels() { return nullptr; }  // exrabitq
const FilterKernels* filter_avx2_kernels() { return nullptr; }
const Sq8Kernels* sq8_avx2_kernels() { return nullptr; }
const MaxSimKernels* maxsim_avx2_kernels() { return nullptr; }  // multivec
const PqLutKernels* pqlut_avx2_kernels() { return nullptr; }  // ivfspeed
#endif
#if !defined(QVEC_HAVE_AVX512)
const DenseKernels* dense_avx512_kernels() { return nullptr; }
const Pq8Kernels* pq8_avx512_kernels() { return nullptr; }
const Pq4Kernels* pq4_avx512_kernels() { return nullptr; }
const HammingKernels* hamming_avx512_kernels() { return nullptr; }
const RabitqKernels* rabitq_avx512_kernels() { return nullptr; }
const ExRabitqKernels* exrabitq_avx512_kernels() { return nullptr; }  // exrabitq
const FilterKernels* filter_avx512_kernels() { return nullptr; }
const Sq8Kernels* sq8_avx512_kernels() { return nullptr; }
const MaxSimKernels* maxsim_avx512_kernels() { return nullptr; }  // multivec
#endif
#if !defined(QVEC_HAVE_AVX512_SKX)
const ExRabitqKernels* exrabitq_avx512_skx_kernels() { return nullptr; }  // exrabitq
const DenseKernels* dense_avx512_skx_kernels() { return nullptr; }
const Pq4Kernels* pq4_avx512_skx_kernels() { return nullptr; }
const HammingKernels* hamming_avx512_skx_kernels() { return nullptr; }
const RabitqKernels* rabitq_avx512_skx_kernels() { return nullptr; }
const FilterKernels* filter_avx512_skx_kernels() { return nullptr; }
const Sq8Kernels* sq8_avx512_skx_kernels() { return nullptr; }
const MaxSimKernels* maxsim_avx512_skx_kernels() { return nullptr; }
#endif
#if !defined(QVEC_HAVE_AVX512VNNI)
const Sq8Kernels* sq8_avx512vnni_kernels() { return nullptr; }
const Pq4Kernels* pq4_avx512vnni_kernels() { return nullptr; }
#endif

}  // namespace qvec::detail
