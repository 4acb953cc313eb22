#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../gen/protocol.h"
#include "buf.h"
#include "err.h"
#include "exitrec.h"
#include "frame.h"
#include "jsonlog.h"
#include "restart.h"
#include "sync.h"
#include "util.h"

#define MAX_CLIENTS 64
/* A client more than this behind stops the reading of the container's output
 * (backpressure), rather than the monitor buffering without bound or dropping bytes. */
#define CLIENT_OUT_MAX (256 * 1024)
#define STDIN_BUF_MAX (64 * 1024)
/* After PID 1 exits: how long to wait for the rest of its output (other holders of the
 * pipes, when the PID namespace is shared), and for slow clients to take what is queued. */
#define DRAIN_MS 3000
#define FLUSH_MS 2000
/* The oldest client protocol still served (a client of protocol 1 never sends STOP, and
 * sees RESTARTING as EXITED). */
#define OLDEST_CLIENT_PROTOCOL 1

enum tag { T_LISTEN = 1, T_SIGNAL, T_SYNC, T_OUT, T_ERR, T_IN, T_CLIENT };

struct client {
  int fd;
  bool hello, start_pending, closing;
  uint32_t flags;
  uint32_t events;
  struct tbuf in, out;
};

struct mon {
  const struct plan *p;
  struct spawned *s;
  int ep, listen, sigfd;
  int state;
  bool start_sent, start_failed;
  struct ts_err failure; /* the init's report when the start failed */
  bool exited, finalized;
  int wait_status;
  int exit_code, exit_signal;
  bool oom;
  long long oom_base;
  char started_at[40], finished_at[40];
  uint64_t started_ms, exited_ms; /* monotonic, for the uptime a restart decision needs */
  bool stopped;                   /* STOP received: this exit is wanted, no restart */
  uint64_t kill_due;              /* monotonic: a STOP's SIGKILL if PID 1 still runs then (0: none) */
  bool restart_pending;           /* waiting out the back-off (state RESTARTING) */
  uint64_t restart_due;           /* monotonic */
  char restart_at[40];            /* the same, RFC 3339, as in the `restarting` file */
  uint64_t drain_deadline, flush_deadline;
  uint32_t ev_out, ev_err, ev_in, ev_sync;
  struct client *clients[MAX_CLIENTS];
  size_t n_clients;
  struct tbuf stdin_buf;
  bool stdin_close;
  struct jsonlog log;
};

