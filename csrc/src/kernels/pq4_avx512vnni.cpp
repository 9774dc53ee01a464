// AVX-512 VNNI fast-scan kernel: pq4_avx512_impl.h with VPDPBUSD summing the four looked-up
// bytes of each vector into its 32-bit accumulator in one instruction (pq4_avx512.cpp needs a
// multiply-add and an add). Built with this file's own -m flags; dispatch.cpp reaches it only on
// CPUs with AVX512_VNNI. Internal linkage and no std templates.
#define PQ4_AVX512_NS qvec::detail::pq4_avx512vnni
#include "kernels/pq4_avx512_impl.h"

namespace qvec::detail {
namespace pq4_avx512vnni {
namespace {

// 32-bit sums of unsigned bytes times ones: exact; their low 16 bits are the sums mod 2^16.
// VPDPBUSD by inline asm: GCC 12 compiles _mm512_dpbusd_epi32 on an accumulator kept across a
// loop as a copy, the multiply-add into the copy and a copy back (two register moves per sum,
// 16 per code load at four queries, measured in the disassembly); the asm operand "+v" keeps
// the accumulator in its register.
struct DwordSums {
  static __m512i add(__m512i acc, __m512i bytes) {
    asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(bytes), "v"(_mm512_set1_epi8(1)));
    return acc;
  }
  static __m512i finish(__m512i lo, __m512i hi) { return low_words(lo, hi); }
};

}  // namespace
}  // namespace pq4_avx512vnni

const Pq4Kernels* pq4_avx512vnni_kernels() {
  static const Pq4Kernels table = {SimdLevel::AVX512,
                                   pq4_avx512vnni::scan<pq4_avx512vnni::DwordSums>};
  return &table;
}

}  // namespace qvec::detail
