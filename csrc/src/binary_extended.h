#pragma once
// Extended-RaBitQ code construction (Gao et al., SIGMOD 2025): the B-bit grid code whose
// direction is closest to the vector's, written as the levels and factors of BinaryQuantizer
// so the residual form's scanners, decode and symmetric search read it unchanged.
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace qvec::detail {

/// Scratch of extended_code (one per thread; sized on first use).
struct ExtendedScratch {
  std::vector<float> mag;      // |v_j|
  std::vector<uint8_t> grid;   // y_j
  std::vector<std::pair<double, uint32_t>> events;  // break points (t, coordinate)
  std::vector<std::pair<double, uint32_t>> unsorted;  // collect_events' scratch
  std::vector<uint32_t> bucket_start;  // collect_events' counting sort
};

/// The magnitudes y (size dim, each in [0, 2^(bits-1) - 1]) of the grid code
/// obar_j = sign(v_j) (y_j + 1/2) maximizing cos(obar, v): the best of the codes
/// y_j(t) = min(floor(t |v_j|), 2^(bits-1) - 1) over the rescaling t, which contain the
/// maximum over the whole grid. exhaustive: every t > 0; otherwise, when the
/// number of break points dim * (2^(bits-1) - 1) exceeds kExhaustiveEvents, a window of t
/// around the scale that puts the largest |v_j| at the top of the grid. Returns the cosine.
constexpr size_t kExhaustiveEvents = 16384;
double extended_grid(const float* v, size_t dim, size_t bits, bool exhaustive,
                     ExtendedScratch& s);

/// Encodes one transformed vector v (size dim) as extended RaBitQ in BinaryQuantizer's
/// layout: code (size bits * ceil(dim / 8), written) with level l the bit (bits - 1 - l) of
/// c_j = sign-folded y_j (level 0 the sign bit), factors f (size 3 + bits, written) with
/// alpha_l = scale * 2^(bits - 2 - l), so that sum_l alpha_l s_l = scale * obar.
void encode_extended(const float* v, size_t dim, size_t bits, double cdot, uint8_t* code,
                     float* f, ExtendedScratch& s);

}  // namespace qvec::detail
