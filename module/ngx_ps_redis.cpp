// hiredis 0.14 on nginx's event loop. See ngx_ps_redis.h for the contract.
//
// Ownership and lifetimes, in one place:
// - hiredis owns each redisAsyncContext and its fd. We wrap the fd in an nginx
//   connection only to get events; that connection is released in hiredis'
//   ev.cleanup hook (which runs inside __redisAsyncFree, right before hiredis
//   closes the fd), with the events deleted and c->fd set to -1 so that nginx
//   never closes it (and ngx_worker_process_exit does not see a leaked socket).
// - hiredis calls our reply callbacks with reply == NULL while it frees a
//   context, from inside redisAsyncHandleRead/Write or redisAsyncFree. Nothing
//   reconnects from there: reconnects run from a timer, answers to lookups
//   that lost their connection and pub/sub state changes from posted events.
// - A lookup (ngx_ps_get_t) is heap memory owned by this file. While hiredis
//   holds it as privdata (in_redis) it stays alive even after its handler ran
//   or it was cancelled (done); the reply or the context's teardown frees it.
// - Liveness: the pub/sub connection counts as up only once Redis answered a
//   SUBSCRIBE of our own health channel, and it re-sends that SUBSCRIBE when
//   idle (on_probe) so that a Redis that stopped answering is noticed by the
//   reply watchdog although an idle subscriber owes nothing (ps_redis::health).
// - Every connection timer is cancelable: a shutting-down worker must not wait
//   for Redis. Only the lookup deadline timer, set while lookups are pending,
//   holds it, for at most connect_timeout, like an upstream request would.

#include <sys/ioctl.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "ngx_ps_nginx.h"
#include "ngx_ps_redis.h"

namespace {

constexpr ngx_msec_t kBackoffMin = 100;
constexpr ngx_msec_t kBackoffMax = 3000;
// Repeated failures are logged at most this often, so a Redis that stays down
// costs one log line per backoff cap rather than one per attempt.
constexpr ngx_msec_t kLogEvery = kBackoffMax;
// Pub/sub only: for this long after losing a connection that had proved
// itself, the retry base delay stays at most kFastBase (jittered to
// kFastBase/2..1.5*kFastBase) instead of doubling up to kBackoffMax. Every
// event published while we are unsubscribed is lost, and a restarting Redis
// is usually back within a second or two; the window is short and only
// opens after a connection that lasted kBackoffMax and answered, so a
// flapping Redis still gets the full backoff.
constexpr ngx_msec_t kFastWindow = kBackoffMax;
constexpr ngx_msec_t kFastBase = 400;
constexpr ngx_uint_t kMaxLookups = 10000;

enum class conn_state { down, connecting, handshake, ready };

struct log_limiter {
  ngx_msec_t last = 0;
  ngx_uint_t suppressed = 0;
  bool armed = false;

  // true: write the line now; *skipped is how many were swallowed before it.
  bool allow(ngx_uint_t *skipped) {
    if (armed && ngx_current_msec - last < kLogEvery) {
      suppressed++;
      return false;
    }
    armed = true;
    last = ngx_current_msec;
    *skipped = suppressed;
    suppressed = 0;
    return true;
  }
  void reset() {
    armed = false;
    suppressed = 0;
  }
};

struct ps_conn {
  const char *name;  // for log lines: "command" or "pub/sub"
  bool is_cmd;
  redisAsyncContext *ac;  // nullptr while down
  ngx_connection_t *c;    // our event wrapper around ac->c.fd
  conn_state state;

  // Connecting/handshake: the connect_timeout deadline. Ready: a watchdog
  // that tears the connection down when replies are owed and nothing arrived
  // for connect_timeout (a Redis that accepts but never answers, or a dead
  // peer that TCP has not noticed yet). Re-armed lazily, never per reply.
  ngx_event_t timer;
  ngx_event_t retry;  // backoff before the next connect attempt
  // Pub/sub only, while ready: the idle health check (on_probe). An idle
  // subscriber owes no reply, so without it the watchdog above would never
  // notice a Redis that stopped answering (SIGSTOP, a hung host: TCP is
  // still acked, keepalive stays quiet).
  ngx_event_t probe;

  ngx_msec_t backoff;        // current base delay; doubled per failure
  ngx_msec_t fast_until;     // pub/sub: retries capped at kFastBase until then
  bool fast;                 // ...and that window is open
  ngx_msec_t up_since;       // when it became ready
  ngx_msec_t last_progress;  // last reply, or when replies became owed
  ngx_uint_t outstanding;    // replies owed: GETs, or (un)subscribe confirmations
  ngx_uint_t handshake;      // AUTH/SELECT replies still due
  ngx_uint_t attempts;       // failed attempts since the last ready state
  bool ever_ready;           // a later ready state counts as a reconnect
  bool answered;             // got a reply on this context: it really worked
  const char *fail;          // why we tore it down ourselves (static text)
  bool fail_logged;          // ...and it is logged already
  log_limiter fail_log;
  log_limiter up_log;
};

struct ps_redis {
  bool running;  // between init_process and exit_process
  bool exiting;  // exit_process ran: teardown callbacks must not react

  std::string host;
  std::string unix_path;
  std::string username;
  std::string password;
  std::string where;  // "host:port" / "unix:/path" for log lines
  int port;
  ngx_int_t db;
  ngx_msec_t timeout;

  ngx_ps_pubsub_handler_t handler;

  // "portfolio_stream:health:<pid>": a channel of our own that every pub/sub
  // context SUBSCRIBEs to first and keeps for its whole life (see
  // on_pubsub_reply). Its "subscribe" reply is what makes the connection
  // ready, and re-sending the SUBSCRIBE is the idle health check: Redis
  // answers every SUBSCRIBE, even of a channel already subscribed. (PING
  // cannot do this on hiredis 0.14: in subscribed mode its ["pong", ""] reply
  // is looked up as a pattern, its callback is never called and piles up in
  // ac->sub.invalid.) As long as it stays subscribed, the subscription count
  // in Redis' replies never reaches 0, so hiredis never leaves subscribed
  // mode behind our back. The hub never sees it.
  std::string health;

  ps_conn cmd;
  ps_conn sub;

  // Lookups by deadline. All share one timeout, so creation order is
  // deadline order: one timer for the head replaces a timer per lookup.
  ngx_queue_t deadlines;
  ngx_queue_t waiting;   // not sent yet: the command connection is not ready
  ngx_queue_t answers;   // lost their connection: answered from answer_ev
  ngx_uint_t live;       // allocated lookups, for the cap
  ngx_event_t deadline_ev;
  ngx_event_t answer_ev;

  // Channels we sent SUBSCRIBE for and no UNSUBSCRIBE since, on the current
  // pub/sub context. hiredis 0.14 aborts (assert in redisProcessCallbacks)
  // when an unsubscribe reply arrives after it has left subscribed mode, which
  // an UNSUBSCRIBE of a channel it has no callback for can cause; filtering
  // against this set keeps every UNSUBSCRIBE matched with a dict entry.
  std::unordered_set<std::string> *channels;

