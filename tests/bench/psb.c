// psb: a small epoll load tool for the portfolio-stream benchmarks (loopback only).
//
//   psb conns --port P --n N [--path /ws/portfolio | --path-fmt /sub/b%d | --paths FILE]
//             [--cookies FILE] [--src 127.0.1.1,127.0.1.2] [--http] [--first-frame]
//             [--inflight 256] [--expect-events K] [--out FILE]
//       Opens N connections (WebSocket upgrades, or plain HTTP keepalive requests with
//       --http), at most --inflight handshakes in flight, each from the next source address.
//       Connection i uses line i (mod lines) of --cookies and of --paths (one request
//       path per line, e.g. "/ws/portfolio?since=..&epoch=..").
//       Prints "READY <ok> <failed> <ms>" on stdout once every connection is up (with
//       --first-frame: a WebSocket also needs its first text frame, `connected`, whose
//       "recovered":true/false is counted).
//       Then reads frames: answers pings, counts frames, event frames, events, and the
//       age of every event at receipt (now - its "ts"); events may start with an
//       "offset" member (history on): per connection the offsets must grow, and every
//       one that does not is counted (a duplicate or out of order). With --expect-events
//       it prints "COMPLETE <ms>" once every connection has K events (ms since the first
//       connect). SIGUSR1 resets the counters, SIGUSR2 writes them as JSON to --out,
//       SIGTERM/SIGINT closes all and exits.
//       An event with "tus" (publish time in microseconds) before its "ts" also goes
//       into a fine age histogram (fineAgeMs, 10 us buckets). orderEvents counts
//       order_update/trade_executed events; allEvents/allOrderEvents are never reset.
//       --screen MS: per connection and "key", the newest ts received (what a trader
//       sees); every MS ms the age of each of them is sampled (screenAgeMs).
//       --rcvbuf BYTES: SO_RCVBUF on every client socket (a fixed window: a loopback
//       client otherwise autotunes it to megabytes, where a server's backlog hides).
//
//   psb pub --port P (--redis [--fcall [--maxlen M] | --offset-bytes] | --nchan) --users N [--uid-fmt b%d]
//           [--symbols 20] [--hz 5] [--orders 0.1] [--duration 20] [--out FILE]
//       The tick workload: every (user, symbol) pair ticks --hz times a second, spread
//       evenly over 10 ms slots; orders at --orders per user per second. Each event is a
//       position_update {key=symbol, ts=now} or an order_update. --redis: pipelined
//       PUBLISH portfolio:user:<uid> on one connection (replies counted, their receiver
//       counts summed, error replies counted); with --fcall the same pipelined as
//       FCALL portfolio_stream_publish 1 portfolio:user:<uid> <json> [M 3600] (history,
//       SPEC section 8; each reply is the offset); --offset-bytes: PUBLISH events that
//       start with "offset":"<ms>-<seq>", as the function would publish them (the same
//       bytes without history, for comparison); --nchan: one nchan websocket
//       publisher per user at /pub/<uid>, frames with a zero mask key, nchan's replies
//       read and discarded.
//       --channel NAME: every event to that one channel (Redis) or /pub/NAME (nchan),
//       with --users 1 (a broadcast stream). --tus: each event also carries "tus", its
//       publish time in microseconds, before "ts".
//
// Single-threaded, non-blocking, bounded: no retries, no unbounded buffers beyond the
// kernel's; everything goes to 127.0.0.x.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
static void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(2);
}

static volatile sig_atomic_t g_reset, g_dump, g_stop;
static void on_sig(int s) {
  if (s == SIGUSR1) g_reset = 1;
  else if (s == SIGUSR2) g_dump = 1;
  else g_stop = 1;
}
static void install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sig;
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGUSR2, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}
static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// ---- args -------------------------------------------------------------------
static int g_argc;
static char** g_argv;
static const char* opt(const char* name, const char* def) {
  for (int i = 2; i < g_argc; i++) {
    if (strcmp(g_argv[i], name) == 0) return (i + 1 < g_argc && strncmp(g_argv[i + 1], "--", 2) != 0) ? g_argv[i + 1] : "1";
  }
  return def;
}

static int g_rcvbuf;  // conns --rcvbuf BYTES: a fixed receive buffer (no autotuning)
static int connect_from(const char* src, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (g_rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &g_rcvbuf, sizeof g_rcvbuf);
  if (src && *src) {
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &sa.sin_addr);
    setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(fd, (struct sockaddr*)&sa, sizeof sa) < 0) { close(fd); return -1; }
  }
  struct sockaddr_in da = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &da.sin_addr);
  if (connect(fd, (struct sockaddr*)&da, sizeof da) < 0 && errno != EINPROGRESS) { close(fd); return -1; }
  return fd;
}

// ---- conns mode ---------------------------------------------------------------
enum { ST_CONNECTING, ST_HEADERS, ST_OPEN, ST_CLOSED };
typedef struct {
  int fd, state, idx, ready;
  char* buf;  // pending partial input (headers or a partial frame)
  size_t len, cap;
  size_t body_left;  // --http: response body bytes still to read
  uint64_t event_frames, events;
  uint64_t off_ms, off_seq;  // the highest offset received (history on)
  int has_off;
  double complete_ms;  // --expect-events: when it had them (ms since the first connect), else 0
  struct screen_key { uint32_t h; double ts; } * keys;  // --screen: newest ts per "key" (64 slots)
} conn_t;

