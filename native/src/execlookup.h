/* Finding the executable as Docker (runc, Go's exec.LookPath) does, inside the new root. */
#ifndef TSRUN_EXECLOOKUP_H
#define TSRUN_EXECLOOKUP_H

#include <stddef.h>

/* A name with a '/' is used as is; else each PATH entry of env (or the default PATH) is
 * tried, skipping directories and files without an exec bit. Fails with step exec-lookup:
 * ENOENT ("executable file not found in $PATH", or no such file), EACCES (a directory, or
 * not executable). out receives the path to execve. */
int exec_lookup(const char *name, char *const env[], char *out, size_t out_len);

#endif
