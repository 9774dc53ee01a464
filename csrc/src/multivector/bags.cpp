// Bag offsets and the candidate step of the two-stage MaxSim search.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "parallel.h"
#include "qvec/error.h"
#include "qvec/multivector.h"

namespace qvec {

void check_bags(const int64_t* offsets, size_t nbags, size_t ntokens, const char* what) {
  const std::string name(what);
  QVEC_CHECK_ARG(offsets != nullptr, name + " offsets must not be null");
  QVEC_CHECK_ARG(offsets[0] == 0, name + " offsets must start at 0; got " +
                                      std::to_string(offsets[0]));
  for (size_t b = 0; b < nbags; ++b)
    QVEC_CHECK_ARG(offsets[b] <= offsets[b + 1],
                   name + " offsets must be non-decreasing; offsets[" + std::to_string(b + 1) +
                       "] = " + std::to_string(offsets[b + 1]) + " < " +
                       std::to_string(offsets[b]));
  QVEC_CHECK_ARG(static_cast<uint64_t>(offsets[nbags]) == ntokens,
                 name + " offsets must end at the token count " + std::to_string(ntokens) +
                     "; got " + std::to_string(offsets[nbags]));
}

void maxsim_candidates(const idx_t* hits, size_t kprime, const int64_t* query_offsets,
                       size_t nq, const int64_t* doc_of_token, size_t ntokens, size_t ndocs,
                       idx_t* candidates, int64_t* candidate_offsets) {
  QVEC_CHECK_ARG(kprime >= 1, "kprime must be >= 1");
  check_bags(query_offsets, nq, static_cast<size_t>(query_offsets ? query_offsets[nq] : 0),
             "query");
  for (size_t r = 0; r < ntokens; ++r)
    QVEC_CHECK_ARG(doc_of_token[r] >= 0 && static_cast<size_t>(doc_of_token[r]) < ndocs,
                   "doc_of_token[" + std::to_string(r) + "] is not a document number");
  const size_t nt = static_cast<size_t>(query_offsets[nq]);
  for (size_t h = 0; h < nt * kprime; ++h)
    QVEC_CHECK_ARG(hits[h] >= -1 && hits[h] < static_cast<idx_t>(ntokens),
                   "hits[" + std::to_string(h) + "] = " + std::to_string(hits[h]) +
                       " is not a token number or -1");
  // Query q writes into its own segment [q0 * kprime, q1 * kprime), compacted afterwards.
  std::vector<size_t> counts(nq);
  detail::parallel_for(nq, [&](size_t q) {
    const size_t b = static_cast<size_t>(query_offsets[q]) * kprime;
    const size_t e = static_cast<size_t>(query_offsets[q + 1]) * kprime;
    size_t n = 0;
    for (size_t h = b; h < e; ++h)
      if (hits[h] >= 0) candidates[b + n++] = doc_of_token[hits[h]];
    std::sort(candidates + b, candidates + b + n);
    counts[q] = static_cast<size_t>(std::unique(candidates + b, candidates + b + n) -
                                    (candidates + b));
  });
  size_t out = 0;
  candidate_offsets[0] = 0;
  for (size_t q = 0; q < nq; ++q) {
    const size_t b = static_cast<size_t>(query_offsets[q]) * kprime;
    std::memmove(candidates + out, candidates + b, counts[q] * sizeof(idx_t));  // out <= b
    out += counts[q];
    candidate_offsets[q + 1] = static_cast<int64_t>(out);
  }
}

}  // namespace qvec
