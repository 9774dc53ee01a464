#pragma once
// Bit-packed PQ codes, faiss's layout: code j of a row holds bits [j * nbits, (j + 1) * nbits)
// of the row read as one little-endian bit string (bit 0 is the lowest bit of byte 0). For
// nbits = 8 that is one byte per code, for nbits = 4 the even subquantizer's nibble is low.
#include <cstddef>
#include <cstdint>

namespace qvec::detail {

/// Code j of row (1 <= nbits <= 8); reads the second byte only when the code spans it.
inline uint32_t get_code(const uint8_t* row, size_t j, size_t nbits) {
  const size_t bit = j * nbits, byte = bit / 8, shift = bit % 8;
  uint32_t word = row[byte];
  if (shift + nbits > 8) word |= uint32_t(row[byte + 1]) << 8;
  return (word >> shift) & ((1u << nbits) - 1);
}

/// Sets code j of row to code (< 2^nbits), leaving the other codes' bits as they are.
inline void set_code(uint8_t* row, size_t j, size_t nbits, uint32_t code) {
  const size_t bit = j * nbits, byte = bit / 8, shift = bit % 8;
  const bool spans = shift + nbits > 8;
  const uint32_t mask = ((1u << nbits) - 1) << shift;
  uint32_t word = row[byte];
  if (spans) word |= uint32_t(row[byte + 1]) << 8;
  word = (word & ~mask) | ((code << shift) & mask);
  row[byte] = static_cast<uint8_t>(word);
  if (spans) row[byte + 1] = static_cast<uint8_t>(word >> 8);
}

}  // namespace qvec::detail
