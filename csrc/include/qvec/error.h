#pragma once
// Two kinds of failure, kept apart: QVEC_CHECK_ARG is for user input and throws an exception
// the user can act on; QVEC_ASSERT is for internal invariants and aborts loudly with file and
// line, because continuing past a broken invariant would return silent garbage.
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#define QVEC_ASSERT(cond)                                                              \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "qvec internal error: '%s' failed at %s:%d\n", #cond,       \
                   __FILE__, __LINE__);                                                \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

#define QVEC_CHECK_ARG(cond, message)                                                  \
  do {                                                                                 \
    if (!(cond)) throw std::invalid_argument(std::string(message));                   \
  } while (0)
