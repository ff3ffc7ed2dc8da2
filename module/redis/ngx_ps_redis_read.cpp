// The guarded read path of both Redis connections. See ngx_ps_redis_read.h.

#include "ngx_ps_redis_read.h"

#include <sys/mman.h>
#include <unistd.h>

#include <climits>

#include "ngx_ps_module.h"
#include "resp_guard.h"

// hiredis 0.14.1 exports it (async.c: what redisAsyncHandleRead calls after
// feeding the reader) but its async.h does not declare it.
extern "C" void redisProcessCallbacks(redisAsyncContext* ac);

namespace ngx_ps_redis_internal {

struct conn_guard {
  ps::RespGuard resp;
  std::uint64_t limit = 0;
  log_limiter discard_log;
};

void conn_guard_deleter::operator()(conn_guard* g) const noexcept { delete g; }

namespace {

constexpr std::size_t kReadSize = 16 * 1024;  // like hiredis' redisBufferRead
constexpr std::size_t kPubSubFloor = 64 * 1024;
constexpr std::size_t kCommandMin = 1024 * 1024;
constexpr std::size_t kHistorySlack = 4 * 1024;

char read_buf[kReadSize];
char why_buf[160];  // read_once's *why when it needs words of its own

std::size_t max_event_size() {
  auto* pmcf = static_cast<ngx_http_portfolio_stream_main_conf_t*>(
      ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_portfolio_stream_module));
  if (pmcf == nullptr || pmcf->max_event_size == NGX_CONF_UNSET_SIZE || pmcf->max_event_size == 0) {
    return 256 * 1024;  // the directive's default
  }
  return pmcf->max_event_size;
}

struct feed_ctx {
  redisReader* reader;
  bool failed;
};

void to_reader(void* p, const char* bytes, std::size_t n) {
  auto* f = static_cast<feed_ctx*>(p);
  if (!f->failed && redisReaderFeed(f->reader, bytes, n) != REDIS_OK) {
    f->failed = true;
  }
}

const char* with_words(const char* what, const char* detail) {
  u_char* end = ngx_snprintf(reinterpret_cast<u_char*>(why_buf), sizeof(why_buf) - 1, "%s: %s", what, detail);
  *end = '\0';
  return why_buf;
}

}  // namespace

bool read_start(ps_conn* pc) {
  if (pc->guard == nullptr) {
    auto& owner = pc->node->guards[pc->is_cmd ? 0 : 1];
    try {
      owner.reset(new conn_guard());
    } catch (...) {
      return false;
    }
    pc->guard = owner.get();
  }
  conn_guard& g = *pc->guard;
  const std::size_t m = max_event_size();
  ps::RespGuardLimits l;
  if (pc->is_cmd) {
    l.max_bulk = m > kCommandMin - kHistorySlack ? m + kHistorySlack : kCommandMin;
    l.max_elements = INT_MAX;
  } else {
    l.max_bulk = m > kPubSubFloor ? m : kPubSubFloor;
    l.max_elements = 1024;  // pub/sub replies have 3 elements
  }
  l.max_line = l.max_bulk;
  g.resp.reset(l);
  g.limit = l.max_bulk;
  return true;
}

read_rc read_once(ps_conn* pc, const char** why) {
  redisAsyncContext* ac = pc->ac;
  conn_guard& g = *pc->guard;
  ssize_t n = read(ac->c.fd, read_buf, sizeof(read_buf));
  if (n < 0) {
    ngx_err_t err = ngx_errno;
    if (err == NGX_EAGAIN) {
      return read_rc::drained;
    }
    if (err == NGX_EINTR) {
      return read_rc::more;
    }
    char text[96];
    u_char* end = ngx_strerror(err, reinterpret_cast<u_char*>(text), sizeof(text) - 1);
    *end = '\0';
    *why = with_words("read failed", text);
    return read_rc::failed;
  }
  if (n == 0) {
    *why = "Server closed the connection";  // hiredis' words for it
    return read_rc::failed;
  }

  const std::uint64_t discarded = g.resp.discarded();
  const std::uint64_t dropped = g.resp.dropped_bytes();
  feed_ctx f{ac->c.reader, false};
  if (g.resp.feed(read_buf, static_cast<std::size_t>(n), to_reader, &f) != ps::RespGuard::Status::ok) {
    *why = with_words("malformed reply", g.resp.error());
    return read_rc::failed;
  }
  if (f.failed) {
    *why = ac->c.reader->errstr[0] != '\0' ? with_words("reply reader", ac->c.reader->errstr)
                                           : "reply reader failed";
    return read_rc::failed;
  }
  if (g.resp.dropped_bytes() != dropped) {
    // Bytes of a discarded bulk are Redis talking: the reply watchdog must not
    // take a long discard for a silent Redis.
    pc->last_progress = ngx_current_msec;
  }
  if (g.resp.discarded() != discarded) {
    ngx_uint_t skipped = 0;
    if (g.discard_log.allow(&skipped)) {
      // The command connection's is a lookup that gets no value: worth a
      // warning. The pub/sub one is an event the hub logs as dropped.
      const ngx_uint_t level = pc->is_cmd ? NGX_LOG_WARN : NGX_LOG_INFO;
      ngx_log_error(level, ps_log(), 0,
                    "portfolio_stream: Redis %s connection: discarded a %uL-byte reply from %s "
                    "(over the %uL-byte limit)%s%s",
                    pc->name, g.resp.last_discarded_length(), pc->node->where.c_str(), g.limit,
                    pc->is_cmd ? "; the lookup gets no value" : "", suppressed_note(skipped).buf);
    }
  }
  if (!pc->is_cmd) {
    pubsub_dispatch(pc);  // may free ac too
  } else {
    redisProcessCallbacks(ac);  // may free ac (ev_cleanup nulls pc->ac)
  }
  // Not drained on a short read: more may have come meanwhile, and reading it
  // in this event (until EAGAIN) hands the hub bigger bursts per loop
  // iteration, so fewer and larger writes to the clients.
  return read_rc::more;
}

std::string_view read_oversize_payload() {
  static void* map = MAP_FAILED;
  static std::size_t map_len = 0;
  const std::size_t len = max_event_size() + 1;
  if (map != MAP_FAILED && map_len != len) {
    munmap(map, map_len);
    map = MAP_FAILED;
  }
  if (map == MAP_FAILED) {
    map = mmap(nullptr, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED) {
      return {};
    }
    map_len = len;
  }
  return std::string_view(static_cast<const char*>(map), map_len);
}

}  // namespace ngx_ps_redis_internal
