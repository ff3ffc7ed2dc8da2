// bare: the bare epoll reference server of the latency benchmark (issue 16).
//
//   bare --port P --redis-port R [--prefix portfolio:user:] [--broadcast CHANNEL]
//        [--psubscribe] [--max-conns 20000] [--max-out 4194304]
//
// What a WebSocket fan-out server costs with nothing else in it: it accepts any
// upgrade on any path with no checks (no Origin, no session), takes the user id
// from the request's query argument `u` (`GET /anything?u=b12`), and holds one
// Redis connection that SUBSCRIBEs <prefix><uid> when a user's first socket
// comes (or one PSUBSCRIBE <prefix>* with --psubscribe) and, with --broadcast,
// CHANNEL at start. Each pub/sub message is written as its own unmasked text
// frame to every socket of that user (every socket for the broadcast channel):
// one write() per message per socket, the payload as it came from Redis. A
// socket that cannot take it keeps the rest in its own buffer (at most --max-out
// bytes, then it is closed and counted) and is written on EPOLLOUT. It answers
// pings with pongs and close frames with a close. Nothing is parsed as JSON.
//
// stdout: "READY <port>" once listening and subscribed; on SIGUSR2 and at exit a
// line "STATS {json}". SIGTERM/SIGINT: close everything, exit 0. Loopback only
// (listens on 127.0.0.1, connects to Redis on 127.0.0.1). Single-threaded,
// bounded: --max-conns sockets, --max-out bytes queued per socket, a Redis input
// buffer of at most 64 MiB (beyond it the process exits with an error).
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
#include <unistd.h>

static void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("bare: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(2);
}

// ---- SHA-1 (FIPS 180-4) and base64, for Sec-WebSocket-Accept -------------------
static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }
static void sha1(const unsigned char* msg, size_t len, unsigned char out[20]) {
  uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
  size_t total = ((len + 8) / 64 + 1) * 64;  // message, 0x80, zeros, 64-bit length
  unsigned char blk[64];
  for (size_t off = 0; off < total; off += 64) {
    for (size_t i = 0; i < 64; i++) {
      size_t p = off + i;
      unsigned char b = 0;
      if (p < len) b = msg[p];
      else if (p == len) b = 0x80;
      else if (p >= total - 8) b = (unsigned char)(((uint64_t)len * 8) >> (8 * (total - 1 - p)));
      blk[i] = b;
    }
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
      w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 | (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
      uint32_t f, k;
      if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999u; }
      else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1u; }
      else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDCu; }
      else { f = b ^ c ^ d; k = 0xCA62C1D6u; }
      uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d; d = c; c = rol(b, 30); b = a; a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
  }
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 4; j++) out[4 * i + j] = (unsigned char)(h[i] >> (24 - 8 * j));
}
static size_t base64(const unsigned char* in, size_t n, char* out) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
    out[o++] = tab[v >> 18 & 63];
    out[o++] = tab[v >> 12 & 63];
    out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? tab[v & 63] : '=';
  }
  out[o] = 0;
  return o;
}