#define AGE_BUCKETS 60000  // 1 ms buckets, 0..60 s
#define FINE_BUCKETS 10000  // 10 us buckets, 0..100 ms
static struct {
  uint64_t frames, text_frames, event_frames, batch_frames, order_frames, events, pings, closes, bytes;
  uint64_t offset_events, offset_regressions;
  uint64_t age_hist[AGE_BUCKETS + 1];
  double age_max, age_sum;
  uint64_t order_events;               // order_update/trade_executed events
  uint64_t fine_hist[FINE_BUCKETS];    // ages from "tus" (us): 10 us buckets below 100 ms,
  uint64_t fine_coarse[AGE_BUCKETS + 1];  // 1 ms buckets above
  uint64_t fine_n;
  double fine_max;
  uint64_t screen_hist[AGE_BUCKETS + 1];  // --screen: sampled age of the newest value per key
  uint64_t screen_samples, screen_key_overflow;
  double screen_max;
  double t_start;
} st;

static conn_t* conns;
static int n_conns, n_ready, n_failed, n_inflight, next_to_open;
static int g_http, g_first_frame, g_port, g_epfd, g_max_inflight = 256;
static char** cookies;
static int n_cookies;
static char** paths;
static int n_paths;
// Not reset by SIGUSR1: what the `connected` frames said, and --expect-events.
static uint64_t g_recovered_true, g_recovered_false, g_expect, g_complete;
static double g_t_begin, g_last_complete, g_all_opened;
static uint64_t g_all_events, g_all_order_events;  // not reset by SIGUSR1 either
static int g_screen_ms;                             // --screen MS: sample every MS ms
static char* srcs[64];
static int n_srcs;
static const char *g_path, *g_path_fmt;

static void buf_append(conn_t* c, const char* p, size_t n) {
  if (c->len + n > c->cap) {
    size_t cap = c->cap ? c->cap : 256;
    while (cap < c->len + n) cap *= 2;
    c->buf = realloc(c->buf, cap);
    if (!c->buf) die("oom");
    c->cap = cap;
  }
  memcpy(c->buf + c->len, p, n);
  c->len += n;
}
static void buf_consume(conn_t* c, size_t n) {
  memmove(c->buf, c->buf + n, c->len - n);
  c->len -= n;
  if (c->len == 0 && c->cap > 4096) { free(c->buf); c->buf = NULL; c->cap = 0; }
}