  ngx_event_t notify_ev;
  bool notify_down;  // a ready pub/sub connection was lost since the last notify
  bool notified_up;  // the handler was last told state(true)
  // The handler was told anything at all. A worker whose pub/sub connection
  // never came up (Redis down, or hung: it accepts and never answers) is told
  // state(false) at its first failed attempt, so the stats report it degraded
  // instead of not reporting at all (the hub reports on state changes).
  bool notified_any;

  log_limiter error_log;  // error replies to GET
  log_limiter cap_log;    // too many lookups

  ngx_ps_redis_stats_t stats;
};

ps_redis g;

// ", 5 similar messages suppressed" or "": most lines have nothing to report.
struct suppressed_note {
  char buf[64];
  explicit suppressed_note(ngx_uint_t n) {
    u_char *end = reinterpret_cast<u_char *>(buf);
    if (n != 0) {
      end = ngx_snprintf(end, sizeof(buf) - 1, ", %ui similar messages suppressed", n);
    }
    *end = '\0';
  }
};

}  // namespace

struct ngx_ps_get_t {
  ngx_queue_t dlink;  // in g.deadlines while the outcome is undecided
  ngx_queue_t qlink;  // in g.waiting or g.answers
  ngx_msec_t deadline;
  ngx_ps_get_handler_pt handler;
  void *data;
  unsigned in_deadlines : 1;
  unsigned in_waiting : 1;
  unsigned in_answers : 1;
  unsigned in_redis : 1;  // hiredis holds it as privdata
  unsigned done : 1;      // outcome decided (answered, expired, cancelled)
  unsigned held : 1;      // its handler is running: do not free under it
  std::size_t key_len;
  char key[1];
};