// ---- state ----------------------------------------------------------------------
typedef struct {
  char* p;
  size_t len, cap;
} buf_t;
static void buf_add(buf_t* b, const char* d, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n) cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) die("out of memory");
    b->cap = cap;
  }
  memcpy(b->p + b->len, d, n);
  b->len += n;
}
static void buf_drop(buf_t* b, size_t n) {
  memmove(b->p, b->p + n, b->len - n);
  b->len -= n;
}
static void buf_free(buf_t* b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

enum { K_LISTEN = 1, K_REDIS = 2, K_CONN = 3 };
typedef struct user user_t;
typedef struct conn {
  int kind;  // K_CONN (first member: epoll data points here or at the static tags)
  int fd, open, want_out, slot;
  buf_t in, out;
  user_t* user;
  struct conn *next, *prev;  // the user's sockets
} conn_t;
struct user {
  char* uid;
  conn_t* head;
  int subscribed;
};

static int g_epfd, g_redis_fd, g_psub;
static const char* g_prefix = "portfolio:user:";
static const char* g_broadcast;
static size_t g_max_out = 4u << 20;
static int g_max_conns = 20000;
static int k_listen = K_LISTEN, k_redis = K_REDIS;
static conn_t** g_open;  // open WebSocket connections, dense (broadcast)
static int n_open, n_conns;
static conn_t* g_grave;  // closed this turn, freed at its end
static user_t** g_users;  // open addressing by uid
static size_t users_cap, n_users;
static buf_t g_rin, g_rout;  // Redis input and pending output
static struct {
  uint64_t accepted, upgraded, rejected, closed, slow_closed, messages, broadcasts, deliveries, writes, partial_writes,
      queued_bytes, pings, redis_bytes, subscribes, unknown_channel;
} st;
static volatile sig_atomic_t g_stop, g_dump;
static void on_sig(int s) {
  if (s == SIGUSR2) g_dump = 1;
  else g_stop = 1;
}

static uint64_t hash_str(const char* s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}
static user_t* user_find(const char* uid, size_t n, int create) {
  if (!users_cap) {
    users_cap = 1024;
    g_users = calloc(users_cap, sizeof *g_users);
  }
  if (create && (n_users + 1) * 2 > users_cap) {
    size_t cap = users_cap * 2;
    user_t** t = calloc(cap, sizeof *t);
    if (!t) die("out of memory");
    for (size_t i = 0; i < users_cap; i++) {
      if (!g_users[i]) continue;
      size_t j = hash_str(g_users[i]->uid, strlen(g_users[i]->uid)) & (cap - 1);
      while (t[j]) j = (j + 1) & (cap - 1);
      t[j] = g_users[i];
    }
    free(g_users);
    g_users = t;
    users_cap = cap;
  }
  size_t j = hash_str(uid, n) & (users_cap - 1);
  while (g_users[j]) {
    if (strlen(g_users[j]->uid) == n && memcmp(g_users[j]->uid, uid, n) == 0) return g_users[j];
    j = (j + 1) & (users_cap - 1);
  }
  if (!create) return NULL;
  user_t* u = calloc(1, sizeof *u);
  if (!u || !(u->uid = strndup(uid, n))) die("out of memory");
  g_users[j] = u;
  n_users++;
  return u;
}

// ---- Redis ----------------------------------------------------------------------
static void redis_flush(void) {
  while (g_rout.len) {
    ssize_t w = write(g_redis_fd, g_rout.p, g_rout.len);
    if (w < 0) {
      if (errno == EAGAIN) break;
      die("redis write: %s", strerror(errno));
    }
    buf_drop(&g_rout, (size_t)w);
  }
  struct epoll_event ev = {.events = EPOLLIN | (g_rout.len ? EPOLLOUT : 0), .data.ptr = &k_redis};
  epoll_ctl(g_epfd, EPOLL_CTL_MOD, g_redis_fd, &ev);
}
static void redis_command(const char* cmd, const char* a, size_t alen, const char* b, size_t blen) {
  char hdr[128];
  int n = snprintf(hdr, sizeof hdr, "*2\r\n$%zu\r\n%s\r\n$%zu\r\n", strlen(cmd), cmd, alen + blen);
  buf_add(&g_rout, hdr, (size_t)n);
  buf_add(&g_rout, a, alen);
  if (blen) buf_add(&g_rout, b, blen);
  buf_add(&g_rout, "\r\n", 2);
  st.subscribes++;
}

// ---- WebSocket connections -----------------------------------------------------------
static void conn_close(conn_t* c) {
  if (c->fd < 0) return;
  epoll_ctl(g_epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  if (c->open) {
    g_open[c->slot] = g_open[--n_open];
    g_open[c->slot]->slot = c->slot;
    c->open = 0;
  }
  if (c->user) {
    if (c->prev) c->prev->next = c->next;
    else c->user->head = c->next;
    if (c->next) c->next->prev = c->prev;
  }
  buf_free(&c->in);
  buf_free(&c->out);
  // Freed after this loop turn: later events of the same epoll_wait batch
  // may still point at it (they see fd < 0 and skip it).
  c->next = g_grave;
  g_grave = c;
  n_conns--;
  st.closed++;
}
static void want_out(conn_t* c, int on) {
  if (c->want_out == on) return;
  c->want_out = on;
  struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(g_epfd, EPOLL_CTL_MOD, c->fd, &ev);
}
// Writes what c has queued; returns -1 when c was closed.
static int conn_flush(conn_t* c) {
  while (c->out.len) {
    ssize_t w = write(c->fd, c->out.p, c->out.len);
    st.writes++;
    if (w < 0) {
      if (errno == EAGAIN) break;
      conn_close(c);
      return -1;
    }
    buf_drop(&c->out, (size_t)w);
  }
  want_out(c, c->out.len > 0);
  return 0;
}
// One frame (already framed) to one socket: one write() unless it is backed up.
static void conn_send(conn_t* c, const char* f, size_t n) {
  if (c->out.len) {
    if (c->out.len + n > g_max_out) { st.slow_closed++; conn_close(c); return; }
    buf_add(&c->out, f, n);
    st.queued_bytes += n;
    return;
  }
  ssize_t w = write(c->fd, f, n);
  st.writes++;
  if (w == (ssize_t)n) return;
  if (w < 0) {
    if (errno != EAGAIN) { conn_close(c); return; }
    w = 0;
  }
  st.partial_writes++;
  buf_add(&c->out, f + w, n - (size_t)w);
  st.queued_bytes += n - (size_t)w;
  want_out(c, 1);
}
static size_t frame_header(unsigned char* h, int op, size_t n) {
  h[0] = (unsigned char)(0x80 | op);
  if (n < 126) { h[1] = (unsigned char)n; return 2; }
  if (n < 65536) { h[1] = 126; h[2] = (unsigned char)(n >> 8); h[3] = (unsigned char)n; return 4; }
  h[1] = 127;
  for (int i = 0; i < 8; i++) h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
  return 10;
}

static void on_upgrade(conn_t* c, const char* req, size_t hl) {
  // The user id: query argument u of the request line.
  const char* line_end = memchr(req, '\r', hl);
  const char* q = memchr(req, '?', (size_t)(line_end - req));
  const char* uid = NULL;
  size_t ulen = 0;
  for (const char* p = q; p && p < line_end; p = memchr(p + 1, '&', (size_t)(line_end - p - 1))) {
    if (p[1] == 'u' && p[2] == '=') {
      uid = p + 3;
      ulen = strcspn(uid, "& \r");
      break;
    }
  }
  const char* key = memmem(req, hl, "Sec-WebSocket-Key:", 18);
  if (!key) key = memmem(req, hl, "sec-websocket-key:", 18);
  if (!key || !uid || !ulen || ulen > 200) {
    static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    ssize_t w = write(c->fd, bad, sizeof bad - 1);
    (void)w;
    st.rejected++;
    conn_close(c);
    return;
  }
  key += 18;
  while (*key == ' ') key++;
  size_t klen = strcspn(key, "\r");
  unsigned char cat[256], dig[20];
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  if (klen > 100) klen = 100;
  memcpy(cat, key, klen);
  memcpy(cat + klen, guid, sizeof guid - 1);
  sha1(cat, klen + sizeof guid - 1, dig);
  char acc[32], resp[256];
  base64(dig, 20, acc);
  int n = snprintf(resp, sizeof resp,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: %s\r\n\r\n", acc);
  if (write(c->fd, resp, (size_t)n) != n) { conn_close(c); return; }
  st.upgraded++;
  user_t* u = user_find(uid, ulen, 1);
  c->user = u;
  c->next = u->head;
  if (u->head) u->head->prev = c;
  u->head = c;
  c->open = 1;
  c->slot = n_open;
  g_open[n_open++] = c;
  if (!u->subscribed && !g_psub) {
    redis_command("SUBSCRIBE", g_prefix, strlen(g_prefix), uid, ulen);
    redis_flush();
  }
  u->subscribed = 1;
}

// Client frames: masked; pings get a pong, a close gets a close, the rest is ignored.
static void on_client_frames(conn_t* c) {
  size_t off = 0;
  while (c->in.len - off >= 2) {
    unsigned char* h = (unsigned char*)c->in.p + off;
    int op = h[0] & 15;
    uint64_t plen = h[1] & 127;
    size_t hl = 2;
    if (plen == 126) {
      if (c->in.len - off < 4) break;
      plen = (uint64_t)h[2] << 8 | h[3];
      hl = 4;
    } else if (plen == 127) {
      if (c->in.len - off < 10) break;
      plen = 0;
      for (int i = 0; i < 8; i++) plen = plen << 8 | h[2 + i];
      hl = 10;
    }
    if (plen > 65536) { conn_close(c); return; }
    int masked = h[1] & 128;
    if (masked) hl += 4;
    if (c->in.len - off < hl + plen) break;
    unsigned char* pl = h + hl;
    if (masked)
      for (uint64_t i = 0; i < plen; i++) pl[i] ^= h[hl - 4 + (i & 3)];
    if (op == 9 || op == 8) {
      unsigned char f[10 + 125];
      size_t n = plen > 125 ? 125 : (size_t)plen;
      size_t fh = frame_header(f, op == 9 ? 10 : 8, n);
      memcpy(f + fh, pl, n);
      if (op == 9) st.pings++;
      conn_send(c, (char*)f, fh + n);
      if (op == 8) { conn_close(c); return; }
    }
    off += hl + plen;
  }
  if (off) buf_drop(&c->in, off);
}

static char rbuf[1 << 16];
static void on_conn_readable(conn_t* c) {
  for (;;) {
    ssize_t r = read(c->fd, rbuf, sizeof rbuf);
    if (r == 0) { conn_close(c); return; }
    if (r < 0) {
      if (errno != EAGAIN) conn_close(c);
      return;
    }
    if (c->in.len + (size_t)r > 1 << 16) { conn_close(c); return; }
    buf_add(&c->in, rbuf, (size_t)r);
    if (!c->open) {
      char* e = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
      if (!e) {
        if (c->in.len > 8192) { conn_close(c); return; }
        continue;
      }
      size_t hl = (size_t)(e + 4 - c->in.p);
      on_upgrade(c, c->in.p, hl);
      if (c->fd < 0) return;
      buf_drop(&c->in, hl);
    }
    on_client_frames(c);
    if (c->fd < 0) return;
  }
}

static void on_accept(int lfd) {
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or EMFILE: the backlog waits
    if (n_conns >= g_max_conns) { close(fd); st.rejected++; continue; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn_t* c = calloc(1, sizeof *c);
    if (!c) die("out of memory");
    c->kind = K_CONN;
    c->fd = fd;
    n_conns++;
    st.accepted++;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(g_epfd, EPOLL_CTL_ADD, fd, &ev);
  }
}

// ---- pub/sub messages -----------------------------------------------------------
static buf_t g_frame;
static void deliver(const char* ch, size_t chlen, const char* payload, size_t plen) {
  st.messages++;
  g_frame.len = 0;
  unsigned char h[10];
  size_t hl = frame_header(h, 1, plen);
  buf_add(&g_frame, (char*)h, hl);
  buf_add(&g_frame, payload, plen);
  if (g_broadcast && chlen == strlen(g_broadcast) && memcmp(ch, g_broadcast, chlen) == 0) {
    st.broadcasts++;
    // conn_send may close a socket, which moves the last one into its slot.
    for (int i = n_open - 1; i >= 0; i--) {
      if (i >= n_open) continue;
      st.deliveries++;
      conn_send(g_open[i], g_frame.p, g_frame.len);
    }
    return;
  }
  size_t pl = strlen(g_prefix);
  user_t* u = chlen > pl && memcmp(ch, g_prefix, pl) == 0 ? user_find(ch + pl, chlen - pl, 0) : NULL;
  if (!u) { st.unknown_channel++; return; }
  for (conn_t *c = u->head, *next; c; c = next) {
    next = c->next;
    st.deliveries++;
    conn_send(c, g_frame.p, g_frame.len);
  }
}

// The decimal after a RESP type byte (up to '\r'; a leading '-' gives -1).
static long resp_num(const char* q) {
  if (*q == '-') return -1;
  long v = 0;
  while (*q >= '0' && *q <= '9') v = v * 10 + (*q++ - '0');
  return v;
}
// Parses one RESP value of the kinds pub/sub sends (array of bulk strings and
// integers). Returns bytes consumed, 0 when incomplete; fills up to 4 elements.
static size_t resp_parse(const char* p, size_t n, int* count, const char* el[4], size_t ell[4]) {
  const char* end = p + n;
  const char* q = p;
  const char* nl;
  if (n < 1 || !(nl = memchr(q, '\n', n))) return 0;
  if (*q != '*') {  // a simple reply outside pub/sub framing: skip the line
    *count = 0;
    return (size_t)(nl + 1 - p);
  }
  int k = (int)resp_num(q + 1);
  q = nl + 1;
  *count = k;
  for (int i = 0; i < k; i++) {
    if (q >= end || !(nl = memchr(q, '\n', (size_t)(end - q)))) return 0;
    if (*q == '$') {
      long len = resp_num(q + 1);
      const char* data = nl + 1;
      if (len < 0) len = 0;
      if (end - data < len + 2) return 0;
      if (i < 4) { el[i] = data; ell[i] = (size_t)len; }
      q = data + len + 2;
    } else {
      if (i < 4) { el[i] = q + 1; ell[i] = (size_t)(nl - q) - 2; }  // ":<n>\r\n" -> "<n>"
      q = nl + 1;
    }
  }
  return (size_t)(q - p);
}
static void on_redis_readable(void) {
  for (int turn = 0; turn < 4; turn++) {  // at most 256 KiB per readiness event
    ssize_t r = read(g_redis_fd, rbuf, sizeof rbuf);
    if (r == 0) die("redis closed the connection");
    if (r < 0) {
      if (errno == EAGAIN) return;
      die("redis read: %s", strerror(errno));
    }
    st.redis_bytes += (uint64_t)r;
    if (g_rin.len + (size_t)r > 64u << 20) die("redis input above 64 MiB");
    buf_add(&g_rin, rbuf, (size_t)r);
    size_t off = 0;
    for (;;) {
      int k = 0;
      const char* el[4] = {0};
      size_t ell[4] = {0};
      size_t used = resp_parse(g_rin.p + off, g_rin.len - off, &k, el, ell);
      if (!used) break;
      off += used;
      if (k == 3 && ell[0] == 7 && memcmp(el[0], "message", 7) == 0) deliver(el[1], ell[1], el[2], ell[2]);
      else if (k == 4 && ell[0] == 8 && memcmp(el[0], "pmessage", 8) == 0) deliver(el[2], ell[2], el[3], ell[3]);
    }
    if (off) buf_drop(&g_rin, off);
  }
}

static void dump_stats(void) {
  printf("STATS {\"accepted\":%llu,\"upgraded\":%llu,\"rejected\":%llu,\"closed\":%llu,\"slowClosed\":%llu,\"open\":%d,"
         "\"users\":%zu,\"messages\":%llu,\"broadcasts\":%llu,\"deliveries\":%llu,\"writes\":%llu,\"partialWrites\":%llu,"
         "\"queuedBytes\":%llu,\"pings\":%llu,\"redisBytes\":%llu,\"subscribes\":%llu,\"unknownChannel\":%llu}\n",
         (unsigned long long)st.accepted, (unsigned long long)st.upgraded, (unsigned long long)st.rejected,
         (unsigned long long)st.closed, (unsigned long long)st.slow_closed, n_open, n_users,
         (unsigned long long)st.messages, (unsigned long long)st.broadcasts, (unsigned long long)st.deliveries,
         (unsigned long long)st.writes, (unsigned long long)st.partial_writes, (unsigned long long)st.queued_bytes,
         (unsigned long long)st.pings, (unsigned long long)st.redis_bytes, (unsigned long long)st.subscribes,
         (unsigned long long)st.unknown_channel);
  fflush(stdout);
}

static const char* opt(int argc, char** argv, const char* name, const char* def) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0) return i + 1 < argc && strncmp(argv[i + 1], "--", 2) ? argv[i + 1] : "1";
  return def;
}
static int tcp_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (fd < 0 || connect(fd, (struct sockaddr*)&a, sizeof a) < 0) die("connect to redis port %d: %s", port, strerror(errno));
  return fd;
}