static void conn_fail(conn_t* c, const char* why) {
  if (c->state == ST_CLOSED) return;
  if (!c->ready) { n_failed++; n_inflight--; if (n_failed <= 5) fprintf(stderr, "conn %d failed: %s\n", c->idx, why); }
  epoll_ctl(g_epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->state = ST_CLOSED;
}
static void mark_ready(conn_t* c) {
  if (c->ready) return;
  c->ready = 1;
  n_ready++;
  n_inflight--;
}

static void send_all(conn_t* c, const char* p, size_t n) {
  // Small control replies: the kernel buffer always has room on an idle socket.
  ssize_t w = write(c->fd, p, n);
  (void)w;
}

// Checks the offsets ("offset":"<ms>-<seq>") of one event frame: each must be
// above the connection's highest so far.
static void check_offsets(conn_t* c, const char* p, size_t n) {
  const char* end = p + n;
  const char* q = p;
  while ((q = memmem(q, end - q, "\"offset\":\"", 10)) != NULL) {
    q += 10;
    char* e;
    uint64_t ms = strtoull(q, &e, 10);
    if (e >= end || *e != '-') continue;
    uint64_t seq = strtoull(e + 1, &e, 10);
    st.offset_events++;
    if (c->has_off && (ms < c->off_ms || (ms == c->off_ms && seq <= c->off_seq))) {
      st.offset_regressions++;
      if (st.offset_regressions <= 5)
        fprintf(stderr, "conn %d: offset %llu-%llu after %llu-%llu\n", c->idx, (unsigned long long)ms,
                (unsigned long long)seq, (unsigned long long)c->off_ms, (unsigned long long)c->off_seq);
      continue;
    }
    c->off_ms = ms;
    c->off_seq = seq;
    c->has_off = 1;
  }
}

static void on_text(conn_t* c, const char* p, size_t n) {
  st.text_frames++;
  if (g_first_frame && !c->ready) {
    if (memmem(p, n, "\"recovered\":true", 16)) g_recovered_true++;
    else if (memmem(p, n, "\"recovered\":false", 17)) g_recovered_false++;
    mark_ready(c);
    return;
  }
  static const char* kinds[] = {"{\"type\":\"batch\"", "{\"type\":\"position_update\"", "{\"type\":\"account_update\"",
                                "{\"type\":\"order_update\"", "{\"type\":\"trade_executed\""};
  // A single event with an offset starts {"offset":"<id>","type":...: look past it.
  const char* t = p;
  size_t tn = n;
  if (n > 11 && memcmp(p, "{\"offset\":\"", 11) == 0) {
    const char* qe = memchr(p + 11, '"', n - 11);
    if (qe && qe + 2 < p + n && qe[1] == ',') {
      t = qe + 1;  // treat the ',' as the object's '{'
      tn = (size_t)(p + n - t);
    }
  }
  int is_event = 0, is_batch = 0;
  for (int k = 0; k < 5; k++) {
    size_t kl = strlen(kinds[k]);
    if (tn >= kl && memcmp(t + 1, kinds[k] + 1, kl - 1) == 0) { is_event = 1; is_batch = k == 0; break; }
  }
  if (!is_event) return;
  check_offsets(c, p, n);
  st.event_frames++;
  c->event_frames++;
  if (is_batch) st.batch_frames++;
  if (memmem(p, n, "\"type\":\"order_update\"", 21) || memmem(p, n, "\"type\":\"trade_executed\"", 23)) st.order_frames++;
  double now = now_ms();
  const char* end = p + n;
  const char* q = p;
  const char* seg = p;  // this event's members before its "ts" (type, key, tus)
  while ((q = memmem(q, end - q, "\"ts\":", 5)) != NULL) {
    size_t sl = (size_t)(q - seg);
    q += 5;
    double ts = strtod(q, NULL);
    double age = now - ts;
    if (age < 0) age = 0;
    g_all_events++;
    if (memmem(seg, sl, "\"type\":\"order_update\"", 21) || memmem(seg, sl, "\"type\":\"trade_executed\"", 23)) {
      st.order_events++;
      g_all_order_events++;
    }
    const char* tu = sl > 7 ? memmem(seg, sl, "\"tus\":", 6) : NULL;
    if (tu) {  // microseconds: the fine histogram
      double fa = now - strtod(tu + 6, NULL) / 1000.0;
      if (fa < 0) fa = 0;
      st.fine_n++;
      if (fa > st.fine_max) st.fine_max = fa;
      if (fa < 100) st.fine_hist[(size_t)(fa * 100)]++;
      else st.fine_coarse[fa > AGE_BUCKETS ? AGE_BUCKETS : (size_t)fa]++;
      ts = strtod(tu + 6, NULL) / 1000.0;
    }
    const char* k = g_screen_ms && sl > 8 ? memmem(seg, sl, "\"key\":\"", 7) : NULL;
    if (k) {  // the newest ts per key on this connection's "screen"
      k += 7;
      const char* ke = memchr(k, '"', (size_t)(q - k));
      uint32_t h = 2166136261u;
      for (const char* x = k; ke && x < ke; x++) h = (h ^ (unsigned char)*x) * 16777619u;
      if (!h) h = 1;
      if (!c->keys && !(c->keys = calloc(64, sizeof *c->keys))) die("oom");
      int slot = -1;
      for (int j = 0; j < 64 && slot < 0; j++) {
        int jj = (int)((h + j) & 63);
        if (c->keys[jj].h == h || c->keys[jj].h == 0) slot = jj;
      }
      if (slot < 0) st.screen_key_overflow++;
      else if (c->keys[slot].h == 0 || ts > c->keys[slot].ts) { c->keys[slot].h = h; c->keys[slot].ts = ts; }
    }
    seg = q;
    st.events++;
    c->events++;
    st.age_sum += age;
    if (age > st.age_max) st.age_max = age;
    size_t b = (size_t)age;
    st.age_hist[b > AGE_BUCKETS ? AGE_BUCKETS : b]++;
  }
  if (g_expect && !c->complete_ms && c->events >= g_expect) {
    c->complete_ms = mono_ms() - g_t_begin;
    if (c->complete_ms <= 0) c->complete_ms = 0.001;
    if (++g_complete == (uint64_t)n_conns) g_last_complete = c->complete_ms;
  }
}

// Parses complete server frames in c->buf.
static void parse_frames(conn_t* c) {
  size_t off = 0;
  while (c->len - off >= 2) {
    const unsigned char* h = (const unsigned char*)c->buf + off;
    int op = h[0] & 0x0f;
    uint64_t plen = h[1] & 0x7f;
    size_t hl = 2;
    if (plen == 126) {
      if (c->len - off < 4) break;
      plen = (h[2] << 8) | h[3];
      hl = 4;
    } else if (plen == 127) {
      if (c->len - off < 10) break;
      plen = 0;
      for (int i = 0; i < 8; i++) plen = (plen << 8) | h[2 + i];
      hl = 10;
    }
    if (h[1] & 0x80) hl += 4;  // masked (never from a server)
    if (c->len - off < hl + plen) break;
    const char* pl = c->buf + off + hl;
    st.frames++;
    if (op == 1 || op == 0) on_text(c, pl, plen);
    else if (op == 9) {  // ping -> pong, masked with a zero key
      st.pings++;
      char f[2 + 4 + 125];
      size_t n = plen > 125 ? 125 : plen;
      f[0] = (char)0x8a;
      f[1] = (char)(0x80 | n);
      memset(f + 2, 0, 4);
      memcpy(f + 6, pl, n);
      send_all(c, f, 6 + n);
    } else if (op == 8) {
      st.closes++;
      off += hl + plen;
      conn_fail(c, "close frame");
      return;
    }
    off += hl + plen;
  }
  if (off) buf_consume(c, off);
}

static void start_handshake(conn_t* c) {
  char req[8192];
  int n;
  if (g_http) {
    n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", g_path);
  } else {
    char path[512];
    if (n_paths) snprintf(path, sizeof path, "%s", paths[c->idx % n_paths]);
    else if (g_path_fmt) snprintf(path, sizeof path, g_path_fmt, c->idx);
    else snprintf(path, sizeof path, "%s", g_path);
    char cookie[4096] = "";
    if (n_cookies) snprintf(cookie, sizeof cookie, "Cookie: %s\r\n", cookies[c->idx % n_cookies]);
    n = snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                 path, g_port, cookie);
  }
  if (write(c->fd, req, n) != n) { conn_fail(c, "handshake write"); return; }
  c->state = ST_HEADERS;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(g_epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void open_more(void) {
  while (next_to_open < n_conns && n_inflight < g_max_inflight) {
    conn_t* c = &conns[next_to_open];
    c->idx = next_to_open++;
    c->fd = connect_from(n_srcs ? srcs[c->idx % n_srcs] : NULL, g_port);
    n_inflight++;
    if (c->fd < 0) { c->state = ST_CLOSED; n_failed++; n_inflight--; if (n_failed <= 5) perror("connect"); continue; }
    c->state = ST_CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(g_epfd, EPOLL_CTL_ADD, c->fd, &ev);
    if (next_to_open == n_conns) g_all_opened = mono_ms() - g_t_begin;  // the last connect() issued
  }
}

static char rbuf[1 << 16];
static void on_readable(conn_t* c) {
  for (;;) {
    ssize_t r = read(c->fd, rbuf, sizeof rbuf);
    if (r == 0) { conn_fail(c, "eof"); return; }
    if (r < 0) {
      if (errno == EAGAIN) return;
      conn_fail(c, strerror(errno));
      return;
    }
    st.bytes += r;
    buf_append(c, rbuf, r);
    if (c->state == ST_HEADERS) {
      char* e = memmem(c->buf, c->len, "\r\n\r\n", 4);
      if (!e) continue;
      size_t hl = e + 4 - c->buf;
      int want = g_http ? 200 : 101;
      int code = 0;
      sscanf(c->buf, "HTTP/1.1 %d", &code);
      if (code != want) {
        char line[128];
        snprintf(line, sizeof line, "status %d", code);
        conn_fail(c, line);
        return;
      }
      if (g_http) {
        char* cl = memmem(c->buf, hl, "Content-Length: ", 16);
        c->body_left = cl ? strtoul(cl + 16, NULL, 10) : 0;
      }
      buf_consume(c, hl);
      c->state = ST_OPEN;
      if (g_http || !g_first_frame) mark_ready(c);
    }
    if (c->state == ST_OPEN) {
      if (g_http) {
        size_t n = c->len < c->body_left ? c->len : c->body_left;
        c->body_left -= n;
        buf_consume(c, n);
        if (c->len) { c->len = 0; }
      } else {
        parse_frames(c);
        if (c->state == ST_CLOSED) return;
      }
    }
  }
}

// --screen: the age of every connection's newest value per key, now.
static void screen_sample(void) {
  double now = now_ms();
  for (int i = 0; i < n_conns; i++) {
    conn_t* c = &conns[i];
    if (c->state != ST_OPEN || !c->keys) continue;
    for (int j = 0; j < 64; j++) {
      if (!c->keys[j].h) continue;
      double a = now - c->keys[j].ts;
      if (a < 0) a = 0;
      if (a > st.screen_max) st.screen_max = a;
      st.screen_hist[a > AGE_BUCKETS ? AGE_BUCKETS : (size_t)a]++;
      st.screen_samples++;
    }
  }
}
// Percentile q of a histogram of n 1 ms buckets (upper bound of the bucket).
static double hist_pct(const uint64_t* h, int n, uint64_t tot, double q) {
  uint64_t acc = 0;
  for (int i = 0; i < n && tot; i++) {
    acc += h[i];
    if ((double)acc >= q * (double)tot) return i + 1;
  }
  return 0;
}
// The same over the fine histogram (10 us buckets) and its 1 ms tail.
static double fine_pct(double q) {
  uint64_t acc = 0;
  for (int i = 0; i < FINE_BUCKETS && st.fine_n; i++) {
    acc += st.fine_hist[i];
    if ((double)acc >= q * (double)st.fine_n) return (i + 1) / 100.0;
  }
  for (int i = 0; i <= AGE_BUCKETS && st.fine_n; i++) {
    acc += st.fine_coarse[i];
    if ((double)acc >= q * (double)st.fine_n) return i + 1;
  }
  return 0;
}

static void write_stats(const char* path) {
  double dur = (now_ms() - st.t_start) / 1000.0;
  FILE* f = path ? fopen(path, "w") : stdout;
  if (!f) return;
  uint64_t tot = 0, p50 = 0, p99 = 0, p999 = 0;
  for (int i = 0; i <= AGE_BUCKETS; i++) tot += st.age_hist[i];
  uint64_t acc = 0;
  int got50 = 0, got99 = 0, got999 = 0;
  for (int i = 0; i <= AGE_BUCKETS; i++) {
    acc += st.age_hist[i];
    if (!got50 && acc * 2 >= tot && tot) { p50 = i + 1; got50 = 1; }
    if (!got99 && acc * 100 >= tot * 99 && tot) { p99 = i + 1; got99 = 1; }
    if (!got999 && acc * 1000 >= tot * 999 && tot) { p999 = i + 1; got999 = 1; }
  }
  uint64_t maxf = 0, maxe = 0, mine = UINT64_MAX;
  int open = 0;
  for (int i = 0; i < n_conns; i++) {
    if (conns[i].state == ST_OPEN) open++;
    if (conns[i].event_frames > maxf) maxf = conns[i].event_frames;
    if (conns[i].events > maxe) maxe = conns[i].events;
    if (conns[i].events < mine) mine = conns[i].events;
  }
  if (!n_conns) mine = 0;
  // --expect-events: when the connections had them (ms since the first connect).
  double* cm = calloc((size_t)(n_conns > 0 ? n_conns : 1), sizeof(double));
  int ncm = 0;
  for (int i = 0; i < n_conns; i++) if (conns[i].complete_ms > 0) cm[ncm++] = conns[i].complete_ms;
  for (int gap = ncm / 2; gap > 0; gap /= 2)
    for (int i = gap; i < ncm; i++) {
      double v = cm[i];
      int j = i;
      for (; j >= gap && cm[j - gap] > v; j -= gap) cm[j] = cm[j - gap];
      cm[j] = v;
    }
#define PCT(q) (ncm ? cm[(int)((ncm - 1) * (q))] : 0.0)
  fprintf(f,
          "{\"durationS\":%.3f,\"conns\":%d,\"open\":%d,\"ready\":%d,\"failed\":%d,\"frames\":%llu,\"textFrames\":%llu,"
          "\"eventFrames\":%llu,\"batchFrames\":%llu,\"orderFrames\":%llu,\"events\":%llu,\"pings\":%llu,\"closes\":%llu,\"bytes\":%llu,"
          "\"maxEventFramesOneConn\":%llu,\"ageMs\":{\"mean\":%.2f,\"p50\":%llu,\"p99\":%llu,\"p999\":%llu,\"max\":%.1f},"
          "\"minEventsOneConn\":%llu,\"maxEventsOneConn\":%llu,\"offsetEvents\":%llu,\"offsetRegressions\":%llu,"
          "\"recoveredTrue\":%llu,\"recoveredFalse\":%llu,\"expectEvents\":%llu,\"complete\":%d,"
          "\"completeMs\":{\"first\":%.1f,\"p50\":%.1f,\"p99\":%.1f,\"last\":%.1f},\"allOpenedMs\":%.1f,"
          "\"orderEvents\":%llu,\"allEvents\":%llu,\"allOrderEvents\":%llu,"
          "\"fineAgeMs\":{\"n\":%llu,\"p50\":%.2f,\"p99\":%.2f,\"p999\":%.2f,\"max\":%.2f},"
          "\"screenAgeMs\":{\"samples\":%llu,\"p50\":%.0f,\"p99\":%.0f,\"p999\":%.0f,\"max\":%.1f,\"keyOverflow\":%llu}}\n",
          dur, n_conns, open, n_ready, n_failed, (unsigned long long)st.frames, (unsigned long long)st.text_frames,
          (unsigned long long)st.event_frames, (unsigned long long)st.batch_frames, (unsigned long long)st.order_frames, (unsigned long long)st.events,
          (unsigned long long)st.pings, (unsigned long long)st.closes, (unsigned long long)st.bytes,
          (unsigned long long)maxf, tot ? st.age_sum / tot : 0.0, (unsigned long long)p50, (unsigned long long)p99,
          (unsigned long long)p999, st.age_max, (unsigned long long)mine, (unsigned long long)maxe,
          (unsigned long long)st.offset_events, (unsigned long long)st.offset_regressions,
          (unsigned long long)g_recovered_true, (unsigned long long)g_recovered_false, (unsigned long long)g_expect, ncm,
          PCT(0), PCT(0.5), PCT(0.99), PCT(1), g_all_opened,
          (unsigned long long)st.order_events, (unsigned long long)g_all_events, (unsigned long long)g_all_order_events,
          (unsigned long long)st.fine_n, fine_pct(0.5), fine_pct(0.99), fine_pct(0.999), st.fine_max,
          (unsigned long long)st.screen_samples, hist_pct(st.screen_hist, AGE_BUCKETS + 1, st.screen_samples, 0.5),
          hist_pct(st.screen_hist, AGE_BUCKETS + 1, st.screen_samples, 0.99),
          hist_pct(st.screen_hist, AGE_BUCKETS + 1, st.screen_samples, 0.999), st.screen_max,
          (unsigned long long)st.screen_key_overflow);
#undef PCT
  free(cm);
  if (path) fclose(f);
}
static void reset_stats(void) {
  memset(&st, 0, sizeof st);
  for (int i = 0; i < n_conns; i++) conns[i].event_frames = conns[i].events = 0;
  st.t_start = now_ms();
}

// One non-empty line each (cookies, request paths).
static char** load_lines(const char* path, int* n) {
  FILE* f = fopen(path, "r");
  if (!f) die("cannot open %s", path);
  size_t cap = 1024;
  char** lines = malloc(cap * sizeof(char*));
  char line[4096];
  *n = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = 0;
    if (!*line) continue;
    if ((size_t)*n == cap) lines = realloc(lines, (cap *= 2) * sizeof(char*));
    if (!lines) die("oom");
    lines[(*n)++] = strdup(line);
  }
  fclose(f);
  return lines;
}

static int run_conns(void) {
  g_port = atoi(opt("--port", "0"));
  n_conns = atoi(opt("--n", "1"));
  g_http = opt("--http", NULL) != NULL;
  g_first_frame = opt("--first-frame", NULL) != NULL;
  g_path = opt("--path", g_http ? "/plain" : "/ws/portfolio");
  g_path_fmt = opt("--path-fmt", NULL);
  const char* out = opt("--out", NULL);
  const char* ck = opt("--cookies", NULL);
  if (ck) cookies = load_lines(ck, &n_cookies);
  const char* pf = opt("--paths", NULL);
  if (pf) {
    paths = load_lines(pf, &n_paths);
    if (!n_paths) die("%s has no paths", pf);
    for (int i = 0; i < n_paths; i++)
      if (strlen(paths[i]) >= 512) die("%s: path %d is longer than 511 bytes", pf, i + 1);
  }
  g_max_inflight = atoi(opt("--inflight", "256"));
  g_screen_ms = atoi(opt("--screen", "0"));
  g_rcvbuf = atoi(opt("--rcvbuf", "0"));
  if (g_max_inflight < 1) g_max_inflight = 1;
  g_expect = strtoull(opt("--expect-events", "0"), NULL, 10);
  const char* s = opt("--src", NULL);
  if (s) {
    char* dup = strdup(s);
    for (char* t = strtok(dup, ","); t && n_srcs < 64; t = strtok(NULL, ",")) srcs[n_srcs++] = t;
  }
  conns = calloc(n_conns, sizeof(conn_t));
  g_epfd = epoll_create1(EPOLL_CLOEXEC);
  reset_stats();
  g_t_begin = mono_ms();
  open_more();
  int announced = 0, completed = 0;
  double t_begin = g_t_begin;
  struct epoll_event evs[512];
  while (!g_stop) {
    int n = epoll_wait(g_epfd, evs, 512, g_screen_ms && g_screen_ms < 100 ? g_screen_ms : 100);
    for (int i = 0; i < n; i++) {
      conn_t* c = evs[i].data.ptr;
      if (c->state == ST_CLOSED) continue;
      if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) { conn_fail(c, strerror(err)); continue; }
        start_handshake(c);
        continue;
      }
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    }
    open_more();
    if (!announced && n_ready + n_failed == n_conns) {
      announced = 1;
      printf("READY %d %d %.0f\n", n_ready, n_failed, mono_ms() - t_begin);
      fflush(stdout);
    }
    if (g_expect && !completed && g_complete == (uint64_t)n_conns) {
      completed = 1;
      printf("COMPLETE %.0f\n", g_last_complete);
      fflush(stdout);
    }
    if (g_screen_ms) {
      static double next_sample;
      double m = mono_ms();
      if (m >= next_sample) { screen_sample(); next_sample = m + g_screen_ms; }
    }
    if (g_reset) { g_reset = 0; reset_stats(); }
    if (g_dump) { g_dump = 0; write_stats(out); printf("DUMPED\n"); fflush(stdout); }
  }
  for (int i = 0; i < n_conns; i++) if (conns[i].state != ST_CLOSED) close(conns[i].fd);
  return 0;
}

