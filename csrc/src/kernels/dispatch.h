#pragma once
// The one dispatch point of the kernel families. Each family has one table per SIMD level
// (<family>_<isa>.cpp); dispatch.cpp picks, once, the table of the active level
// (qvec::simd_level()) for every family, falling back to the next lower level the build has,
// and is the only place that knows which levels were built.
#include "kernels/dense.h"
#include "kernels/exrabitq.h"  // exrabitq
#include "kernels/filter.h"
#include "kernels/hamming.h"
#include "kernels/maxsim.h"  // multivec
#include "kernels/pq4.h"
#include "kernels/pq8.h"
#include "kernels/pqlut.h"  // ivfspeed
#include "kernels/rabitq.h"
#include "kernels/sq8.h"
#include "qvec/simd.h"

namespace qvec::detail {

/// The tables of the active level.
const DenseKernels& dense_kernels();
const Pq8Kernels& pq8_kernels();
/// The AVX-512 level with the VNNI variant where the CPU has AVX512_VNNI.
const Pq4Kernels& pq4_kernels();
const HammingKernels& hamming_kernels();
const RabitqKernels& rabitq_kernels();
const ExRabitqKernels& exrabitq_kernels();  // exrabitq
const FilterKernels& filter_kernels();
/// The AVX-512 level with the VNNI variant where the CPU has AVX512_VNNI (not avx512_skx,
/// which stays the Skylake-SP set though Cascade Lake has VNNI).
const Sq8Kernels& sq8_kernels();
const MaxSimKernels& maxsim_kernels();  // multivec
const PqLutKernels& pqlut_kernels();  // ivfspeed

/// Whether this build compiled the kernels of a level (the CPU may still lack it).
bool build_has_level(SimdLevel level);

// The table of each level, for benchmarks and level tests. The AVX2 and AVX-512 getters
// return nullptr when the build has no variant of that level. The avx512_skx tables
// (<family>_avx512_skx.cpp, AVX-512 F/BW/DQ/VL/CD only) are the AVX-512 source compiled again
// for Skylake-SP where that source needs nothing more, and a popcount by byte shuffles where it
// needs VPOPCNTDQ; pq8 (whose AVX-512 scan is VBMI permutes) and pqlut have none, so their AVX2
// table serves that level.
const DenseKernels* dense_scalar_kernels();
const DenseKernels* dense_avx2_kernels();
const DenseKernels* dense_avx512_skx_kernels();
const DenseKernels* dense_avx512_kernels();
const Pq8Kernels* pq8_scalar_kernels();
const Pq8Kernels* pq8_avx2_kernels();
const Pq8Kernels* pq8_avx512_kernels();
const Pq4Kernels* pq4_scalar_kernels();
const Pq4Kernels* pq4_avx2_kernels();
const Pq4Kernels* pq4_avx512_skx_kernels();
const Pq4Kernels* pq4_avx512_kernels();
const Pq4Kernels* pq4_avx512vnni_kernels();
const HammingKernels* hamming_scalar_kernels();
const HammingKernels* hamming_avx2_kernels();
const HammingKernels* hamming_avx512_skx_kernels();
const HammingKernels* hamming_avx512_kernels();
const RabitqKernels* rabitq_scalar_kernels();
const RabitqKernels* rabitq_avx2_kernels();
const RabitqKernels* rabitq_avx512_skx_kernels();
const RabitqKernels* rabitq_avx512_kernels();
// exrabitq
const ExRabitqKernels* exrabitq_scalar_kernels();
const ExRabitqKernels* exrabitq_avx2_kernels();
const ExRabitqKernels* exrabitq_avx512_skx_kernels();
const ExRabitqKernels* exrabitq_avx512_kernels();
const FilterKernels* filter_scalar_kernels();
const FilterKernels* filter_avx2_kernels();
const FilterKernels* filter_avx512_skx_kernels();
const FilterKernels* filter_avx512_kernels();
const Sq8Kernels* sq8_scalar_kernels();
const Sq8Kernels* sq8_avx2_kernels();
const Sq8Kernels* sq8_avx512_skx_kernels();
const Sq8Kernels* sq8_avx512_kernels();
const Sq8Kernels* sq8_avx512vnni_kernels();
// multivec
const MaxSimKernels* maxsim_scalar_kernels();
const MaxSimKernels* maxsim_avx2_kernels();
const MaxSimKernels* maxsim_avx512_skx_kernels();
const MaxSimKernels* maxsim_avx512_kernels();
// ivfspeed (no AVX-512 variant: the AVX2 one serves that level)
const PqLutKernels* pqlut_scalar_kernels();
const PqLutKernels* pqlut_avx2_kernels();

}  // namespace qvec::detail