void diag(bool failure, const char *fmt, ...) {
  if (!failure && !getenv("TSRUN_MONITOR_DEBUG")) return;
  int fd = open("monitor.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return;
  char line[1200], now[40];
  int n = snprintf(line, sizeof line, "%s [%d] ", rfc3339_now(now), (int)getpid());
  va_list ap;
  va_start(ap, fmt);
  n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  write_all(fd, line, (size_t)n);
  close(fd);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t tag_of(enum tag t, int fd) { return (uint64_t)t << 32 | (uint32_t)fd; }

/* Registers, changes or removes interest. Removal rather than an empty mask: a paused pipe
 * would otherwise report EPOLLHUP in a busy loop. */
static void interest(struct mon *m, int fd, enum tag t, uint32_t want, uint32_t *cur) {
  if (fd < 0 || want == *cur) return;
  struct epoll_event ev = {.events = want, .data.u64 = tag_of(t, fd)};
  int op = !*cur ? EPOLL_CTL_ADD : !want ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
  if (epoll_ctl(m->ep, op, fd, &ev) == 0 || op == EPOLL_CTL_DEL) *cur = want;
}

static bool wants(const struct client *c, uint32_t flag) { return c->hello && !c->closing && (c->flags & flag); }

static void send_frame(struct client *c, uint8_t type, const void *payload, size_t len) {
  if (c->closing && type != TS_MSG_ERROR) return;
  if (frame_append(&c->out, type, payload, len) < 0) c->closing = true;
}

static void send_error(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_error(struct client *c, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  send_frame(c, TS_MSG_ERROR, msg, strlen(msg) + 1);
  c->closing = true;
}

static void exit_payload(struct mon *m, struct tbuf *b) {
  tbuf_u32(b, (uint32_t)m->exit_code);
  tbuf_u32(b, (uint32_t)m->exit_signal);
  tbuf_u8(b, m->oom);
  tbuf_str(b, m->started_at);
  tbuf_str(b, m->finished_at);
}

static void failure_payload(struct tbuf *b, const struct ts_err *e) {
  struct ts_err saved = ts_err;
  ts_err = *e;
  frame_failure_payload(b);
  ts_err = saved;
}

/* ---- the container's output ---------------------------------------------------------- */

static bool output_room(struct mon *m, uint32_t flag) {
  for (size_t i = 0; i < m->n_clients; i++)
    if (wants(m->clients[i], flag) && m->clients[i]->out.len + TS_MAX_DATA_CHUNK + 5 > CLIENT_OUT_MAX) return false;
  return true;
}

static void close_output(struct mon *m, int *fd, uint32_t *ev) {
  interest(m, *fd, T_OUT, 0, ev);
  close(*fd);
  *fd = -1;
}

static void read_output(struct mon *m, bool err) {
  int *fd = err ? &m->s->err : (m->s->pty >= 0 ? &m->s->pty : &m->s->out);
  static char buf[TS_MAX_DATA_CHUNK];
  ssize_t n = read(*fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) { /* EOF, or EIO from a pty whose last slave closed */
    close_output(m, fd, err ? &m->ev_err : &m->ev_out);
    return;
  }
  jsonlog_write(&m->log, err ? LOG_STDERR : LOG_STDOUT, buf, (size_t)n);
  uint32_t flag = err ? TS_HELLO_WANT_STDERR : TS_HELLO_WANT_STDOUT;
  for (size_t i = 0; i < m->n_clients; i++)
    if (wants(m->clients[i], flag)) send_frame(m->clients[i], err ? TS_MSG_STDERR : TS_MSG_STDOUT, buf, (size_t)n);
}

static int stdin_fd(struct mon *m) { return m->s->in; }

static void write_stdin(struct mon *m) {
  int fd = stdin_fd(m);
  if (fd < 0) {
    tbuf_consume(&m->stdin_buf, m->stdin_buf.len);
    return;
  }
  if (m->stdin_buf.len) {
    ssize_t n = write(fd, m->stdin_buf.data, m->stdin_buf.len);
    if (n > 0) tbuf_consume(&m->stdin_buf, (size_t)n);
    else if (n < 0 && errno != EAGAIN && errno != EINTR) tbuf_consume(&m->stdin_buf, m->stdin_buf.len);
  }
  /* STDIN_CLOSE is honoured once what came before it is written. A terminal has no EOF of
   * its own to give (the user types ^D), so there it only stops the input. */
  if (!m->stdin_buf.len && m->stdin_close && !m->p->terminal) {
    interest(m, fd, T_IN, 0, &m->ev_in);
    close(fd);
    m->s->in = -1;
  }
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static void started(struct mon *m) {
  trace_point("monitor: execve done");
  m->state = TS_STATE_RUNNING;
  m->started_ms = now_ms();
  rfc3339_now(m->started_at);
  if (started_record_write(m->started_at) < 0) diag(true, "Cannot write \"started\": %s", strerror(errno));
  for (size_t i = 0; i < m->n_clients; i++)
    if (m->clients[i]->start_pending) {
      m->clients[i]->start_pending = false;
      send_frame(m->clients[i], TS_MSG_STARTED, NULL, 0);
    }
  trace_point("monitor: started recorded");
}

static void start_failed(struct mon *m) {
  m->start_failed = true;
  m->failure = ts_err;
  diag(true, "Start failed: step %s, %s, \"%s\" %s", ts_err.step, strerror(ts_err.errnum), ts_err.path, ts_err.detail);
  struct tbuf b = {0};
  failure_payload(&b, &m->failure);
  for (size_t i = 0; i < m->n_clients; i++)
    if (m->clients[i]->start_pending) {
      m->clients[i]->start_pending = false;
      send_frame(m->clients[i], TS_MSG_START_FAILED, b.data, b.len);
    }
  tbuf_free(&b);
}

/* The sync socket after READY: EOF after START means execve succeeded (the socket is
 * close-on-exec in the init); FAILED means the start failed. */
static void read_sync(struct mon *m) {
  uint32_t type;
  char buf[4096];
  ssize_t n = sync_recv(m->s->sync, &type, buf, sizeof buf, NULL, NULL, 0);
  if (n < 0 && ts_err.errnum == EAGAIN) return;
  if (n >= 0 && type == TS_SYNC_FAILED) {
    sync_decode_failure(buf, (size_t)n);
    start_failed(m);
    return;
  }
  if (n < 0 || type == 0) {
    if (n >= 0 && m->start_sent && !m->start_failed) started(m);
    interest(m, m->s->sync, T_SYNC, 0, &m->ev_sync);
    close(m->s->sync);
    m->s->sync = -1;
  }
}

static void reap(struct mon *m) {
  struct signalfd_siginfo si;
  while (read(m->sigfd, &si, sizeof si) > 0) {
  }
  for (;;) {
    int st;
    pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid <= 0) break;
    if (pid == m->s->pid && !m->exited) {
      m->exited = true;
      m->wait_status = st;
      m->exited_ms = now_ms();
      rfc3339_now(m->finished_at);
      trace_point("monitor: PID 1 exited");
      m->drain_deadline = now_ms() + DRAIN_MS;
    }
  }
}

static void flush_clients(struct mon *m);

/* Docker's restart policy, for a process that really ran (a failed start is no exit to
 * restart after): the decision (restart.h), then the `restarting` record, without which
 * nobody would know, so no restart when it cannot be written (the state dir is gone, say). */
static void schedule_restart(struct mon *m) {
  /* The exec's EOF on the sync socket may be read after the exit was reaped. */
  uint64_t uptime = m->exited_ms > m->started_ms ? m->exited_ms - m->started_ms : 0, delay;
  if (!m->started_at[0] || !restart_decide(&m->p->restart, m->exit_code, m->stopped, uptime, &delay)) return;
  rfc3339_after(m->restart_at, delay);
  if (restarting_record_write(m->restart_at) < 0) {
    if (errno != ENOENT) diag(true, "Cannot write \"restarting\": %s", strerror(errno));
    return;
  }
  m->restart_due = now_ms() + delay;
  m->restart_pending = true;
  diag(false, "Exit code %d: restarting in %llu ms", m->exit_code, (unsigned long long)delay);
}

/* STOP during the back-off: the container stays exited; the exit command runs as usual. */
static void cancel_restart(struct mon *m) {
  if (!m->restart_pending) return;
  m->restart_pending = false;
  m->state = TS_STATE_EXITED;
  if (unlink("restarting") < 0 && errno != ENOENT) diag(true, "Cannot remove \"restarting\": %s", strerror(errno));
  diag(false, "Restart cancelled by STOP");
}

static void finalize(struct mon *m) {
  while (m->s->sync >= 0) read_sync(m); /* the init is dead: this cannot block */
  if (WIFSIGNALED(m->wait_status)) {
    m->exit_signal = WTERMSIG(m->wait_status);
    m->exit_code = 128 + m->exit_signal;
  } else {
    m->exit_code = WEXITSTATUS(m->wait_status);
  }
  if (m->p->oom_events_file && m->oom_base >= 0) m->oom = read_oom_kill(m->p->oom_events_file) > m->oom_base;
  jsonlog_flush(&m->log);
  /* `restarting` before exit.json: whoever sees the exit also sees the restart pending. */
  schedule_restart(m);
  struct exit_record rec = {m->exit_code, m->exit_signal, m->oom, m->started_at, m->finished_at};
  int record = exit_record_write(&rec);
  if (record < 0 && errno != ENOENT) diag(true, "Cannot write \"exit.json\": %s", strerror(errno));
  m->state = TS_STATE_EXITED;
  struct tbuf b = {0};
  exit_payload(m, &b);
  for (size_t i = 0; i < m->n_clients; i++) {
    struct client *c = m->clients[i];
    if (!c->hello) continue;
    if (c->start_pending) {
      struct tbuf f = {0};
      struct ts_err e = {.step = TS_STEP_START, .errnum = ESRCH};
      snprintf(e.detail, sizeof e.detail, "The container exited before it started");
      failure_payload(&f, m->start_failed ? &m->failure : &e);
      send_frame(c, TS_MSG_START_FAILED, f.data, f.len);
      tbuf_free(&f);
      c->start_pending = false;
    }
    send_frame(c, TS_MSG_EXITED, b.data, b.len);
  }
  tbuf_free(&b);
  if (m->s->in >= 0) {
    interest(m, m->s->in, T_IN, 0, &m->ev_in);
    close(m->s->in);
    m->s->in = -1;
  }
  if (m->restart_pending) m->state = TS_STATE_RESTARTING;
  m->finalized = true;
  trace_point("monitor: exit recorded");
  /* The news first (a foreground run waits for it), then the record made durable. */
  flush_clients(m);
  if (record >= 0) {
    if (fsync(record) < 0) diag(true, "Cannot fsync \"exit.json\": %s", strerror(errno));
    close(record);
  }
}

/* ---- clients -------------------------------------------------------------------------- */

static void drop_client(struct mon *m, size_t i) {
  struct client *c = m->clients[i];
  epoll_ctl(m->ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  tbuf_free(&c->in);
  tbuf_free(&c->out);
  free(c);
  m->clients[i] = m->clients[--m->n_clients];
}

static void accept_client(struct mon *m) {
  int fd = accept4(m->listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return;
  struct client *c = m->n_clients < MAX_CLIENTS ? calloc(1, sizeof *c) : NULL;
  if (!c) {
    close(fd);
    return;
  }
  c->fd = fd;
  m->clients[m->n_clients++] = c;
}

static void on_hello(struct mon *m, struct client *c, struct rd *r) {
  uint32_t proto = rd_u32(r), flags = rd_u32(r);
  if (r->err) return send_error(c, "Malformed HELLO");
  if (proto < OLDEST_CLIENT_PROTOCOL || proto > TS_MONITOR_PROTOCOL)
    return send_error(c, "Protocol version %u is not supported; this monitor speaks %u to %u", proto,
                      OLDEST_CLIENT_PROTOCOL, TS_MONITOR_PROTOCOL);
  c->hello = true;
  c->flags = flags;
  bool restarting = m->state == TS_STATE_RESTARTING;
  struct tbuf b = {0};
  tbuf_u32(&b, TS_MONITOR_PROTOCOL);
  tbuf_u32(&b, (uint32_t)m->s->pid);
  tbuf_u8(&b, (uint8_t)(restarting && proto < 2 ? TS_STATE_EXITED : m->state));
  if (m->state == TS_STATE_EXITED || restarting) exit_payload(m, &b);
  if (restarting) tbuf_str(&b, m->restart_at);
  send_frame(c, TS_MSG_HELLO, b.data, b.len);
  tbuf_free(&b);
}

/* STOP: the exit that follows is wanted (no restart), the signal goes as with SIGNAL, and
 * a pending restart is cancelled. Acknowledged with the state after it. With a kill delay,
 * the monitor sends SIGKILL itself if PID 1 still runs when it is over: the stop's timeout
 * holds even when the client that asked for it is killed (as the daemon's does for Docker's). */
static void on_stop(struct mon *m, struct client *c, struct rd *r) {
  uint32_t sig = rd_u32(r);
  if (r->err || sig >= 65) return send_error(c, "Malformed STOP");
  uint32_t kill_after = r->n >= 4 ? rd_u32(r) : 0; /* optional: older clients send the signal only */
  m->stopped = true;
  if (sig && !m->exited) kill(m->s->pid, (int)sig);
  if (kill_after && !m->exited) {
    uint64_t due = now_ms() + kill_after;
    if (!m->kill_due || due < m->kill_due) m->kill_due = due;
  }
  cancel_restart(m);
  uint8_t state = (uint8_t)m->state;
  send_frame(c, TS_MSG_STOP_ACK, &state, 1);
}

static void on_start(struct mon *m, struct client *c) {
  if (m->state == TS_STATE_RUNNING) return send_frame(c, TS_MSG_STARTED, NULL, 0);
  if (m->start_failed || m->state == TS_STATE_EXITED || m->exited) {
    struct ts_err e = {.step = TS_STEP_START, .errnum = ESRCH};
    snprintf(e.detail, sizeof e.detail, "The container has exited");
    struct tbuf b = {0};
    failure_payload(&b, m->start_failed ? &m->failure : &e);
    send_frame(c, TS_MSG_START_FAILED, b.data, b.len);
    tbuf_free(&b);
    return;
  }
  c->start_pending = true;
  if (!m->start_sent) {
    m->start_sent = true;
    if (sync_send(m->s->sync, TS_SYNC_START, NULL, 0, NULL, 0) < 0) start_failed(m);
  }
}

static void on_message(struct mon *m, struct client *c, uint8_t type, const uint8_t *payload, size_t len) {
  struct rd r = {payload, len, false};
  if (!c->hello) {
    if (type != TS_MSG_HELLO) return send_error(c, "Expected HELLO, got message type %u", type);
    return on_hello(m, c, &r);
  }
  switch (type) {
    case TS_MSG_START:
      trace_point("monitor: START");
      return on_start(m, c);
    case TS_MSG_STDIN:
      if ((c->flags & TS_HELLO_WANT_STDIN) && stdin_fd(m) >= 0 && !m->stdin_close) tbuf_put(&m->stdin_buf, payload, len);
      return;
    case TS_MSG_STDIN_CLOSE:
      if (c->flags & TS_HELLO_WANT_STDIN) {
        m->stdin_close = true;
        write_stdin(m);
      }
      return;
    case TS_MSG_RESIZE: {
      struct winsize ws = {.ws_row = rd_u16(&r), .ws_col = rd_u16(&r)};
      if (r.err) return send_error(c, "Malformed RESIZE");
      if (m->s->pty >= 0) ioctl(m->s->pty, TIOCSWINSZ, &ws);
      return;
    }
    case TS_MSG_SIGNAL: {
      uint32_t sig = rd_u32(&r);
      if (r.err || sig == 0 || sig >= 65) return send_error(c, "Malformed SIGNAL");
      /* The monitor is PID 1's parent and has not reaped it: the pid cannot be stale. */
      if (!m->exited) kill(m->s->pid, (int)sig);
      return;
    }
    case TS_MSG_STOP: return on_stop(m, c, &r);
    default:
      return send_error(c, "Expected START, STDIN, STDIN_CLOSE, RESIZE, SIGNAL or STOP, got message type %u", type);
  }
}

static void read_client(struct mon *m, size_t i) {
  struct client *c = m->clients[i];
  char buf[TS_MAX_DATA_CHUNK + 64];
  ssize_t n = read(c->fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    drop_client(m, i);
    return;
  }
  tbuf_put(&c->in, buf, (size_t)n);
  size_t off = 0;
  while (!c->closing) {
    uint8_t type;
    const uint8_t *payload;
    size_t len;
    ssize_t used = frame_parse(c->in.data + off, c->in.len - off, &type, &payload, &len);
    if (used < 0) {
      send_error(c, "Malformed frame length");
      break;
    }
    if (used == 0) break;
    on_message(m, c, type, payload, len);
    off += (size_t)used;
  }
  tbuf_consume(&c->in, c->closing ? c->in.len : off);
}

static void write_client(struct mon *m, size_t i) {
  struct client *c = m->clients[i];
  if (c->out.len) {
    ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      drop_client(m, i);
      return;
    }
    if (n > 0) tbuf_consume(&c->out, (size_t)n);
  }
  if (!c->out.len && c->closing) drop_client(m, i);
}

/* Sends what is queued for every client now, as far as their sockets take it. */
static void flush_clients(struct mon *m) {
  for (size_t i = m->n_clients; i-- > 0;) /* backwards: write_client may drop client i */
    if (m->clients[i]->out.len) write_client(m, i);
}

static bool owner_attached(struct mon *m) {
  for (size_t i = 0; i < m->n_clients; i++)
    if (m->clients[i]->hello && (m->clients[i]->flags & TS_HELLO_CLEANUP_OWNER)) return true;
  return false;
}

static bool output_pending(struct mon *m) {
  for (size_t i = 0; i < m->n_clients; i++)
    if (m->clients[i]->out.len) return true;
  return false;
}

/* ---- the loop ------------------------------------------------------------------------- */

/* Output the monitor is not reading because a client has no room for more. */
static bool output_held_back(struct mon *m) {
  int out = m->s->pty >= 0 ? m->s->pty : m->s->out;
  return (out >= 0 && !output_room(m, TS_HELLO_WANT_STDOUT)) || (m->s->err >= 0 && !output_room(m, TS_HELLO_WANT_STDERR));
}

static void refresh(struct mon *m) {
  bool room_out = output_room(m, TS_HELLO_WANT_STDOUT), room_err = output_room(m, TS_HELLO_WANT_STDERR);
  int out = m->s->pty >= 0 ? m->s->pty : m->s->out;
  /* The drain deadline is for pipes held open from outside the PID namespace. While a slow
   * client holds the output back, the output is not over, it waits for the client: the
   * deadline stays ahead, or the rest of the output would be cut off. */
  if (m->exited && !m->finalized && output_held_back(m)) m->drain_deadline = now_ms() + DRAIN_MS;
  interest(m, out, T_OUT, room_out ? EPOLLIN : 0, &m->ev_out);
  interest(m, m->s->err, T_ERR, room_err ? EPOLLIN : 0, &m->ev_err);
  interest(m, m->s->in, T_IN, m->stdin_buf.len ? EPOLLOUT : 0, &m->ev_in);
  interest(m, m->s->sync, T_SYNC, EPOLLIN, &m->ev_sync);
  bool take_input = m->stdin_buf.len < STDIN_BUF_MAX;
  for (size_t i = 0; i < m->n_clients; i++) {
    struct client *c = m->clients[i];
    uint32_t want = (take_input && !c->closing ? EPOLLIN : 0) | (c->out.len ? EPOLLOUT : 0);
    if (!want) want = EPOLLRDHUP; /* still notice a hang-up */
    interest(m, c->fd, T_CLIENT, want, &c->events);
  }
}

static void dispatch(struct mon *m, struct epoll_event *ev) {
  enum tag t = (enum tag)(ev->data.u64 >> 32);
  int fd = (int)(uint32_t)ev->data.u64;
  switch (t) {
    case T_LISTEN: accept_client(m); break;
    case T_SIGNAL: reap(m); break;
    case T_SYNC:
      if (m->s->sync == fd) read_sync(m);
      break;
    case T_OUT:
      if (fd == (m->s->pty >= 0 ? m->s->pty : m->s->out)) read_output(m, false);
      break;
    case T_ERR:
      if (fd == m->s->err) read_output(m, true);
      break;
    case T_IN:
      if (fd == m->s->in) write_stdin(m);
      break;
    case T_CLIENT:
      for (size_t i = 0; i < m->n_clients; i++) {
        if (m->clients[i]->fd != fd) continue;
        if (ev->events & (EPOLLOUT)) write_client(m, i);
        if (i < m->n_clients && m->clients[i]->fd == fd && (ev->events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
          read_client(m, i);
        break;
      }
      break;
  }
}

/* The next time the loop must wake up without an event (0: none): the end of the output's
 * drain, of the clients' flush, of the restart back-off. Deadlines already passed wait for
 * something else (an owner to leave), so they are not returned again: no busy loop. */
static uint64_t next_deadline(struct mon *m) {
  if (!m->exited) return m->kill_due;
  if (!m->finalized) return m->drain_deadline;
  uint64_t now = now_ms(), d = 0;
  if (m->flush_deadline > now) d = m->flush_deadline;
  if (m->restart_pending && m->restart_due > now && (!d || m->restart_due < d)) d = m->restart_due;
  return d;
}

/* Done once the exit is recorded, no cleanup owner is attached, the clients have their
 * output (or FLUSH_MS passed), and any restart back-off has run out. */
static bool done(struct mon *m) {
  if (!m->finalized || owner_attached(m)) return false;
  if (!m->flush_deadline) m->flush_deadline = now_ms() + FLUSH_MS;
  bool flushed = !output_pending(m) || now_ms() >= m->flush_deadline;
  return flushed && (!m->restart_pending || now_ms() >= m->restart_due);
}

int monitor_run(const struct plan *p, struct spawned *s, int listen_fd, struct jsonlog *log, long long oom_base) {
  struct mon m = {.p = p, .s = s, .listen = listen_fd, .state = TS_STATE_CREATED, .oom_base = oom_base, .log = *log};
  m.ep = epoll_create1(EPOLL_CLOEXEC);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  m.sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  if (m.ep < 0 || m.sigfd < 0) {
    diag(true, "Cannot set up the monitor loop: %s", strerror(errno));
    spawn_kill(s);
    return 1;
  }
  uint32_t ev_listen = 0, ev_sig = 0;
  interest(&m, m.listen, T_LISTEN, EPOLLIN, &ev_listen);
  interest(&m, m.sigfd, T_SIGNAL, EPOLLIN, &ev_sig);
  reap(&m); /* a SIGCHLD may have come before the signalfd existed */
  for (;;) {
    if (!m.exited && m.kill_due && now_ms() >= m.kill_due) {
      m.kill_due = 0;
      diag(false, "Still running when the stop's timeout ran out: SIGKILL");
      kill(s->pid, SIGKILL);
    }
    int out = s->pty >= 0 ? s->pty : s->out;
    if (m.exited && !m.finalized && ((out < 0 && s->err < 0) || (now_ms() >= m.drain_deadline && !output_held_back(&m))))
      finalize(&m);
    if (done(&m)) break;
    refresh(&m);
    int timeout = -1;
    uint64_t deadline = next_deadline(&m);
    if (deadline) timeout = deadline > now_ms() ? (int)(deadline - now_ms()) : 0;
    struct epoll_event evs[16];
    int n = epoll_wait(m.ep, evs, 16, timeout);
    if (n < 0 && errno != EINTR) {
      diag(true, "epoll_wait: %s", strerror(errno));
      break;
    }
    for (int i = 0; i < n; i++) dispatch(&m, &evs[i]);
  }
  if (!m.finalized) spawn_kill(s);
  while (m.n_clients) drop_client(&m, m.n_clients - 1);
  close(m.listen);
  unlink("monitor.sock");
  jsonlog_close(&m.log);
  /* The restart command instead of the exit command: it rebuilds the container (and the
   * `restarting` record stays until it has, so the gap reads as restarting too). */
  trace_point("monitor: done");
  char **command = m.restart_pending ? p->restart.command : p->exit_command;
  if (command_run_detached(p, command) < 0) diag(true, "Cannot fork \"%s\": %s", command[0], strerror(errno));
  return 0;
}