// ---- pub mode -----------------------------------------------------------------
typedef struct {
  int fd;
  char* out;
  size_t olen, ocap;
} pconn_t;
static void out_append(pconn_t* p, const char* d, size_t n) {
  if (p->olen + n > p->ocap) {
    size_t cap = p->ocap ? p->ocap : 65536;
    while (cap < p->olen + n) cap *= 2;
    p->out = realloc(p->out, cap);
    if (!p->out) die("oom");
    p->ocap = cap;
  }
  memcpy(p->out + p->olen, d, n);
  p->olen += n;
}
static void out_flush(pconn_t* p) {
  size_t off = 0;
  while (off < p->olen) {
    ssize_t w = write(p->fd, p->out + off, p->olen - off);
    if (w < 0) {
      if (errno == EAGAIN) break;
      die("publisher write: %s", strerror(errno));
    }
    off += w;
  }
  memmove(p->out, p->out + off, p->olen - off);
  p->olen -= off;
}
static int wait_connected(int fd) {
  for (int i = 0; i < 500; i++) {
    int err = 0;
    socklen_t l = sizeof err;
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    if (getpeername(fd, (struct sockaddr*)&a, &al) == 0) return 0;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) return -1;
    usleep(2000);
  }
  return -1;
}

// Top-level RESP replies, fed in pieces: integers (PUBLISH: the receivers),
// bulk strings (FCALL portfolio_stream_publish: the offset), errors (counted,
// the first few printed), simple strings.
typedef struct {
  int in_line;       // reading a reply's first line
  char type;         // its type byte
  long long num;     // its number (integer value or bulk length)
  int neg;
  long long skip;    // bulk bytes (+ CRLF) still to skip
  char err[160];
  size_t errlen;
  uint64_t replies, receivers, errors;
} resp_scan_t;
static void resp_scan(resp_scan_t* s, const char* b, size_t n) {
  for (size_t k = 0; k < n; k++) {
    char ch = b[k];
    if (s->skip > 0) {
      size_t take = n - k < (size_t)s->skip ? n - k : (size_t)s->skip;
      s->skip -= take;
      k += take - 1;
      if (s->skip == 0) s->replies++;
      continue;
    }
    if (!s->in_line) {
      if (ch == '\r' || ch == '\n') continue;
      s->in_line = 1;
      s->type = ch;
      s->num = 0;
      s->neg = 0;
      s->errlen = 0;
      continue;
    }
    if (ch == '\n') {
      s->in_line = 0;
      if (s->type == ':') { s->replies++; s->receivers += s->neg ? 0 : s->num; }
      else if (s->type == '$') {
        if (s->neg) s->replies++;  // nil
        else if ((s->skip = s->num + 2) == 0) s->replies++;
      } else if (s->type == '-') {
        s->replies++;
        if (++s->errors <= 5) fprintf(stderr, "publisher: error reply: %.*s\n", (int)s->errlen, s->err);
      } else s->replies++;
      continue;
    }
    if (ch == '\r') continue;
    if (s->type == '-') { if (s->errlen < sizeof s->err) s->err[s->errlen++] = ch; }
    else if (ch == '-') s->neg = 1;
    else if (ch >= '0' && ch <= '9') s->num = s->num * 10 + (ch - '0');
  }
}

