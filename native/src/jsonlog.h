/*
 * Docker's json-file log: one JSON object a line,
 *   {"log":"<one line of output, with its \n>","stream":"stdout","time":"<RFC3339Nano>"}
 * Output is split at newlines; a line longer than 16 KiB, or unterminated at EOF, is
 * written as it is, without a \n (as Docker's partial messages).
 */
#ifndef TSRUN_JSONLOG_H
#define TSRUN_JSONLOG_H

#include <stddef.h>

#include "buf.h"

enum log_stream { LOG_STDOUT, LOG_STDERR };

struct jsonlog {
  int fd; /* -1: no log */
  struct tbuf pending[2];
};

int jsonlog_open(struct jsonlog *l, const char *path);
void jsonlog_write(struct jsonlog *l, enum log_stream s, const char *data, size_t n);
/* Writes the unterminated rest of each stream. */
void jsonlog_flush(struct jsonlog *l);
void jsonlog_close(struct jsonlog *l);

/* Appends s[0..n) as the inside of a JSON string (Go's escaping: <, >, & as \u00XX;
 * invalid UTF-8 as \ufffd). */
int json_escape(struct tbuf *out, const char *s, size_t n);

#endif