namespace {

ngx_log_t *ps_log() { return ngx_cycle->log; }

// ---- lookups ---------------------------------------------------------------

void get_maybe_free(ngx_ps_get_t *q) {
  if (q->done && !q->in_redis && !q->in_deadlines && !q->in_waiting && !q->in_answers &&
      !q->held) {
    ngx_free(q);
    g.live--;
  }
}

void get_unlink(ngx_ps_get_t *q) {
  if (q->in_deadlines) {
    ngx_queue_remove(&q->dlink);
    q->in_deadlines = 0;
    // The deadline timer is the one timer that holds a shutting-down worker
    // (see ngx_ps_redis_init_process): it must not outlive the last lookup.
    if (ngx_queue_empty(&g.deadlines) && g.deadline_ev.timer_set) {
      ngx_del_timer(&g.deadline_ev);
    }
  }
  if (q->in_waiting || q->in_answers) {
    ngx_queue_remove(&q->qlink);
    q->in_waiting = 0;
    q->in_answers = 0;
  }
}

void get_call(ngx_ps_get_t *q, ngx_ps_get_result rc, std::string_view value) {
  q->held = 1;
  try {
    q->handler(q->data, rc, value);
  } catch (...) {
    ngx_log_error(NGX_LOG_ALERT, ps_log(), 0, "portfolio_stream: lookup handler threw");
  }
  q->held = 0;
}

// ---- connection plumbing ---------------------------------------------------

void conn_schedule_retry(ps_conn *pc);
void conn_ready(ps_conn *pc);
void cmd_flush_waiting();
void on_get_reply(redisAsyncContext *ac, void *r, void *privdata) noexcept;
bool sub_send_health(ps_conn *pc);

void conn_release_nginx(ps_conn *pc) {
  ngx_connection_t *c = pc->c;
  if (c == nullptr) {
    return;
  }
  // Explicit deletes (not NGX_CLOSE_EVENT): the fd is still open here and
  // epoll must forget it before hiredis closes it.
  if (c->read->active) {
    ngx_del_event(c->read, NGX_READ_EVENT, 0);
  }
  if (c->write->active) {
    ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
  }
  if (c->read->timer_set) {
    ngx_del_timer(c->read);
  }
  if (c->write->timer_set) {
    ngx_del_timer(c->write);
  }
  if (c->read->posted) {
    ngx_delete_posted_event(c->read);
  }
  if (c->write->posted) {
    ngx_delete_posted_event(c->write);
  }
  ngx_free_connection(c);
  // After ngx_free_connection (it indexes cycle->files by fd): hiredis owns
  // and closes the fd; -1 keeps nginx from closing it a second time.
  c->fd = (ngx_socket_t)-1;
  pc->c = nullptr;
}

// hiredis' event hooks. Level-triggered on purpose: hiredis reads at most
// 16 KiB per redisAsyncHandleRead, and with nginx's edge-triggered default a
// larger pub/sub burst would sit in the kernel buffer until the next packet.
// Both directions use the same mode because epoll keeps one mode per fd.
void ev_add_read(void *p) noexcept {
  auto *pc = static_cast<ps_conn *>(p);
  if (pc->c != nullptr && !pc->c->read->active &&
      ngx_add_event(pc->c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
    ngx_log_error(NGX_LOG_ALERT, ps_log(), 0, "portfolio_stream: Redis %s: adding read event failed",
                  pc->name);
  }
}

void ev_del_read(void *p) noexcept {
  auto *pc = static_cast<ps_conn *>(p);
  if (pc->c != nullptr && pc->c->read->active) {
    ngx_del_event(pc->c->read, NGX_READ_EVENT, 0);
  }
}

void ev_add_write(void *p) noexcept {
  auto *pc = static_cast<ps_conn *>(p);
  if (pc->c != nullptr && !pc->c->write->active &&
      ngx_add_event(pc->c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
    ngx_log_error(NGX_LOG_ALERT, ps_log(), 0,
                  "portfolio_stream: Redis %s: adding write event failed", pc->name);
  }
}

void ev_del_write(void *p) noexcept {
  auto *pc = static_cast<ps_conn *>(p);
  if (pc->c != nullptr && pc->c->write->active) {
    ngx_del_event(pc->c->write, NGX_WRITE_EVENT, 0);
  }
}

// The single place where a context's end is handled, whatever ended it: a
// read/write error, EOF, a failed connect, our own redisAsyncFree. hiredis
// has already run every pending reply callback with NULL.
void ev_cleanup(void *p) noexcept {
  auto *pc = static_cast<ps_conn *>(p);
  redisAsyncContext *ac = pc->ac;
  conn_state was = pc->state;

  conn_release_nginx(pc);
  if (pc->timer.timer_set) {
    ngx_del_timer(&pc->timer);
  }
  if (pc->probe.timer_set) {
    ngx_del_timer(&pc->probe);
  }
  pc->ac = nullptr;
  pc->state = conn_state::down;
  pc->outstanding = 0;
  pc->handshake = 0;

  if (!pc->is_cmd) {
    if (g.channels != nullptr) {
      g.channels->clear();
    }
    g.stats.subscriptions = 0;
  }

  if (g.exiting) {
    return;
  }

  const char *why = pc->fail;
  if (why == nullptr) {
    why = (ac != nullptr && ac->c.err != 0) ? ac->c.errstr : "connection closed";
  }
  bool quiet = pc->fail_logged;
  pc->fail = nullptr;
  pc->fail_logged = false;

  ngx_uint_t skipped = 0;
  if (was == conn_state::ready) {
    // Back to quick retries only after the connection proved itself (it
    // answered and lasted): a Redis that accepts and never answers, or one
    // that drops us right after a reply (e.g. a NOPERM to SUBSCRIBE), would
    // otherwise be hammered at the minimum delay forever.
    ngx_msec_t lasted = ngx_current_msec - pc->up_since;
    if ((pc->answered && lasted >= kBackoffMax) || lasted >= 10 * kBackoffMax) {
      pc->backoff = kBackoffMin;
      if (!pc->is_cmd) {
        pc->fast = true;  // see kFastWindow
        pc->fast_until = ngx_current_msec + kFastWindow;
      }
    }
    if (!pc->is_cmd) {
      g.notify_down = true;
      if (!g.notify_ev.posted) {
        ngx_post_event(&g.notify_ev, &ngx_posted_events);
      }
    }
    // A connection that did work is worth a line every time it is lost; one
    // that never answered (a hung Redis) goes through the limiter.
    if (!quiet && pc->fail_log.allow(&skipped)) {
      ngx_log_error(NGX_LOG_WARN, ps_log(), 0,
                    "portfolio_stream: Redis %s connection to %s lost: %s; reconnecting",
                    pc->name, g.where.c_str(), why);
    }
  } else {
    pc->attempts++;
    if (!quiet && pc->fail_log.allow(&skipped)) {
      ngx_log_error(NGX_LOG_WARN, ps_log(), 0,
                    "portfolio_stream: Redis %s connection to %s failed: %s "
                    "(attempt %ui%s); retrying with backoff",
                    pc->name, g.where.c_str(), why, pc->attempts, suppressed_note(skipped).buf);
    }
  }
  conn_schedule_retry(pc);
}

void conn_fail(ps_conn *pc, const char *why) {
  if (pc->ac == nullptr) {
    return;
  }
  pc->fail = why;
  // From inside a hiredis callback this only marks the context; hiredis frees
  // it when the callback returns. Either way ev_cleanup does the rest.
  redisAsyncFree(pc->ac);
}

void conn_owe(ps_conn *pc, ngx_uint_t n) {
  if (pc->outstanding == 0) {
    pc->last_progress = ngx_current_msec;
  }
  pc->outstanding += n;
  if (!pc->timer.timer_set) {
    ngx_add_timer(&pc->timer, g.timeout);
  }
}

void conn_progress(ps_conn *pc) {
  pc->last_progress = ngx_current_msec;
  if (!pc->answered) {
    // Only a Redis that answers has recovered: until then (e.g. one that
    // accepts and hangs) repeated losses stay rate-limited.
    pc->answered = true;
    pc->fail_log.reset();
  }
}

void on_read(ngx_event_t *ev) noexcept {
  auto *c = static_cast<ngx_connection_t *>(ev->data);
  auto *pc = static_cast<ps_conn *>(c->data);
  // hiredis reads at most 16 KiB per call: drain what the socket holds (up
  // to 16 calls) so a pub/sub burst is not read one 16 KiB slice per event
  // loop iteration. pc outlives its context; ev_cleanup nulls pc->ac.
  for (int i = 0; i < 16 && pc->ac != nullptr; i++) {
    if (i > 0) {
      int avail = 0;
      if (ioctl(pc->ac->c.fd, FIONREAD, &avail) != 0 || avail <= 0) {
        break;
      }
    }
    redisAsyncHandleRead(pc->ac);  // may free the context and c
  }
}

void on_write(ngx_event_t *ev) noexcept {
  auto *c = static_cast<ngx_connection_t *>(ev->data);
  auto *pc = static_cast<ps_conn *>(c->data);
  if (pc->ac != nullptr) {
    redisAsyncHandleWrite(pc->ac);
  }
}

void on_handshake_reply(redisAsyncContext *ac, void *r, void *privdata, const char *what) {
  auto *pc = static_cast<ps_conn *>(privdata);
  auto *reply = static_cast<redisReply *>(r);
  if (reply == nullptr || ac != pc->ac) {
    return;  // the context is going away; ev_cleanup reports why
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    // Not conn_progress(): a refusal must keep the backoff and log limiter
    // running, or a wrong password would retry at the minimum delay forever.
    ngx_uint_t skipped = 0;
    // Misconfiguration, not a network blip: NGX_LOG_ERR with Redis' words.
    if (pc->fail_log.allow(&skipped)) {
      ngx_log_error(NGX_LOG_ERR, ps_log(), 0,
                    "portfolio_stream: Redis %s on the %s connection to %s failed: \"%*s\" "
                    "(retrying with backoff%s)",
                    what, pc->name, g.where.c_str(), reply->len, reply->str,
                    suppressed_note(skipped).buf);
    }
    pc->fail_logged = true;  // the teardown line would only repeat this one
    conn_fail(pc, what[0] == 'A' ? "AUTH failed" : "SELECT failed");
    return;
  }
  // Only last_progress: "answered" (which resets backoff and log limiter)
  // waits for the connection to do real work, so AUTH ok + SELECT refused
  // still backs off.
  pc->last_progress = ngx_current_msec;
  if (--pc->handshake == 0) {
    conn_ready(pc);
  }
}

void on_auth_reply(redisAsyncContext *ac, void *r, void *privdata) noexcept {
  on_handshake_reply(ac, r, privdata, "AUTH");
}

void on_select_reply(redisAsyncContext *ac, void *r, void *privdata) noexcept {
  on_handshake_reply(ac, r, privdata, "SELECT");
}

// Runs from __redisAsyncHandleConnect, which does not mark itself as a
// callback: freeing the context here would be a use after free in hiredis, so
// failures are left to ev_cleanup (status != OK) or to the connect timer.
void on_connect(const redisAsyncContext *cac, int status) noexcept {
  auto *pc = static_cast<ps_conn *>(cac->data);
  if (status != REDIS_OK || pc == nullptr || cac != pc->ac) {
    return;
  }
  redisAsyncContext *ac = pc->ac;
  if (g.unix_path.empty()) {
    (void)redisEnableKeepAlive(&ac->c);  // notices a vanished peer while idle
  }

  pc->state = conn_state::handshake;
  if (!g.password.empty()) {
    const char *argv[3];
    std::size_t lens[3];
    int argc = 0;
    argv[argc] = "AUTH";
    lens[argc++] = 4;
    if (!g.username.empty()) {
      argv[argc] = g.username.data();
      lens[argc++] = g.username.size();
    }
    argv[argc] = g.password.data();
    lens[argc++] = g.password.size();
    if (redisAsyncCommandArgv(ac, on_auth_reply, pc, argc, argv, lens) != REDIS_OK) {
      return;  // never ready unauthenticated: the connect timer ends it
    }
    pc->handshake++;
  }
  // Pub/sub channels are not per database: SELECT only for session GETs.
  if (pc->is_cmd && g.db != 0) {
    char buf[NGX_INT_T_LEN];
    u_char *end = ngx_sprintf(reinterpret_cast<u_char *>(buf), "%i", g.db);
    const char *argv[2] = {"SELECT", buf};
    std::size_t lens[2] = {6, static_cast<std::size_t>(end - reinterpret_cast<u_char *>(buf))};
    if (redisAsyncCommandArgv(ac, on_select_reply, pc, 2, argv, lens) != REDIS_OK) {
      return;
    }
    pc->handshake++;
  }
  // The pub/sub connection is ready only once Redis has answered the health
  // SUBSCRIBE: a TCP connect alone proves nothing (a hung Redis or a frozen
  // one still completes it). Pipelined after AUTH: if AUTH fails we tear the
  // context down before its (error) reply is read. The connect timer bounds
  // the wait.
  if (!pc->is_cmd) {
    if (!sub_send_health(pc)) {
      return;
    }
    pc->handshake++;
  }
  if (pc->handshake == 0) {
    conn_ready(pc);
  }
}

void conn_start(ps_conn *pc) {
  if (g.exiting || pc->ac != nullptr) {
    return;
  }
  const char *why = nullptr;
  redisAsyncContext *ac = g.unix_path.empty()
                              ? redisAsyncConnect(g.host.c_str(), g.port)
                              : redisAsyncConnectUnix(g.unix_path.c_str());
  if (ac == nullptr) {
    why = "out of memory";
  } else if (ac->err != 0) {
    why = ac->errstr;  // an immediate failure (unix socket missing, EMFILE...)
  }

  ngx_connection_t *c = nullptr;
  if (why == nullptr) {
    c = ngx_get_connection(ac->c.fd, ps_log());
    if (c == nullptr) {
      why = "no free nginx connection";
    }
  }

  if (why != nullptr) {
    pc->attempts++;
    ngx_uint_t skipped = 0;
    if (pc->fail_log.allow(&skipped)) {
      ngx_log_error(NGX_LOG_WARN, ps_log(), 0,
                    "portfolio_stream: Redis %s connection to %s failed: %s "
                    "(attempt %ui%s); retrying with backoff",
                    pc->name, g.where.c_str(), why, pc->attempts, suppressed_note(skipped).buf);
    }
    if (ac != nullptr) {
      redisAsyncFree(ac);  // no hooks set yet: hiredis just closes its fd
    }
    conn_schedule_retry(pc);
    return;
  }

  c->data = pc;
  c->read->handler = on_read;
  c->write->handler = on_write;
  c->read->log = c->log;
  c->write->log = c->log;

  pc->ac = ac;
  pc->c = c;
  pc->state = conn_state::connecting;
  pc->answered = false;
  pc->fail = nullptr;
  pc->fail_logged = false;
  pc->outstanding = 0;
  pc->handshake = 0;

  ac->data = pc;
  ac->ev.data = pc;
  ac->ev.addRead = ev_add_read;
  ac->ev.delRead = ev_del_read;
  ac->ev.addWrite = ev_add_write;
  ac->ev.delWrite = ev_del_write;
  ac->ev.cleanup = ev_cleanup;
  redisAsyncSetConnectCallback(ac, on_connect);  // also waits for writability

  ngx_add_timer(&pc->timer, g.timeout);
}

void conn_ready(ps_conn *pc) {
  if (pc->timer.timer_set) {
    ngx_del_timer(&pc->timer);
  }
  pc->state = conn_state::ready;
  pc->up_since = ngx_current_msec;
  if (pc->ever_ready) {
    g.stats.reconnects++;
  }
  if (pc->ever_ready || pc->attempts > 0) {
    ngx_uint_t skipped = 0;
    if (pc->up_log.allow(&skipped)) {
      ngx_log_error(NGX_LOG_NOTICE, ps_log(), 0,
                    "portfolio_stream: Redis %s connection to %s %s after %ui failed attempts%s",
                    pc->name, g.where.c_str(), pc->ever_ready ? "re-established" : "is up",
                    pc->attempts, suppressed_note(skipped).buf);
    }
  }
  pc->ever_ready = true;
  pc->attempts = 0;
  pc->fast = false;
  pc->last_progress = ngx_current_msec;

  if (pc->is_cmd) {
    cmd_flush_waiting();
    return;
  }
  // Idle health check, first due connect_timeout from now (on_probe).
  ngx_add_timer(&pc->probe, g.timeout);
  if (!g.notify_ev.posted) {
    ngx_post_event(&g.notify_ev, &ngx_posted_events);
  }
}

void conn_schedule_retry(ps_conn *pc) {
  if (g.exiting) {
    return;
  }
  // Every pub/sub failure passes here; only the first one before the handler
  // heard anything matters (see ps_redis::notified_any; a lost ready
  // connection posts its own state(false) in ev_cleanup).
  if (!pc->is_cmd && !g.notified_any) {
    g.notify_down = true;
    if (!g.notify_ev.posted) {
      ngx_post_event(&g.notify_ev, &ngx_posted_events);
    }
  }
  ngx_msec_t base = pc->backoff;
  if (pc->fast && static_cast<ngx_msec_int_t>(ngx_current_msec - pc->fast_until) >= 0) {
    pc->fast = false;
  }
  if (pc->fast && base > kFastBase) {
    base = kFastBase;  // kFastWindow: pc->backoff still doubles underneath
  }
  // +-50% jitter: workers (and nginx hosts) that lost Redis together do not
  // reconnect in lockstep.
  ngx_msec_t delay = base / 2 + static_cast<ngx_msec_t>(ngx_random()) % (base + 1);
  if (delay > kBackoffMax) {
    delay = kBackoffMax;
  }
  pc->backoff = base * 2 > kBackoffMax ? kBackoffMax : base * 2;
  // Lookups that wait for the connection should see at least one attempt
  // within their connect_timeout.
  if (pc->is_cmd && !ngx_queue_empty(&g.waiting) && delay > g.timeout / 2) {
    delay = g.timeout / 2;
  }
  ngx_log_debug2(NGX_LOG_DEBUG_EVENT, ps_log(), 0, "portfolio_stream: Redis %s: next attempt in %M ms",
                 pc->name, delay);
  ngx_add_timer(&pc->retry, delay ? delay : 1);
}

void on_retry(ngx_event_t *ev) noexcept { conn_start(static_cast<ps_conn *>(ev->data)); }

void on_conn_timer(ngx_event_t *ev) noexcept {
  auto *pc = static_cast<ps_conn *>(ev->data);
  if (pc->ac == nullptr) {
    return;
  }
  if (pc->state != conn_state::ready) {
    // (An error reply to the health SUBSCRIBE, e.g. NOPERM for an ACL user
    // without access to portfolio_stream:health:*, does not wait for this:
    // hiredis 0.14 drops the context at once with Redis' words as the
    // error, which ev_cleanup logs.)
    const char *why = "connect timed out";
    if (pc->state == conn_state::handshake) {
      why = pc->is_cmd ? "no answer to AUTH/SELECT in time"
            : g.password.empty() ? "no answer to SUBSCRIBE in time"
                                 : "no answer to AUTH/SUBSCRIBE in time";
    }
    conn_fail(pc, why);
    return;
  }
  if (pc->outstanding == 0) {
    return;
  }
  ngx_msec_t idle = ngx_current_msec - pc->last_progress;
  if (idle >= g.timeout) {
    conn_fail(pc, "no reply within connect_timeout");
  } else {
    ngx_add_timer(&pc->timer, g.timeout - idle);
  }
}

// The pub/sub connection's idle health check, due connect_timeout after the
// last thing Redis sent. When nothing arrived for connect_timeout and nothing
// is owed, re-send the health SUBSCRIBE and owe its reply: the watchdog
// (on_conn_timer) then drops the connection if Redis stays silent for another
// connect_timeout. A frozen Redis is thus noticed within about
// 2 x connect_timeout of its last reply; ev_cleanup posts state(false) and
// reconnects. While replies are owed the watchdog alone is enough, and a
// connection with traffic never probes: last_progress keeps moving.
void on_probe(ngx_event_t *ev) noexcept {
  auto *pc = static_cast<ps_conn *>(ev->data);
  if (pc->ac == nullptr || pc->state != conn_state::ready || g.exiting) {
    return;  // not re-armed: conn_ready arms it for the next context
  }
  ngx_msec_t next = g.timeout;
  if (pc->outstanding == 0) {
    // last_progress is the last reply here: conn_owe moves it only when
    // replies become owed, and the last of those replies moved it again.
    ngx_msec_t idle = ngx_current_msec - pc->last_progress;
    if (idle < g.timeout) {
      next = g.timeout - idle;
    } else if (sub_send_health(pc)) {
      conn_owe(pc, 1);
    }
    // else: the context is being torn down; ev_cleanup stops this timer.
  }
  if (pc->ac != nullptr) {
    ngx_add_timer(&pc->probe, next ? next : 1);
  }
}

// ---- session lookups on the command connection ----------------------------

bool get_send(ngx_ps_get_t *q) {
  const char *argv[2] = {"GET", q->key};
  std::size_t lens[2] = {3, q->key_len};
  if (redisAsyncCommandArgv(g.cmd.ac, on_get_reply, q, 2, argv, lens) != REDIS_OK) {
    return false;
  }
  q->in_redis = 1;
  conn_owe(&g.cmd, 1);
  return true;
}

void cmd_flush_waiting() {
  while (!ngx_queue_empty(&g.waiting) && g.cmd.state == conn_state::ready) {
    ngx_queue_t *l = ngx_queue_head(&g.waiting);
    auto *q = ngx_queue_data(l, ngx_ps_get_t, qlink);
    if (!get_send(q)) {
      break;  // the context is being torn down; they keep waiting
    }
    ngx_queue_remove(l);
    q->in_waiting = 0;
  }
}

void on_get_reply(redisAsyncContext *ac, void *r, void *privdata) noexcept {
  auto *q = static_cast<ngx_ps_get_t *>(privdata);
  auto *reply = static_cast<redisReply *>(r);
  q->in_redis = 0;
  if (reply != nullptr && ac == g.cmd.ac) {
    if (g.cmd.outstanding > 0) {
      g.cmd.outstanding--;
    }
    conn_progress(&g.cmd);
  }
  if (q->done || g.exiting) {
    q->done = 1;
    get_unlink(q);
    get_maybe_free(q);
    return;
  }

  get_unlink(q);
  q->done = 1;

  if (reply == nullptr) {
    // The connection is being torn down inside hiredis: answer from a posted
    // event, once hiredis and ev_cleanup are done with their state.
    ngx_queue_insert_tail(&g.answers, &q->qlink);
    q->in_answers = 1;
    if (!g.answer_ev.posted) {
      ngx_post_event(&g.answer_ev, &ngx_posted_events);
    }
    return;
  }

  switch (reply->type) {
    case REDIS_REPLY_NIL:
      get_call(q, ngx_ps_get_result::missing, {});
      break;
    case REDIS_REPLY_STRING:
      get_call(q, ngx_ps_get_result::found, std::string_view(reply->str, reply->len));
      break;
    default: {
      ngx_uint_t skipped = 0;
      if (g.error_log.allow(&skipped)) {
        if (reply->type == REDIS_REPLY_ERROR) {
          ngx_log_error(NGX_LOG_ERR, ps_log(), 0,
                        "portfolio_stream: Redis GET failed: \"%*s\"%s",
                        reply->len, reply->str, suppressed_note(skipped).buf);
        } else {
          ngx_log_error(NGX_LOG_ERR, ps_log(), 0,
                        "portfolio_stream: Redis GET returned reply type %d%s",
                        reply->type, suppressed_note(skipped).buf);
        }
      }
      get_call(q, ngx_ps_get_result::unavailable, {});
      break;
    }
  }
  get_maybe_free(q);
}

void on_deadline(ngx_event_t *) noexcept {
  while (!ngx_queue_empty(&g.deadlines)) {
    ngx_queue_t *l = ngx_queue_head(&g.deadlines);
    auto *q = ngx_queue_data(l, ngx_ps_get_t, dlink);
    auto left = static_cast<ngx_msec_int_t>(q->deadline - ngx_current_msec);
    if (left > 0) {
      ngx_add_timer(&g.deadline_ev, static_cast<ngx_msec_t>(left));
      return;
    }
    // Taken out of every list before the handler runs: the handler may start
    // or cancel other lookups. An in-flight one stays owned by hiredis.
    get_unlink(q);
    q->done = 1;
    get_call(q, ngx_ps_get_result::unavailable, {});
    get_maybe_free(q);
  }
}

void on_answers(ngx_event_t *) noexcept {
  while (!ngx_queue_empty(&g.answers)) {
    ngx_queue_t *l = ngx_queue_head(&g.answers);
    auto *q = ngx_queue_data(l, ngx_ps_get_t, qlink);
    ngx_queue_remove(l);
    q->in_answers = 0;
    get_call(q, ngx_ps_get_result::unavailable, {});
    get_maybe_free(q);
  }
}

// ---- pub/sub ---------------------------------------------------------------

std::string_view reply_sv(const redisReply *r) {
  return (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
          r->type == REDIS_REPLY_ERROR)
             ? std::string_view(r->str, r->len)
             : std::string_view();
}

// One callback for every SUBSCRIBE: hiredis 0.14 files it per channel in its
// channel dict and finds it again for each "subscribe", "message" and
// "unsubscribe" reply. With several callbacks, a reply hiredis cannot match
// would reuse whichever callback ran last in the same read pass.
void on_pubsub_reply(redisAsyncContext *ac, void *r, void *) noexcept {
  auto *reply = static_cast<redisReply *>(r);
  if (reply == nullptr || ac != g.sub.ac || g.exiting) {
    return;
  }
  if (g.sub.state != conn_state::ready) {
    // Handshake: the one reply we wait for is the health "subscribe" (AUTH
    // has its own callback). Like AUTH it only counts as progress, not as
    // "answered" (which resets backoff and log limiter): see conn_progress.
    if (g.sub.state == conn_state::handshake && reply->type == REDIS_REPLY_ARRAY &&
        reply->elements >= 3 && reply_sv(reply->element[0]) == "subscribe" &&
        reply_sv(reply->element[1]) == g.health) {
      g.sub.last_progress = ngx_current_msec;
      if (g.sub.handshake > 0 && --g.sub.handshake == 0) {
        conn_ready(&g.sub);
      }
    }
    return;
  }
  conn_progress(&g.sub);
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) {
    ngx_log_error(NGX_LOG_ERR, ps_log(), 0,
                  "portfolio_stream: unexpected Redis pub/sub reply (type %d)", reply->type);
    return;
  }
  std::string_view kind = reply_sv(reply->element[0]);
  std::string_view channel = reply_sv(reply->element[1]);
  const ngx_ps_pubsub_handler_t &h = g.handler;
  // Our own channel (ps_redis::health): a probe's answer, or a message some
  // client PUBLISHed to it. Nothing for the hub.
  bool ours = channel == g.health;
  try {
    if (kind == "message") {
      if (h.message != nullptr && !ours) {
        h.message(channel, reply_sv(reply->element[2]));
      }
    } else if (kind == "subscribe" || kind == "unsubscribe") {
      if (g.sub.outstanding > 0) {
        g.sub.outstanding--;
      }
      // Redis counts the health channel (subscribed first, never dropped):
      // the stat is the hub's channels only.
      if (reply->element[2]->type == REDIS_REPLY_INTEGER && reply->element[2]->integer > 0) {
        g.stats.subscriptions = static_cast<ngx_uint_t>(reply->element[2]->integer - 1);
      }
      if (ours) {
        // a probe's (or the handshake's) answer: nothing for the hub
      } else if (kind[0] == 's') {
        if (h.subscribed != nullptr) {
          h.subscribed(channel);
        }
      } else if (h.unsubscribed != nullptr) {
        h.unsubscribed(channel);
      }
    }
  } catch (...) {
    ngx_log_error(NGX_LOG_ALERT, ps_log(), 0, "portfolio_stream: pub/sub handler threw");
  }
}

void on_notify(ngx_event_t *) noexcept {
  try {
    if (g.notify_down) {
      g.notify_down = false;
      if (g.notified_up || !g.notified_any) {
        g.notified_up = false;
        g.notified_any = true;
        if (g.handler.state != nullptr) {
          g.handler.state(false);
        }
      }
    }
    if (g.running && g.sub.state == conn_state::ready && !g.notified_up) {
      g.notified_up = true;
      g.notified_any = true;
      if (g.handler.state != nullptr) {
        g.handler.state(true);
      }
    }
  } catch (...) {
    ngx_log_error(NGX_LOG_ALERT, ps_log(), 0, "portfolio_stream: pub/sub state handler threw");
  }
}

bool sub_send_health(ps_conn *pc) {
  const char *argv[2] = {"SUBSCRIBE", g.health.data()};
  std::size_t lens[2] = {9, g.health.size()};
  // The same callback as every other SUBSCRIBE (see on_pubsub_reply).
  return redisAsyncCommandArgv(pc->ac, on_pubsub_reply, nullptr, 2, argv, lens) == REDIS_OK;
}

void pubsub_command(const char *verb, std::size_t verb_len, const std::string_view *channels,
                    std::size_t n, bool subscribe) {
  if (!g.running || g.sub.state != conn_state::ready || n == 0 || g.channels == nullptr) {
    return;
  }
  try {
    std::vector<std::string> removed;  // UNSUBSCRIBE: names taken out of the set
    std::vector<const char *> argv;
    std::vector<std::size_t> lens;
    argv.reserve(n + 1);
    lens.reserve(n + 1);
    argv.push_back(verb);
    lens.push_back(verb_len);
    // The health channel is never passed on (only a user id crafted to make
    // prefix + id equal it could ask): an UNSUBSCRIBE of it could let the
    // count reach 0 and hiredis leave subscribed mode, and the hub never
    // hears about that channel anyway.
    if (subscribe) {
      for (std::size_t i = 0; i < n; i++) {
        if (channels[i] == g.health) {
          continue;
        }
        argv.push_back(channels[i].data());
        lens.push_back(channels[i].size());
      }
    } else {
      // Only channels in the set, each once (see ps_redis::channels): a second
      // "unsubscribe" reply for one channel can hit hiredis' assert.
      removed.reserve(n);
      for (std::size_t i = 0; i < n; i++) {
        auto it = g.channels->find(std::string(channels[i]));
        if (it != g.channels->end() && *it != g.health) {
          removed.push_back(std::move(g.channels->extract(it).value()));
        }
      }
      for (const std::string &name : removed) {
        argv.push_back(name.data());
        lens.push_back(name.size());
      }
    }
    std::size_t count = argv.size() - 1;
    if (count == 0) {
      return;
    }
    if (redisAsyncCommandArgv(g.sub.ac, on_pubsub_reply, nullptr, static_cast<int>(argv.size()),
                              argv.data(), lens.data()) != REDIS_OK) {
      // The context is being torn down, which empties the set anyway.
      return;
    }
    if (subscribe) {
      for (std::size_t i = 0; i < n; i++) {
        if (channels[i] != g.health) {
          g.channels->emplace(channels[i]);
        }
      }
    }
    conn_owe(&g.sub, count);
  } catch (...) {
    // bad_alloc. Worst case the set misses a subscribed channel, so a later
    // UNSUBSCRIBE of it is skipped; it never holds one hiredis does not know.
    ngx_log_error(NGX_LOG_ALERT, ps_log(), 0, "portfolio_stream: %s failed: out of memory", verb);
  }
}

void conn_init(ps_conn *pc, const char *name, bool is_cmd, ngx_log_t *log) {
  *pc = ps_conn();
  pc->name = name;
  pc->is_cmd = is_cmd;
  pc->state = conn_state::down;
  pc->backoff = kBackoffMin;
  pc->timer.handler = on_conn_timer;
  pc->timer.data = pc;
  pc->timer.log = log;
  pc->timer.cancelable = 1;
  pc->retry.handler = on_retry;
  pc->retry.data = pc;
  pc->retry.log = log;
  pc->retry.cancelable = 1;
  pc->probe.handler = on_probe;
  pc->probe.data = pc;
  pc->probe.log = log;
  pc->probe.cancelable = 1;
}

void event_init(ngx_event_t *ev, ngx_event_handler_pt handler, ngx_log_t *log) {
  ngx_memzero(ev, sizeof(ngx_event_t));
  ev->handler = handler;
  ev->data = &g;
  ev->log = log;
  ev->cancelable = 1;
}

void event_stop(ngx_event_t *ev) {
  if (ev->timer_set) {
    ngx_del_timer(ev);
  }
  if (ev->posted) {
    ngx_delete_posted_event(ev);
  }
}

ngx_str_t pool_copy(ngx_pool_t *pool, const u_char *p, std::size_t n) {
  ngx_str_t s{0, nullptr};
  auto *d = static_cast<u_char *>(ngx_pnalloc(pool, n + 1));
  if (d != nullptr) {
    ngx_memcpy(d, p, n);
    d[n] = '\0';
    s.len = n;
    s.data = d;
  }
  return s;
}

bool has_prefix(const ngx_str_t &s, std::string_view prefix, ngx_str_t *rest) {
  if (s.len < prefix.size() || ngx_strncmp(s.data, prefix.data(), prefix.size()) != 0) {
    return false;
  }
  rest->data = s.data + prefix.size();
  rest->len = s.len - prefix.size();
  return true;
}

}  // namespace

// ---- public interface ------------------------------------------------------

const char *ngx_ps_redis_parse_addr(ngx_conf_t *cf, ngx_str_t *args, ngx_uint_t nargs,
                                    ngx_ps_redis_addr_t *addr) {
  if (nargs == 0 || args[0].len == 0) {
    return "needs an address (host:port or unix:/path)";
  }
  ngx_memzero(addr, sizeof(ngx_ps_redis_addr_t));
  addr->connect_timeout = 2000;

  ngx_url_t u;
  ngx_memzero(&u, sizeof(ngx_url_t));
  u.url = args[0];
  u.default_port = 6379;
  // Resolved here, once, like nginx resolves upstream servers: at run time a
  // blocking getaddrinfo inside hiredis would stall the worker on every retry.
  if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
    if (u.err != nullptr && ngx_strcmp(u.err, "host not found") == 0) {
      return "cannot resolve the Redis host name";
    }
    if (u.err != nullptr && ngx_strcmp(u.err, "invalid port") == 0) {
      return "has an invalid port (expected host:port with port 1..65535)";
    }
    return "has an invalid address (expected host:port, [ipv6]:port or unix:/path)";
  }

