// MaxSim top-k: (query x document chunk) tasks so that one query or a thousand keep every core
// busy, each filling a fresh heap; the partial lists are merged with the global tie rule. The
// heaps hold negated scores (smaller is better) and the results are negated back.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "multivector/scorers.h"
#include "parallel.h"
#include "qvec/error.h"
#include "qvec/multivector.h"
#include "search/collector.h"
#include "search/topk_merge.h"
#include "stop.h"

namespace qvec {
namespace {

constexpr size_t kMinChunk = 64;      // documents per task at least
constexpr size_t kPollDocs = 256;     // documents between two Ctrl-C polls

size_t list_length(const MaxSimDocs& docs, size_t q) {
  if (!docs.candidates) return docs.ndocs;
  return static_cast<size_t>(docs.candidate_offsets[q + 1] - docs.candidate_offsets[q]);
}

void check_docs(const MaxSimDocs& docs, size_t nq, size_t ntokens) {
  check_bags(docs.offsets, docs.ndocs, ntokens, "document");
  if (docs.ids)
    for (size_t d = 0; d < docs.ndocs; ++d)
      QVEC_CHECK_ARG(docs.ids[d] >= 0, "document ids must be >= 0");
  if (!docs.candidates) return;
  QVEC_CHECK_ARG(docs.candidate_offsets != nullptr, "candidate_offsets must not be null");
  const int64_t total = docs.candidate_offsets[nq];
  check_bags(docs.candidate_offsets, nq, static_cast<size_t>(std::max<int64_t>(total, 0)),
             "candidate");
  for (int64_t c = 0; c < total; ++c)
    QVEC_CHECK_ARG(docs.candidates[c] >= -1 && docs.candidates[c] < static_cast<idx_t>(docs.ndocs),
                   "candidates[" + std::to_string(c) + "] is not a document number or -1");
}

void check_queries(const int64_t* query_offsets, size_t nq, size_t nt) {
  check_bags(query_offsets, nq, nt, "query");
  for (size_t q = 0; q < nq; ++q)
    QVEC_CHECK_ARG(query_offsets[q + 1] > query_offsets[q],
                   "query " + std::to_string(q) + " has no tokens");
}

/// Scores positions [p0, p1) of query q's document list into `heap`.
template <class Scorer>
void score_chunk(Scorer& scorer, const MaxSimDocs& docs, size_t q, size_t p0, size_t p1,
                 detail::HeapView heap) {
  const idx_t* list = docs.candidates ? docs.candidates + docs.candidate_offsets[q] : nullptr;
  for (size_t p = p0; p < p1; ++p) {
    if ((p - p0) % kPollDocs == kPollDocs - 1) detail::check_stop();
    const idx_t d = list ? list[p] : static_cast<idx_t>(p);
    if (d < 0) continue;
    const int64_t r0 = docs.offsets[d], r1 = docs.offsets[d + 1];
    if (r0 == r1) continue;
    const float dist = -scorer.score(r0, r1);
    const idx_t id = docs.ids ? docs.ids[d] : d;
    if (heap.admits(dist, id)) heap.push(dist, id);
  }
}

/// make_scorer() gives a fresh Scorer (one per task: scorers own their workspace).
template <class MakeScorer>
void maxsim_grid(const int64_t* query_offsets, size_t nq, const MaxSimDocs& docs, size_t k,
                 MakeScorer&& make_scorer, float* scores, idx_t* ids) {
  const size_t threads = static_cast<size_t>(get_num_threads());
  size_t longest = 0;
  for (size_t q = 0; q < nq; ++q) longest = std::max(longest, list_length(docs, q));
  size_t splits = 1;
  if (nq < 2 * threads)
    splits = std::max<size_t>(1, std::min((2 * threads + nq - 1) / nq,
                                          (longest + kMinChunk - 1) / kMinChunk));
  std::vector<float> part_dist(splits * nq * k);
  std::vector<idx_t> part_ids(splits * nq * k);
  detail::parallel_for(nq * splits, [&](size_t task) {
    const size_t q = task / splits, s = task % splits, len = list_length(docs, q);
    detail::HeapView heap{part_dist.data() + (s * nq + q) * k, part_ids.data() + (s * nq + q) * k,
                          k};
    heap.clear();
    const size_t p0 = len * s / splits, p1 = len * (s + 1) / splits;
    if (p0 == p1) return;
    auto scorer = make_scorer();
    scorer.prepare(query_offsets[q], query_offsets[q + 1]);
    score_chunk(scorer, docs, q, p0, p1, heap);
  });
  detail::merge_partial_topk(part_dist.data(), part_ids.data(), splits, nq, k, scores, ids);
  detail::negate(scores, nq * k);
}

}  // namespace

void maxsim_search_codes(const MaxSimTables& tables, const int64_t* query_offsets, size_t nq,
                         const ByteTokenCodes& codes, const MaxSimDocs& docs, size_t k,
                         float* scores, idx_t* ids) {
  check_k(k);
  QVEC_CHECK_ARG(tables.m >= 1 && tables.groups >= 1 && tables.m % tables.groups == 0,
                 "tables.m must be >= 1 and a multiple of tables.groups");
  QVEC_CHECK_ARG(!codes.weights || codes.weight_stride >= tables.groups,
                 "codes.weight_stride must be >= tables.groups");
  check_queries(query_offsets, nq, tables.nt);
  check_docs(docs, nq, codes.ntokens);
  for (size_t e = 0; e < tables.nt * tables.m * 256; ++e)
    QVEC_CHECK_ARG(std::isfinite(tables.tables[e]), "tables must be finite");
  maxsim_grid(query_offsets, nq, docs, k, [&] { return detail::ByteMaxSim(tables, codes); },
              scores, ids);
}

void maxsim_search_float(const float* queries, const int64_t* query_offsets, size_t nq,
                         const float* tokens, size_t dim, const MaxSimDocs& docs, size_t k,
                         float* scores, idx_t* ids) {
  check_k(k);
  QVEC_CHECK_ARG(dim >= 1, "dim must be >= 1");
  QVEC_CHECK_ARG(query_offsets != nullptr && query_offsets[nq] >= 0,
                 "query offsets must end at the query token count");
  check_queries(query_offsets, nq, static_cast<size_t>(query_offsets[nq]));
  QVEC_CHECK_ARG(docs.offsets != nullptr && docs.offsets[docs.ndocs] >= 0,
                 "document offsets must end at the token count");
  check_docs(docs, nq, static_cast<size_t>(docs.offsets[docs.ndocs]));
  const size_t nt = static_cast<size_t>(query_offsets[nq]);
  for (size_t e = 0; e < nt * dim; ++e)
    QVEC_CHECK_ARG(std::isfinite(queries[e]), "queries must be finite");
  maxsim_grid(query_offsets, nq, docs, k,
              [&] { return detail::FloatMaxSim(queries, tokens, dim); }, scores, ids);
}

}  // namespace qvec
