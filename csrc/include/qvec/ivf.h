#pragma once
// IVF partitioning: a coarse quantizer (nlist centroids) splits the vectors into inverted lists;
// a search probes the nprobe lists whose centroids are nearest each query and scans only those.
// Each list is one contiguous code range in its codec's scan layout, with its ids, so the
// scan of a list is the codec's RangeSearch over that range (qvec/topk.h). Queries probing the
// same list are grouped so its codes are read once for all of them; each query's collector
// persists across the lists it probes.
//
// Residual encoding: with by_residual, a vector x of list l is encoded as x - c_l (PQ, as FAISS
// does; binary codes, the RaBitQ setting). The 8- and 4-bit PQ searches then build the tables
// of query q and list l as
//   L2: ||q_j - p||^2 + 2 <c_lj, p> (+ ||q - c_l||^2 - ||q||^2 in subquantizer 0)
//   IP: -<q_j, p>                   (- <q, c_l> in subquantizer 0)
// where the list term 2 <c_lj, p> is precomputed once per list (the FAISS precomputed-table
// trick), so a pair costs one table addition, not a table computation.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "qvec/binary.h"
#include "qvec/common.h"
#include "qvec/id_filter.h"
#include "qvec/pq.h"
#include "qvec/scalar.h"

namespace qvec {

/// The codes an inverted list holds, and so its scan layout.
enum class IvfCodec : int {
  Flat = 0,    ///< float32 vectors, row-major (row_bytes = 4 * dim)
  Pq8 = 1,     ///< 8-bit PQ codes in the pq8 scan layout (pq8_pack), row_bytes = m
  Pq4 = 2,     ///< 4-bit PQ codes in the fast-scan layout (fastscan_pack), row_bytes = ceil(m / 2)
  Binary = 3,  ///< code and factors side by side (ivf_binary_row_bytes, ivf_binary_pack_rows)
  Sq8 = 4,     ///< int8 codes in the sq8 scan layout (qvec/scalar.h), row_bytes = dim
};

/// One list's scan layout: what a row-major code of row_bytes bytes becomes.
struct IvfLayout {
  IvfCodec codec = IvfCodec::Flat;
  size_t row_bytes = 0;  // bytes of one row-major code (the input of ivf_build_lists)
  size_t m = 0;          // subquantizers (Pq8, Pq4); unused otherwise

  /// Throws std::invalid_argument unless row_bytes >= 1 and, for Pq8 / Pq4, row_bytes matches m.
  void check() const;
  /// Bytes of the scan layout of a list of n rows.
  size_t packed_size(size_t n) const;

  bool operator==(const IvfLayout& o) const {
    return codec == o.codec && row_bytes == o.row_bytes && m == o.m;
  }
};

/// Inverted lists in caller memory (e.g. arrays mapped from a file).
struct IvfLists {
  size_t nlist = 0;
  /// size nlist + 1: list l holds rows [offsets[l], offsets[l + 1]) of `ids`.
  const uint64_t* offsets = nullptr;
  /// size nlist + 1: list l's codes are bytes [code_offsets[l], code_offsets[l + 1]) of `codes`,
  /// the layout's packed_size of its row count.
  const uint64_t* code_offsets = nullptr;
  const uint8_t* codes = nullptr;  // size code_offsets[nlist]
  const idx_t* ids = nullptr;      // size offsets[nlist]: the id of each row (>= 0)

  size_t size(size_t list) const { return static_cast<size_t>(offsets[list + 1] - offsets[list]); }
  const uint8_t* list_codes(size_t list) const { return codes + code_offsets[list]; }
  const idx_t* list_ids(size_t list) const { return ids + offsets[list]; }