  if (u.family == AF_UNIX) {
    addr->unix_path = pool_copy(cf->pool, u.host.data, u.host.len);
    if (addr->unix_path.data == nullptr) {
      return "failed: out of memory";
    }
  } else {
    if (u.naddrs == 0 || u.addrs == nullptr) {
      return "cannot resolve the Redis host name";
    }
    // Redis usually listens on 127.0.0.1 only, while "localhost" may resolve
    // to ::1 first.
    ngx_addr_t *a = &u.addrs[0];
    for (ngx_uint_t i = 0; i < u.naddrs; i++) {
      if (u.addrs[i].sockaddr->sa_family == AF_INET) {
        a = &u.addrs[i];
        break;
      }
    }
    u_char text[NGX_SOCKADDR_STRLEN];
    std::size_t n = ngx_sock_ntop(a->sockaddr, a->socklen, text, NGX_SOCKADDR_STRLEN, 0);
    addr->host = pool_copy(cf->pool, text, n);
    if (addr->host.data == nullptr) {
      return "failed: out of memory";
    }
    addr->port = ngx_inet_get_port(a->sockaddr);
  }

  bool seen_db = false, seen_timeout = false;
  for (ngx_uint_t i = 1; i < nargs; i++) {
    ngx_str_t v;
    if (has_prefix(args[i], "db=", &v)) {
      ngx_int_t db = ngx_atoi(v.data, v.len);
      if (seen_db) {
        return "has db= twice";
      }
      if (db == NGX_ERROR || db > 0x7fffffff) {
        return "has an invalid db= (expected a number 0..2147483647)";
      }
      addr->db = db;
      seen_db = true;
    } else if (has_prefix(args[i], "password=", &v)) {
      if (addr->password.data != nullptr) {
        return "has password= twice";
      }
      if (v.len == 0) {
        return "has an empty password=";
      }
      addr->password = pool_copy(cf->pool, v.data, v.len);
      if (addr->password.data == nullptr) {
        return "failed: out of memory";
      }
    } else if (has_prefix(args[i], "username=", &v)) {
      if (addr->username.data != nullptr) {
        return "has username= twice";
      }
      if (v.len == 0) {
        return "has an empty username=";
      }
      addr->username = pool_copy(cf->pool, v.data, v.len);
      if (addr->username.data == nullptr) {
        return "failed: out of memory";
      }
    } else if (has_prefix(args[i], "connect_timeout=", &v)) {
      if (seen_timeout) {
        return "has connect_timeout= twice";
      }
      ngx_int_t t = ngx_parse_time(&v, 0);
      if (t == NGX_ERROR || t <= 0) {
        return "has an invalid connect_timeout= (expected a time > 0 such as 2s or 500ms)";
      }
      addr->connect_timeout = static_cast<ngx_msec_t>(t);
      seen_timeout = true;
    } else {
      return "has an unknown parameter (expected db=, password=, username= or connect_timeout=)";
    }
  }
  if (addr->username.len != 0 && addr->password.len == 0) {
    return "has username= without password=";
  }
  return nullptr;
}

