/* A minimal test harness: CHECK records a failure and goes on; main returns the count. */
#ifndef TSRUN_T_H
#define TSRUN_T_H

#include <stdio.h>
#include <string.h>

static int t_failures, t_checks;

#define CHECK(cond)                                                         \
  do {                                                                      \
    t_checks++;                                                             \
    if (!(cond)) {                                                          \
      t_failures++;                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                       \
  } while (0)

#define CHECK_STR(a, b)                                                                    \
  do {                                                                                     \
    t_checks++;                                                                            \
    const char *a_ = (a), *b_ = (b);                                                       \
    if (!a_ || !b_ || strcmp(a_, b_)) {                                                    \
      t_failures++;                                                                        \
      fprintf(stderr, "%s:%d: expected\n%s\n---- got ----\n%s\n", __FILE__, __LINE__, b_ ? b_ : "(null)", \
              a_ ? a_ : "(null)");                                                         \
    }                                                                                      \
  } while (0)

#define T_DONE(name)                                                                    \
  do {                                                                                  \
    fprintf(stderr, "%s: %d checks, %d failed\n", name, t_checks, t_failures);          \
    return t_failures ? 1 : 0;                                                          \
  } while (0)

#endif