// One pipelined publish of payload to portfolio:user:<uid> (PUBLISH or FCALL).
static int g_offset_bytes;
static uint64_t g_fake_seq;
static const char* g_channel;  // --channel: every event to this one channel
static void redis_publish(pconn_t* p, int fcall, const char* maxlen, const char* uid, const char* payload, int plen) {
  char chan[128], cmd[512], with_off[640];
  if (g_offset_bytes && !fcall && plen > 1 && payload[0] == '{') {
    static long long last_ms;
    long long ms = (long long)now_ms();
    g_fake_seq = ms == last_ms ? g_fake_seq + 1 : 0;  // like a stream id: <ms>-<seq within that ms>
    last_ms = ms;
    int hl = snprintf(with_off, sizeof with_off, "{\"offset\":\"%lld-%llu\",", ms, (unsigned long long)g_fake_seq);
    if (hl + plen - 1 < (int)sizeof with_off) {
      memcpy(with_off + hl, payload + 1, plen - 1);
      payload = with_off;
      plen = hl + plen - 1;
    }
  }
  int cl = g_channel ? snprintf(chan, sizeof chan, "%s", g_channel) : snprintf(chan, sizeof chan, "portfolio:user:%s", uid);
  int n;
  if (fcall)
    n = snprintf(cmd, sizeof cmd, "*%d\r\n$5\r\nFCALL\r\n$24\r\nportfolio_stream_publish\r\n$1\r\n1\r\n$%d\r\n%s\r\n$%d\r\n",
                 maxlen ? 7 : 5, cl, chan, plen);
  else
    n = snprintf(cmd, sizeof cmd, "*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n", cl, chan, plen);
  out_append(p, cmd, n);
  out_append(p, payload, plen);
  out_append(p, "\r\n", 2);
  if (fcall && maxlen) {
    n = snprintf(cmd, sizeof cmd, "$%d\r\n%s\r\n$4\r\n3600\r\n", (int)strlen(maxlen), maxlen);
    out_append(p, cmd, n);
  }
}

