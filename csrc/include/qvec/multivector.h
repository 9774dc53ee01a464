#pragma once
// Multi-vector late interaction (ColBERT / ColPali style): a document and a query are bags of
// token vectors, and the score of document D for query Q is
//   MaxSim(Q, D) = sum over query tokens i of max over document tokens r of sim(q_i, x_r).
// Documents are scored from their codes with per-query-token tables (ADC); they are never
// decoded to floats. One scorer serves every codec whose token similarity is a sum of
// per-code-byte table entries (PQ 8-bit, PQ 4-bit with two nibbles per byte, one k-means
// codebook, binary levels with per-token scales): the codec builds the tables, this core
// scores. A float scorer (the exact reference, and re-scoring with kept float tokens) and the
// candidate step of the two-stage search (per-token top-k' hits -> candidate documents) sit
// beside it.
//
// Bags: bag b of a batch holds tokens [offsets[b], offsets[b + 1]) of its token array;
// offsets: size nbags + 1, offsets[0] == 0, non-decreasing, offsets[nbags] == the token count.
// Query bags must not be empty (std::invalid_argument); an empty document is never returned.
//
// Results: scores descending, ties to the smaller id; missing results (k larger than the
// documents searched) are id -1 and -inf. Every search throws std::invalid_argument unless
// 1 <= k <= kMaxK (so k == 0 throws), before allocating anything.
#include <cstddef>
#include <cstdint>

#include "qvec/common.h"

namespace qvec {

/// Per-query-token tables of the byte-code scorer.
struct MaxSimTables {
  /// size nt * m * 256, layout (nt, m, 256): the similarity that code byte j with value c adds
  /// for query token i, at tables[(i * m + j) * 256 + c]. Larger is better; finite.
  const float* tables = nullptr;
  /// nullptr, or size nt: added once to query token i's best similarity (e.g. <mean, q_i>).
  const float* bias = nullptr;
  /// Query tokens (all bags together) and code bytes per token.
  size_t nt = 0, m = 0;
  /// The m code bytes form `groups` equal runs (groups divides m); run g of token r is
  /// weighted by the token's weight g (see ByteTokenCodes). 1 for unweighted codecs.
  size_t groups = 1;
};

/// The token codes of the byte-code scorer.
struct ByteTokenCodes {
  /// size ntokens * m, layout (ntokens, m), m as in MaxSimTables.
  const uint8_t* codes = nullptr;
  /// nullptr (every weight 1), or token r's weight of run g at weights[r * weight_stride + g]
  /// (g < groups): sim(q_i, x_r) = sum_g weight(r, g) * (sum of run g's table entries).
  const float* weights = nullptr;
  size_t weight_stride = 0;
  size_t ntokens = 0;
};

/// Documents to score: bags of tokens (see the file comment), their ids, and which of them
/// each query scores.
struct MaxSimDocs {
  /// size ndocs + 1: the token bags of the documents.
  const int64_t* offsets = nullptr;
  size_t ndocs = 0;
  /// nullptr (the id of document d is d) or size ndocs, ids >= 0: reported and tie-broken.
  const idx_t* ids = nullptr;
  /// nullptr: every query scores every document (the exhaustive search). Otherwise query q
  /// scores documents candidates[candidate_offsets[q] .. candidate_offsets[q + 1]) (document
  /// numbers < ndocs, or -1 which is skipped; each listed once); candidate_offsets: size
  /// nq + 1, non-decreasing.
  const idx_t* candidates = nullptr;
  const int64_t* candidate_offsets = nullptr;
};

/// MaxSim top-k from byte codes. query_offsets: size nq + 1 over the nt query tokens of
/// `tables`; codes.ntokens must equal docs.offsets[docs.ndocs]. scores, ids: size nq * k,
/// layout (nq, k). Runs (query x document chunk) tasks on all threads, polls Ctrl-C.
/// Throws std::invalid_argument for bad bags, candidates, sizes or k.
void maxsim_search_codes(const MaxSimTables& tables, const int64_t* query_offsets, size_t nq,
                         const ByteTokenCodes& codes, const MaxSimDocs& docs, size_t k,
                         float* scores, idx_t* ids);

/// Exact MaxSim top-k over float tokens (sim = inner product). queries: size nt * dim, layout
/// (nt, dim) with nt = query_offsets[nq]; tokens: size docs.offsets[docs.ndocs] * dim, layout
/// (ntokens, dim). Other arguments and throws as maxsim_search_codes.
void maxsim_search_float(const float* queries, const int64_t* query_offsets, size_t nq,
                         const float* tokens, size_t dim, const MaxSimDocs& docs, size_t k,
                         float* scores, idx_t* ids);

/// The candidate step of the two-stage search: the documents holding any of each query's
/// per-token hits. hits: size nt * kprime, layout (nt, kprime), token numbers < ntokens or -1
/// (skipped), nt = query_offsets[nq]; doc_of_token: size ntokens, the document of each token.
/// candidates: size nt * kprime (capacity), written as the CSR lists of MaxSimDocs: query q's
/// distinct documents, ascending, at candidates[candidate_offsets[q] ..
/// candidate_offsets[q + 1]); candidate_offsets: size nq + 1, written.
void maxsim_candidates(const idx_t* hits, size_t kprime, const int64_t* query_offsets,
                       size_t nq, const int64_t* doc_of_token, size_t ntokens, size_t ndocs,
                       idx_t* candidates, int64_t* candidate_offsets);

/// Checks a bag offsets array (see the file comment) of nbags bags over ntokens tokens;
/// `what` names it in the std::invalid_argument message.
void check_bags(const int64_t* offsets, size_t nbags, size_t ntokens, const char* what);

}  // namespace qvec