ngx_ps_get_t *ngx_ps_redis_get(std::string_view key, ngx_ps_get_handler_pt handler, void *data) {
  if (!g.running || handler == nullptr) {
    return nullptr;
  }
  if (g.live >= kMaxLookups) {
    ngx_uint_t skipped = 0;
    if (g.cap_log.allow(&skipped)) {
      ngx_log_error(NGX_LOG_WARN, ps_log(), 0,
                    "portfolio_stream: %ui Redis lookups pending, refusing more%s",
                    g.live, suppressed_note(skipped).buf);
    }
    return nullptr;
  }
  auto *q = static_cast<ngx_ps_get_t *>(
      ngx_alloc(offsetof(ngx_ps_get_t, key) + key.size() + 1, ps_log()));
  if (q == nullptr) {
    return nullptr;
  }
  ngx_memzero(q, offsetof(ngx_ps_get_t, key));
  ngx_memcpy(q->key, key.data(), key.size());
  q->key[key.size()] = '\0';
  q->key_len = key.size();
  q->handler = handler;
  q->data = data;
  q->deadline = ngx_current_msec + g.timeout;
  g.live++;

  ngx_queue_insert_tail(&g.deadlines, &q->dlink);
  q->in_deadlines = 1;
  if (!g.deadline_ev.timer_set) {
    ngx_add_timer(&g.deadline_ev, g.timeout);
  }

  if (g.cmd.state == conn_state::ready && ngx_queue_empty(&g.waiting) && get_send(q)) {
    return q;
  }
  ngx_queue_insert_tail(&g.waiting, &q->qlink);
  q->in_waiting = 1;
  // Sleeping through a long backoff would let this lookup expire without a
  // single attempt: pull the next attempt in (conn_schedule_retry's rule).
  if (g.cmd.state == conn_state::down && g.cmd.retry.timer_set) {
    auto left = static_cast<ngx_msec_int_t>(g.cmd.retry.timer.key - ngx_current_msec);
    ngx_msec_t soon = g.timeout / 2 ? g.timeout / 2 : 1;
    if (left > static_cast<ngx_msec_int_t>(soon)) {
      ngx_add_timer(&g.cmd.retry, soon);
    }
  }
  return q;
}