static int run_pub(void) {
  int port = atoi(opt("--port", "0"));
  int nchan = opt("--nchan", NULL) != NULL;
  int users = atoi(opt("--users", "1000"));
  const char* uid_fmt = opt("--uid-fmt", "b%d");
  int symbols = atoi(opt("--symbols", "20"));
  double hz = atof(opt("--hz", "5"));
  double orders = atof(opt("--orders", "0.1"));
  double duration = atof(opt("--duration", "20"));
  const char* outp = opt("--out", NULL);
  int fcall = opt("--fcall", NULL) != NULL;
  g_offset_bytes = opt("--offset-bytes", NULL) != NULL;
  g_channel = opt("--channel", NULL);
  int tus = opt("--tus", NULL) != NULL;
  const char* maxlen = opt("--maxlen", NULL);
  if (maxlen && strspn(maxlen, "0123456789") != strlen(maxlen)) die("--maxlen: digits only");
  const int slot_ms = 10;
  int period_slots = (int)(1000.0 / hz / slot_ms + 0.5);  // 200 ms / 10 ms = 20
  if (period_slots < 1) period_slots = 1;

  int npc = nchan ? users : 1;
  pconn_t* pc = calloc(npc, sizeof(pconn_t));
  int ep = epoll_create1(EPOLL_CLOEXEC);
  char uid[64];
  for (int i = 0; i < npc; i++) {
    pc[i].fd = connect_from(NULL, port);
    if (pc[i].fd < 0 || wait_connected(pc[i].fd) < 0) die("publisher connect to %d failed", port);
    if (nchan) {
      snprintf(uid, sizeof uid, uid_fmt, i);
      char req[1024];
      int n = snprintf(req, sizeof req,
                       "GET /pub/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                       g_channel ? g_channel : uid, port);
      if (write(pc[i].fd, req, n) != n) die("nchan publisher handshake write");
      char resp[4096];
      size_t got = 0;
      double end = mono_ms() + 5000;
      while (!memmem(resp, got, "\r\n\r\n", 4)) {
        ssize_t r = read(pc[i].fd, resp + got, sizeof resp - got);
        if (r > 0) got += r;
        else if (r == 0) die("nchan publisher closed during handshake");
        else if (mono_ms() > end) die("nchan publisher handshake timeout");
        else usleep(1000);
      }
      if (strncmp(resp, "HTTP/1.1 101", 12) != 0) die("nchan publisher handshake: %.*s", (int)got, resp);
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
    epoll_ctl(ep, EPOLL_CTL_ADD, pc[i].fd, &ev);
  }

  uint64_t published = 0, orders_pub = 0, rbytes = 0;
  double max_late = 0, order_acc = 0;
  uint64_t order_seq = 0;
  double t0 = mono_ms();
  long total_slots = (long)(duration * 1000 / slot_ms);
  char payload[512];
  resp_scan_t rs = {0};
  for (long slot = 0; slot < total_slots && !g_stop; slot++) {
    double due = t0 + slot * slot_ms;
    for (;;) {  // until the slot is due: read replies
      double left = due - mono_ms();
      struct epoll_event evs[64];
      int n = epoll_wait(ep, evs, 64, left > 0 ? (int)left + 0 : 0);
      for (int i = 0; i < n; i++) {
        pconn_t* p = &pc[evs[i].data.u32];
        for (;;) {
          ssize_t r = read(p->fd, rbuf, sizeof rbuf);
          if (r <= 0) break;
          rbytes += r;
          if (!nchan) resp_scan(&rs, rbuf, r);
        }
      }
      if (mono_ms() >= due) break;
    }
    double late = mono_ms() - due;
    if (late > max_late) max_late = late;
    int phase = slot % period_slots;
    double ts_now = now_ms(), ts = (double)(long long)ts_now;
    char tsj[64];  // "ts":<ms>, with --tus after "tus":<us> (sub-ms ages)
    if (tus) snprintf(tsj, sizeof tsj, "\"tus\":%lld,\"ts\":%.0f", (long long)(ts_now * 1000), ts);
    else snprintf(tsj, sizeof tsj, "\"ts\":%.0f", ts);
    long pairs = (long)users * symbols;
    order_acc += users * orders * slot_ms / 1000.0;
    int n_orders = (int)order_acc;
    order_acc -= n_orders;
    for (long pidx = phase; pidx < pairs; pidx += period_slots) {
      int u, plen;
      {
        u = (int)(pidx / symbols);
        int s = (int)(pidx % symbols);
        plen = snprintf(payload, sizeof payload,
                        "{\"type\":\"position_update\",\"key\":\"SYM%02d\",\"data\":{\"symbol\":\"SYM%02d\",\"qty\":%d,"
                        "\"px\":%.2f,\"pnl\":%.2f},%s}",
                        s, s, 100 + s, 100.0 + (slot % 1000) * 0.01, (slot % 500) * 0.5 - 100, tsj);
      }
      snprintf(uid, sizeof uid, uid_fmt, u);
      if (nchan) {
        unsigned char h[14];
        size_t hl;
        h[0] = 0x81;
        if (plen < 126) { h[1] = 0x80 | plen; hl = 2; }
        else { h[1] = 0x80 | 126; h[2] = plen >> 8; h[3] = plen & 0xff; hl = 4; }
        memset(h + hl, 0, 4);
        hl += 4;
        out_append(&pc[u], (char*)h, hl);
        out_append(&pc[u], payload, plen);
      } else {
        redis_publish(&pc[0], fcall, maxlen, uid, payload, plen);
      }
      published++;
    }
    for (int k = 0; k < n_orders; k++) {
      int u = (int)((order_seq * 7919) % users);
      order_seq++;
      int plen = snprintf(payload, sizeof payload,
                          "{\"type\":\"order_update\",\"orderId\":\"o%llu\",\"status\":\"filled\",\"symbol\":\"SYM%02d\",%s}",
                          (unsigned long long)order_seq, (int)(order_seq % symbols), tsj);
      snprintf(uid, sizeof uid, uid_fmt, u);
      if (nchan) {
        unsigned char h[8] = {0x81, (unsigned char)(0x80 | plen), 0, 0, 0, 0, 0, 0};
        size_t hl = 6;  // a zero mask key after the length
        if (plen >= 126) { h[1] = 0x80 | 126; h[2] = plen >> 8; h[3] = plen & 0xff; hl = 8; }
        out_append(&pc[u], (char*)h, hl);
        out_append(&pc[u], payload, plen);
      } else {
        redis_publish(&pc[0], fcall, maxlen, uid, payload, plen);
      }
      published++;
      orders_pub++;
    }
    for (int i = 0; i < npc; i++) if (pc[i].olen) out_flush(&pc[i]);
  }
  double pub_secs = (mono_ms() - t0) / 1000.0;
  // Drain: flush what is left (bounded), read the last replies for up to 2 s.
  double end = mono_ms() + 2000;
  while (mono_ms() < end) {
    int pending = 0;
    for (int i = 0; i < npc; i++) if (pc[i].olen) { out_flush(&pc[i]); pending = 1; }
    if (!nchan && rs.replies >= published && !pending) break;
    struct epoll_event evs[64];
    int n = epoll_wait(ep, evs, 64, 10);
    for (int i = 0; i < n; i++) {
      pconn_t* p = &pc[evs[i].data.u32];
      for (;;) {
        ssize_t r = read(p->fd, rbuf, sizeof rbuf);
        if (r <= 0) break;
        rbytes += r;
        if (!nchan) resp_scan(&rs, rbuf, r);
      }
    }
  }
  double took = (mono_ms() - t0) / 1000.0;
  FILE* f = outp ? fopen(outp, "w") : stdout;
  fprintf(f,
          "{\"published\":%llu,\"orders\":%llu,\"seconds\":%.3f,\"withDrainSeconds\":%.3f,\"ratePerS\":%.1f,\"maxSlotLateMs\":%.1f,\"replies\":%llu,"
          "\"receivers\":%llu,\"errors\":%llu,\"fcall\":%s,\"replyBytes\":%llu}\n",
          (unsigned long long)published, (unsigned long long)orders_pub, pub_secs, took, published / pub_secs, max_late,
          (unsigned long long)rs.replies, (unsigned long long)rs.receivers, (unsigned long long)rs.errors, fcall ? "true" : "false",
          (unsigned long long)rbytes);
  if (outp) fclose(f);
  for (int i = 0; i < npc; i++) close(pc[i].fd);
  return 0;
}

int main(int argc, char** argv) {
  g_argc = argc;
  g_argv = argv;
  install_signals();
  raise_nofile();
  if (argc >= 2 && strcmp(argv[1], "conns") == 0) return run_conns();
  if (argc >= 2 && strcmp(argv[1], "pub") == 0) return run_pub();
  fprintf(stderr, "usage: psb conns|pub [options] (see the header of psb.c)\n");
  return 2;
}
