#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct ts_err ts_err;

int ts_fail(const char *step, int errnum, const char *path, const char *detail, ...) {
  ts_err.step = step;
  ts_err.errnum = errnum;
  snprintf(ts_err.path, sizeof ts_err.path, "%s", path ? path : "");
  ts_err.detail[0] = '\0';
  if (detail) {
    va_list ap;
    va_start(ap, detail);
    vsnprintf(ts_err.detail, sizeof ts_err.detail, detail, ap);
    va_end(ap);
  }
  return -1;
}
