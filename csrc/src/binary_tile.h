#pragma once
// Packed binary codes (numpy.packbits order) and the blocked tile layout the hamming and
// rabitq kernels read (kernels/hamming.h): codes are transposed on the fly, kBinaryTile
// vectors at a time, so one SIMD load reads one 64-bit word of kBinaryBlock codes.
#include <cstddef>
#include <cstdint>

#include "kernels/hamming.h"

namespace qvec::detail {

/// Vectors per transposed tile (a multiple of kBinaryBlock).
constexpr size_t kBinaryTile = 256;

inline size_t words_of(size_t nbytes) { return (nbytes + 7) / 8; }
inline size_t blocks_of(size_t count) { return (count + kBinaryBlock - 1) / kBinaryBlock; }

/// One packed code of nbytes bytes as nwords 64-bit words, zero-filled past nbytes.
void load_words(const uint8_t* code, size_t nbytes, size_t nwords, uint64_t* out);

/// Transposes `count` <= kBinaryTile codes (row i at codes + i * stride, nbytes bytes) into the
/// blocked layout: tile size blocks_of(count) * nwords * 8 words, zero-filled tail.
void transpose_tile(const uint8_t* codes, size_t stride, size_t nbytes, size_t count,
                    size_t nwords, uint64_t* tile);

/// Bit j of a packed code, numpy.packbits order (bit 7 - j % 8 of byte j / 8).
inline void set_bit(uint8_t* code, size_t j) {
  code[j >> 3] = static_cast<uint8_t>(code[j >> 3] | (0x80u >> (j & 7)));
}
inline bool get_bit(const uint8_t* code, size_t j) { return (code[j >> 3] >> (7 - (j & 7))) & 1u; }

}  // namespace qvec::detail