  /// Throws std::invalid_argument unless the offsets start at 0 and never decrease, each
  /// list's bytes are layout.packed_size of its rows, and the lists span exactly codes_bytes
  /// bytes and nids ids (what a file read back must satisfy before it is searched).
  void check(const IvfLayout& layout, size_t codes_bytes, size_t nids) const;
};

/// Row and byte offsets of the lists of vectors assigned to lists as `assign` says.
/// assign: size n, each in [0, nlist), else std::out_of_range; offsets, code_offsets: size
/// nlist + 1, written (see IvfLists). Throws std::invalid_argument unless nlist >= 1.
void ivf_list_offsets(const IvfLayout& layout, const int32_t* assign, size_t n, size_t nlist,
                      uint64_t* offsets, uint64_t* code_offsets);

/// Builds the lists: list l holds the rows i with assign[i] == l, in increasing i, with id i.
/// codes: size n * row_bytes, layout (n, row_bytes); offsets, code_offsets from
/// ivf_list_offsets; packed: size code_offsets[nlist], written; ids: size n, written.
void ivf_build_lists(const IvfLayout& layout, const uint8_t* codes, const int32_t* assign,
                     size_t n, size_t nlist, const uint64_t* offsets,
                     const uint64_t* code_offsets, uint8_t* packed, idx_t* ids);

/// The inverse of ivf_build_lists: the row-major code of each row the lists hold, so an index
/// can keep its codes in the lists alone and still re-pack them after an add or a remove.
/// lists: checked against layout (IvfLists::check), each id a row in [0, n) held once;
/// codes: size n * row_bytes, layout (n, row_bytes), row ids[j] written from list entry j
/// (rows no list holds are left as they were). Throws std::out_of_range for an id outside
/// [0, n).
void ivf_unpack_lists(const IvfLayout& layout, const IvfLists& lists, size_t n, uint8_t* codes);

/// Coarse training: k-means (qvec/kmeans.h, seeded with random distinct sample rows as FAISS
/// does, on all threads; the same centroids at every thread count) on at most max_train rows
/// of x (a seeded sample; 0 means 256 * nlist); spherical: unit-norm centroids (FAISS's choice
/// for inner product: lists then hold the rows of largest inner product with their centroid,
/// the order the queries probe them in). x: size n * dim; centroids: size nlist * dim,
/// layout (nlist, dim), written. Throws std::invalid_argument unless 1 <= nlist <= n.
void ivf_train_centroids(const float* x, size_t n, size_t dim, size_t nlist, size_t max_train,
                         size_t iters, uint64_t seed, bool spherical, float* centroids);

/// The nearest centroid (L2, ties to the smaller list) of each row: what add() assigns.
/// x: size n * dim; centroids: size nlist * dim; assign: size n, written.
void ivf_assign(const float* x, size_t n, size_t dim, const float* centroids, size_t nlist,
                int32_t* assign);

/// ivf_assign's assign, and residuals[i] = x[i] - centroids[assign[i]] (size n * dim,
/// written): what the residual codecs encode and train on, without a gathered copy of the
/// centroids beside it.
void ivf_residuals(const float* x, size_t n, size_t dim, const float* centroids, size_t nlist,
                   int32_t* assign, float* residuals);

/// What add() stores for PQ codecs, in one pass: assign as ivf_assign, and codes the
/// pq.encode of x - centroids[assign] (by_residual) or of x. x: size n * pq.dim();
/// centroids: size nlist * pq.dim(); assign: size n, written; codes: size n * pq.code_size(),
/// written. Throws std::invalid_argument as pq.encode does.
void ivf_encode_pq(const ProductQuantizer& pq, const float* centroids, size_t nlist,
                   bool by_residual, const float* x, size_t n, int32_t* assign, uint8_t* codes);

/// The lists each query probes, as the coarse quantizer ranks them: L2 the nprobe nearest
/// centroids (coarse = ||q - c||^2), IP the nprobe largest <q, c> (coarse = <q, c>).
/// queries: size nq * dim; lists, coarse: size nq * nprobe, layout (nq, nprobe), written
/// (-1 where nprobe > nlist). Throws std::invalid_argument unless 1 <= nprobe <= kMaxK.
struct IvfProbes {
  size_t nprobe = 0;
  const idx_t* lists = nullptr;   // size nq * nprobe; -1 entries are skipped
  const float* coarse = nullptr;  // size nq * nprobe
};
void ivf_probe(const float* queries, size_t nq, size_t dim, const float* centroids,
               size_t nlist, Metric metric, size_t nprobe, float* coarse, idx_t* lists);

namespace detail {
class ByteCentroids;
}

/// ivf_probe of fixed centroids and metric (the same lists and coarse values), with what
/// makes a probe of few queries fast kept between calls: a byte shadow of the centroids (a
/// quarter of the bytes, exact integer products, and proven intervals that leave only a few
/// centroids to compute in float; detail::ByteCentroids), built once here.
class IvfCoarseProbe {
 public:
  /// centroids: size nlist * dim, referenced (they must outlive this object and not change).
  IvfCoarseProbe(const float* centroids, size_t nlist, size_t dim, Metric metric);
  ~IvfCoarseProbe();
  IvfCoarseProbe(IvfCoarseProbe&&) noexcept;