void ngx_ps_redis_cancel(ngx_ps_get_t *q) {
  if (q == nullptr) {
    return;
  }
  get_unlink(q);
  q->done = 1;
  get_maybe_free(q);  // stays while hiredis holds it: freed by its reply
}

void ngx_ps_redis_subscribe(const std::string_view *channels, std::size_t n) {
  pubsub_command("SUBSCRIBE", 9, channels, n, true);
}

void ngx_ps_redis_unsubscribe(const std::string_view *channels, std::size_t n) {
  pubsub_command("UNSUBSCRIBE", 11, channels, n, false);
}

bool ngx_ps_redis_pubsub_up() { return g.running && g.sub.state == conn_state::ready; }

bool ngx_ps_redis_commands_up() { return g.running && g.cmd.state == conn_state::ready; }

ngx_int_t ngx_ps_redis_init_process(ngx_cycle_t *cycle, const ngx_ps_redis_addr_t *addr,
                                    const ngx_ps_pubsub_handler_t *handler) {
  // Cache manager/loader processes run init_process too; they serve nothing.
  if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) {
    return NGX_OK;
  }
  if (g.running) {
    ngx_ps_redis_exit_process();
  }
  try {
    g.host.assign(reinterpret_cast<const char *>(addr->host.data), addr->host.len);
    g.unix_path.assign(reinterpret_cast<const char *>(addr->unix_path.data),
                       addr->unix_path.len);
    g.username.assign(reinterpret_cast<const char *>(addr->username.data), addr->username.len);
    g.password.assign(reinterpret_cast<const char *>(addr->password.data), addr->password.len);
    if (!g.unix_path.empty()) {
      g.where = "unix:" + g.unix_path;
    } else if (g.host.find(':') != std::string::npos) {
      g.where = "[" + g.host + "]:" + std::to_string(addr->port);
    } else {
      g.where = g.host + ":" + std::to_string(addr->port);
    }
    if (g.unix_path.empty() && g.host.empty()) {
      g.host = "127.0.0.1";
      g.where = "127.0.0.1:6379";
    }
    // One per worker (pid): PUBSUB CHANNELS portfolio_stream:health:* lists
    // the workers holding a pub/sub connection, and NUMSUB > 1 for one of
    // them would show a leaked connection.
    g.health = "portfolio_stream:health:" + std::to_string(static_cast<long long>(ngx_pid));
    if (g.channels == nullptr) {
      g.channels = new std::unordered_set<std::string>();
    }
    g.channels->clear();
  } catch (...) {
    ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "portfolio_stream: out of memory");
    return NGX_ERROR;
  }
  g.port = addr->port ? addr->port : 6379;
  g.db = addr->db;
  g.timeout = addr->connect_timeout ? addr->connect_timeout : 2000;
  g.handler = handler ? *handler : ngx_ps_pubsub_handler_t{};

  conn_init(&g.cmd, "command", true, cycle->log);
  conn_init(&g.sub, "pub/sub", false, cycle->log);
  ngx_queue_init(&g.deadlines);
  ngx_queue_init(&g.waiting);
  ngx_queue_init(&g.answers);
  g.live = 0;
  event_init(&g.deadline_ev, on_deadline, cycle->log);
  // Not cancelable, unlike every other timer here: a pending lookup belongs
  // to a client request in progress, and graceful shutdown lets requests
  // finish (at most connect_timeout) instead of dropping their connections
  // ("open socket left" alerts). It is only set while lookups are pending.
  g.deadline_ev.cancelable = 0;
  event_init(&g.answer_ev, on_answers, cycle->log);
  event_init(&g.notify_ev, on_notify, cycle->log);
  g.notify_down = false;
  g.notified_up = false;
  g.notified_any = false;
  g.error_log.reset();
  g.cap_log.reset();
  g.stats = ngx_ps_redis_stats_t{};

  g.exiting = false;
  g.running = true;
  conn_start(&g.cmd);
  conn_start(&g.sub);
  return NGX_OK;
}

