/*
 * The one error contract of the native code (after crun's): every fallible function
 * returns < 0 and, before returning, records in ts_err which step failed, the errno and the
 * path involved. Callers either pass the failure up unchanged or, at the top (main, the
 * init's sequence), report it: to the launcher on fd 3, to a START requester, or to
 * monitor.log. Each process (monitor, init) is single-threaded, so one record suffices.
 */
#ifndef TSRUN_ERR_H
#define TSRUN_ERR_H

#include <stddef.h>

struct ts_err {
  const char *step; /* a TS_STEP_* name */
  int errnum;       /* positive errno */
  char path[1024];
  char detail[256];
};

extern struct ts_err ts_err;

/* Records a failure and returns -1. detail is a printf format (may be NULL). */
int ts_fail(const char *step, int errnum, const char *path, const char *detail, ...)
    __attribute__((format(printf, 4, 5)));

/* ts_fail with the current errno. */
#define ts_fail_errno(step, path) ts_fail((step), errno, (path), NULL)

#endif