  size_t nlist() const { return nlist_; }
  size_t dim() const { return dim_; }
  /// As ivf_probe(queries, nq, dim, centroids, nlist, metric, nprobe, coarse, lists).
  /// Returns how many of the queries the shadow answered (the rest: the exact probe).
  size_t probe(const float* queries, size_t nq, size_t nprobe, float* coarse,
               idx_t* lists) const;

 private:
  const float* centroids_;
  size_t nlist_, dim_;
  Metric metric_;
  std::unique_ptr<detail::ByteCentroids> shadow_;
};

/// Every IVF search below: queries: size nq * dim, layout (nq, dim); probes from ivf_probe for
/// the same queries (list entries in [0, lists.nlist) or -1, else std::out_of_range);
/// distances, ids: size nq * k, layout (nq, k), best first (L2 ascending, IP descending),
/// ties to the smaller id, missing results id -1 and +inf (L2) or -inf (IP). Throws
/// std::invalid_argument unless 1 <= k <= kMaxK. All threads; a single query runs its
/// probed lists in parallel. Results do not depend on the thread count. filter: null, or the
/// ids that may be returned (qvec/id_filter.h), tested on each list row's id inside the scan,
/// before any collector sees it.

/// Exact distances to the float32 vectors of the lists (IvfCodec::Flat, row_bytes 4 * dim).
void ivf_search_flat(const IvfLists& lists, size_t dim, Metric metric, const float* queries,
                     size_t nq, const IvfProbes& probes, size_t k, float* distances,
                     idx_t* ids, const IdFilter* filter = nullptr);

/// PQ search of IVF lists (IvfCodec::Pq8 for nbits 8, Pq4 for nbits 4) with the list terms of
/// the residual tables precomputed. nbits 8 gives the exact float ADC top-k. nbits 4: with
/// `exact`, the fast-scan exact mode (FastScanSearchOptions::exact, the exact float ADC top-k);
/// without, the quantized tables rank (every table of a query quantized with one scale, so
/// the quantized distances of its lists compare; distances are bias + sum / scale, as
/// fast-scan's rescore = 0 reports them): the fast mode, for re-ranking afterwards.
/// A pair table as the query's table plus a list term (null: none) plus a constant added to
/// subquantizer 0's row: what IvfPqSearch::pair_table writes, without writing it.
struct IvfPairShift {
  const float* term = nullptr;  // size m * ksub, or null
  float shift = 0.0f;
};

class IvfPqSearch {
 public:
  /// pq: trained, referenced (it must outlive this object); centroids: size nlist * pq.dim(),
  /// copied. by_residual: the lists hold codes of x - c_l. Throws std::invalid_argument unless
  /// pq is trained and nlist >= 1.
  IvfPqSearch(const ProductQuantizer& pq, const float* centroids, size_t nlist,
              bool by_residual);
  ~IvfPqSearch();

  size_t nlist() const { return nlist_; }
  bool by_residual() const { return by_residual_; }
  /// Lists of the layout Pq8 / Pq4 of this pq (m subquantizers).
  void search(const IvfLists& lists, const float* queries, size_t nq, const IvfProbes& probes,
              size_t k, float* distances, idx_t* ids, bool exact = false,
              const IdFilter* filter = nullptr) const;

  /// search() of the nprobe lists ivf_probe picks for each query from this object's
  /// centroids and pq's metric (the probe and the scan in one call: a one-query search pays
  /// no probe arrays across the binding). Throws std::invalid_argument unless 1 <= nprobe <=
  /// kMaxK.
  void search_nearest(const IvfLists& lists, const float* queries, size_t nq, size_t nprobe,
                      size_t k, float* distances, idx_t* ids, bool exact = false,
                      const IdFilter* filter = nullptr) const;