void ngx_ps_redis_exit_process() {
  if (!g.running) {
    return;
  }
  g.running = false;
  g.exiting = true;

  event_stop(&g.deadline_ev);
  event_stop(&g.answer_ev);
  event_stop(&g.notify_ev);
  for (ps_conn *pc : {&g.cmd, &g.sub}) {
    event_stop(&pc->timer);
    event_stop(&pc->retry);
    event_stop(&pc->probe);
  }

  // Handlers are not called any more: drop every lookup; those hiredis still
  // holds are freed by their NULL replies while the context is freed below.
  for (ngx_queue_t *list : {&g.answers, &g.waiting}) {
    while (!ngx_queue_empty(list)) {
      auto *q = ngx_queue_data(ngx_queue_head(list), ngx_ps_get_t, qlink);
      get_unlink(q);
      q->done = 1;
      get_maybe_free(q);
    }
  }
  while (!ngx_queue_empty(&g.deadlines)) {
    auto *q = ngx_queue_data(ngx_queue_head(&g.deadlines), ngx_ps_get_t, dlink);
    get_unlink(q);
    q->done = 1;
    get_maybe_free(q);
  }

  // Deferred by hiredis when we are inside one of its callbacks; ev_cleanup
  // then releases the nginx connection on the way out.
  for (ps_conn *pc : {&g.cmd, &g.sub}) {
    if (pc->ac != nullptr) {
      redisAsyncFree(pc->ac);
    }
  }
  if (g.channels != nullptr) {
    g.channels->clear();
  }
  g.stats.subscriptions = 0;
}

const ngx_ps_redis_stats_t *ngx_ps_redis_stats() { return &g.stats; }
