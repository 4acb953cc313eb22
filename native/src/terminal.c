#include "terminal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <termios.h>
#include <unistd.h>

#include "../gen/protocol.h"
#include "err.h"
#include "inroot.h"
#include "sys.h"

/* runc does the same: programs that write to /dev/console reach the container's terminal,
 * never the host's console. Only where the container has a /dev. */
static int bind_console(int slave_nr) {
  int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return ts_fail_errno(TS_STEP_CONSOLE, "/");
  int dev = inroot_open(&sys_real, rootfd, "/dev", O_PATH | O_DIRECTORY);
  if (dev < 0) {
    close(rootfd);
    return 0;
  }
  close(dev);
  int fd = inroot_target(&sys_real, rootfd, "/dev/console", false);
  close(rootfd);
  if (fd < 0) return ts_fail_errno(TS_STEP_CONSOLE, "/dev/console");
  char src[64], buf[32];
  snprintf(src, sizeof src, "/dev/pts/%d", slave_nr);
  int r = mount(src, fd_path(fd, buf), NULL, MS_BIND, NULL);
  int e = errno;
  close(fd);
  return r < 0 ? ts_fail(TS_STEP_CONSOLE, e, "/dev/console", "from \"%s\"", src) : 0;
}

/* Makes slave the controlling terminal and 0/1/2 of this process; plain -1/errno. */
static int take_terminal(const struct plan *p, int slave) {
  if (p->rows && p->cols) {
    struct winsize ws = {.ws_row = p->rows, .ws_col = p->cols};
    if (ioctl(slave, TIOCSWINSZ, &ws) < 0) return -1;
  }
  /* A new session first: only a session leader without a terminal can acquire one. */
  if (setsid() < 0 && errno != EPERM) return -1;
  if (ioctl(slave, TIOCSCTTY, 0) < 0) return -1;
  for (int i = 0; i < 3; i++)
    if (dup2(slave, i) < 0) return -1;
  return 0;
}

int terminal_setup(const struct plan *p) {
  /* /dev/ptmx is the plan's symlink to pts/ptmx: the container's own devpts instance (a pty
   * of the host's devpts would not be a terminal inside the user namespace). */
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC), slave = -1, unlock = 0, nr = -1;
  if (master < 0) return ts_fail_errno(TS_STEP_TERMINAL, "/dev/ptmx");
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &nr) < 0 ||
      /* TIOCGPTPEER opens the slave from the master, with no path lookup to race. */
      (slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0 || take_terminal(p, slave) < 0) {
    ts_fail_errno(TS_STEP_TERMINAL, "/dev/ptmx");
  } else if (bind_console(nr) == 0) {
    close(slave);
    return master;
  }
  if (slave >= 0) close(slave);
  close(master);
  return -1;
}