  /// The table of query q (its tables row, layout (m, ksub)) for list l: written to out (size
  /// m * ksub). query_norm: ||q||^2; coarse: the probe's coarse value.
  void pair_table(const float* query_table, float query_norm, size_t list, float coarse,
                  float* out) const;
  /// pair_table's table of the same arguments, as the query's table + term + shift; for
  /// 8-bit codes of L2 by residual the term is computed inside pair_table (term null here).
  IvfPairShift pair_shift(float query_norm, size_t list, float coarse) const;

 private:
  const ProductQuantizer* pq_;
  size_t nlist_;
  bool by_residual_;
  std::vector<float> centroids_;
  bool has_terms_ = false;  // L2 by residual: each pair table adds its list's term
  std::vector<float> list_terms_;  // (nlist, m, 16): 2 <c_lj, p>; 4-bit L2 residual only
  std::vector<float> books_t_;     // (m, dsub, 256): 8-bit L2 residual, terms computed per pair
  // Per list: the largest span (max - min) of one subquantizer's list terms, and their sum
  // (zero without list terms): bound the spans of every pair table of that list.
  std::vector<float> list_max_span_, list_sum_span_;
  IvfCoarseProbe coarse_;  // over centroids_ (search_nearest)

  /// Each query's shared quantization scale over its probed lists. tables: (nq, m, 16).
  std::vector<float> shared_scales(const float* tables, size_t nq, const IvfProbes& probes) const;
  /// search() of 4-bit codes ranked by the quantized tables when no list has a term: one
  /// quantized table per query for all its lists (distances before the IP negation).
  void search_shared_pq4(const IvfLists& lists, const float* queries, size_t nq,
                         const IvfProbes& probes, size_t k, float* distances, idx_t* ids,
                         const IdFilter* filter) const;
  /// search() of 8-bit codes whose lists have terms (L2 by residual): a few queries per
  /// thread, so their tables stay in cache for all their pairs.
  void search_pairs8(const IvfLists& lists, const float* queries, size_t nq,
                     const IvfProbes& probes, size_t k, float* distances, idx_t* ids,
                     const IdFilter* filter) const;
};

/// The quantized table of a 4-bit (query, list) pair: t = query_table + list_term (null:
/// zero), rows of 16; lut[j][c] = int(min(255, max(0, (t[j][c] - min_c t[j]) * scale + 0.5)))
/// and returns sum_j min_c t[j] (the distance of all-zero bytes). query_table, list_term:
/// size m * 16; lut: size m * 16, written. The same bytes at every SIMD level.
float ivf_quantize_pair_table(const float* query_table, const float* list_term, size_t m,
                              float scale, uint8_t* lut);

/// The 8-bit pair table of L2 by residual before its subquantizer-0 shift, for the level
/// tests: out[j][c] = query_table[j][c] + 2 <centroid_j, codeword_jc>, the products of each
/// dot rounded and summed in order (no FMA): the same floats at every SIMD level.
/// query_table: m * 256; centroid: m * dsub; codebooks: (m, 256, dsub); out: m * 256.
void ivf_pq8_pair_rows(const float* query_table, const float* centroid, const float* codebooks,
                       size_t m, size_t dsub, float* out);

/// Binary search of IVF lists (IvfCodec::Binary rows of bq.pack_rows). centroids: null (the
/// lists hold codes of x), or size nlist * dim (codes of x - c_l: L2 scores the query q - c_l
/// of each list, the RaBitQ setting; IP scores q against the residual codes and adds the
/// probe's coarse <q, c_l>). Distances are the quantizer's estimates. Throws
/// std::invalid_argument unless bq is trained and 1 <= query_bits <=
/// BinaryQuantizer::kMaxQueryBits.
void ivf_search_binary(const IvfLists& lists, const BinaryQuantizer& bq, const float* centroids,
                       const float* queries, size_t nq, const IvfProbes& probes, size_t k,
                       size_t query_bits, float* distances, idx_t* ids,
                       const IdFilter* filter = nullptr);

/// ivf_search_binary scoring the float query, as BinaryQuantizer::search_extended does: every
/// code first gets its sign bits' estimate, and only those whose bound (eps, see
/// search_extended) can still enter the top k are scored in full; eps = +infinity scores every
/// code. Throws std::invalid_argument unless bq is trained, its codes are extended or of one
/// bit, eps > 0 and 1 <= k <= kMaxK.
void ivf_search_binary_float(const IvfLists& lists, const BinaryQuantizer& bq,
                             const float* centroids, const float* queries, size_t nq,
                             const IvfProbes& probes, size_t k, float eps, float* distances,
                             idx_t* ids, const IdFilter* filter = nullptr);

/// The kernels of the one-query probe, as the SIMD levels are tested on them. For each row r
/// of x (size n * d): direct[r] = ||query - x_r||^2 by the dense l2sqr, rows[r] the same
/// through the many-rows kernel (the same bits). direct, rows: size n, written.
void ivf_probe_kernels(const float* query, const float* x, size_t n, size_t d, float* direct,
                       float* rows);

/// The byte shadow's kernel: out[r] = sum_t query[t] * x[r * d + t] (exact int32) for r < n,
/// through the shadow's block layout. query: d bytes, each 0..127; x: n * d int8.
void ivf_probe_byte_kernel(const uint8_t* query, const int8_t* x, size_t n, size_t d,
                           int32_t* out);

/// The inner-product probe's kernel, as the SIMD levels are tested on it: the dense
/// dot_direct of nq <= 4 queries (size nq * d) against the n rows of x, all rows in one call
/// (grouped, layout (nq, n)), and again one row per call (single, the same bits).
void ivf_probe_dot_kernels(const float* queries, size_t nq, const float* x, size_t n, size_t d,
                           float* grouped, float* single);

/// Bytes of one binary list row (the IvfLayout row_bytes of IvfCodec::Binary). A row is the
/// code, zero up to bq.factor_offset(), then ivf_binary_row_factors(bq) float32 factors. For
/// extended codes of more than one bit these are [||x_r||^2, <x - mean, mean>, rho, alpha_0]
/// (level l's scale is alpha_0 * 2^-l, so the other bits - 1 are not stored), then the sign
/// dot (BinaryQuantizer::sign_dots) of the pruned search; otherwise all num_factors().
size_t ivf_binary_row_bytes(const BinaryQuantizer& bq);

/// Factors a binary list row stores: BinaryQuantizer::kFixedFactors + 1 for extended codes of
/// more than one bit, bq.num_factors() otherwise.
size_t ivf_binary_row_factors(const BinaryQuantizer& bq);

/// codes, factors as BinaryQuantizer::encode writes them (n rows), and for extended codes of
/// more than one bit their sign dots (size n; otherwise ignored, may be null) -> rows: size
/// n * ivf_binary_row_bytes(bq), written.
void ivf_binary_pack_rows(const BinaryQuantizer& bq, const uint8_t* codes, const float* factors,
                          const float* sign_dots, size_t n, uint8_t* rows);

/// Fills the block headers of Sq8 lists built by ivf_build_lists (zero headers) with the
/// squared norms of the decoded rows, as ScalarQuantizer::pack does (what L2 search reads).
/// lists: built for sq (row_bytes sq.dim()); packed: lists.codes, writable.
void ivf_sq8_fill_norms(const IvfLists& lists, const ScalarQuantizer& sq, uint8_t* packed);

/// Int8 scalar-quantized search of IVF lists (IvfCodec::Sq8 rows of sq, headers filled by
/// ivf_sq8_fill_norms): exact float distances to the decoded codes. centroids: null (the lists
/// hold codes of x), or size nlist * dim (codes of x - c_l, faiss IndexIVFScalarQuantizer's
/// by_residual: L2 scores q - c_l against the residual codes, IP adds the coarse <q, c_l>).
/// Throws std::invalid_argument unless sq is trained, and for NaN or inf in the queries.
void ivf_search_sq8(const IvfLists& lists, const ScalarQuantizer& sq, const float* centroids,
                    const float* queries, size_t nq, const IvfProbes& probes, size_t k,
                    float* distances, idx_t* ids, const IdFilter* filter = nullptr);

}  // namespace qvec