int main(int argc, char** argv) {
  int port = atoi(opt(argc, argv, "--port", "0"));
  int rport = atoi(opt(argc, argv, "--redis-port", "6379"));
  g_prefix = opt(argc, argv, "--prefix", g_prefix);
  g_broadcast = opt(argc, argv, "--broadcast", NULL);
  g_psub = opt(argc, argv, "--psubscribe", NULL) != NULL;
  g_max_conns = atoi(opt(argc, argv, "--max-conns", "20000"));
  g_max_out = strtoull(opt(argc, argv, "--max-out", "4194304"), NULL, 10);
  if (!port) die("--port is required");
  struct sigaction sa = {0};
  sa.sa_handler = on_sig;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGUSR2, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
  g_open = calloc((size_t)g_max_conns + 1, sizeof *g_open);
  g_epfd = epoll_create1(EPOLL_CLOEXEC);

  g_redis_fd = tcp_to(rport);
  int one = 1;
  setsockopt(g_redis_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Subscribe the broadcast channel (and the pattern) before listening.
  char rep[512];
  int expect = 0;
  if (g_broadcast) { redis_command("SUBSCRIBE", g_broadcast, strlen(g_broadcast), "", 0); expect++; }
  if (g_psub) { redis_command("PSUBSCRIBE", g_prefix, strlen(g_prefix), "*", 1); expect++; }
  if (g_rout.len && write(g_redis_fd, g_rout.p, g_rout.len) != (ssize_t)g_rout.len) die("redis write");
  g_rout.len = 0;
  for (int got = 0; got < expect;) {  // each confirmation ends with ":<count>\r\n"
    ssize_t r = read(g_redis_fd, rep, sizeof rep - 1);
    if (r <= 0) die("redis: no subscribe confirmation");
    rep[r] = 0;
    for (char* p = rep; (p = strstr(p, "\r\n:")); p += 3) got++;
  }
  if (fcntl(g_redis_fd, F_SETFL, fcntl(g_redis_fd, F_GETFL) | O_NONBLOCK) < 0) die("O_NONBLOCK");
  struct epoll_event rev = {.events = EPOLLIN, .data.ptr = &k_redis};
  epoll_ctl(g_epfd, EPOLL_CTL_ADD, g_redis_fd, &rev);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &la.sin_addr);
  if (bind(lfd, (struct sockaddr*)&la, sizeof la) < 0 || listen(lfd, 4096) < 0) die("listen on %d: %s", port, strerror(errno));
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &k_listen};
  epoll_ctl(g_epfd, EPOLL_CTL_ADD, lfd, &lev);
  printf("READY %d\n", port);
  fflush(stdout);

  struct epoll_event evs[512];
  while (!g_stop) {
    int n = epoll_wait(g_epfd, evs, 512, 1000);
    for (int i = 0; i < n; i++) {
      int kind = *(int*)evs[i].data.ptr;
      if (kind == K_LISTEN) on_accept(lfd);
      else if (kind == K_REDIS) {
        if (evs[i].events & EPOLLOUT) redis_flush();
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_redis_readable();
      }
    }
    // Then the sockets (one closed earlier in this turn has fd < 0).
    for (int i = 0; i < n; i++) {
      if (*(int*)evs[i].data.ptr != K_CONN) continue;
      conn_t* c = evs[i].data.ptr;
      if (c->fd < 0) continue;
      if ((evs[i].events & EPOLLOUT) && conn_flush(c) < 0) continue;
      if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_conn_readable(c);
    }
    while (g_grave) {
      conn_t* c = g_grave;
      g_grave = c->next;
      free(c);
    }
    if (g_dump) { g_dump = 0; dump_stats(); }
  }
  dump_stats();
  return 0;
}
