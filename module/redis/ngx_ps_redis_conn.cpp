// hiredis on nginx's event loop: the connection plumbing of both Redis
// connections (events, connect and handshake, timers, backoff, teardown).
// See ngx_ps_redis_internal.h for ownership and lifetimes.

#include "ngx_ps_redis_internal.h"
#include "ngx_ps_redis_read.h"

namespace ngx_ps_redis_internal {

namespace {

void conn_schedule_retry(ps_conn* pc);

void conn_release_nginx(ps_conn* pc) {
  ngx_connection_t* c = pc->c;
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
void ev_add_read(void* p) noexcept {
  auto* pc = static_cast<ps_conn*>(p);
  if (pc->c != nullptr && !pc->c->read->active &&
      ngx_add_event(pc->c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
    ngx_log_error(NGX_LOG_ALERT, ps_log(), 0, "portfolio_stream: Redis %s: adding read event failed",
                  pc->name);
  }
}

void ev_del_read(void* p) noexcept {
  auto* pc = static_cast<ps_conn*>(p);
  if (pc->c != nullptr && pc->c->read->active) {
    ngx_del_event(pc->c->read, NGX_READ_EVENT, 0);
  }
}

void ev_add_write(void* p) noexcept {
  auto* pc = static_cast<ps_conn*>(p);
  if (pc->c != nullptr && !pc->c->write->active &&
      ngx_add_event(pc->c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
    ngx_log_error(NGX_LOG_ALERT, ps_log(), 0, "portfolio_stream: Redis %s: adding write event failed",
                  pc->name);
  }
}

void ev_del_write(void* p) noexcept {
  auto* pc = static_cast<ps_conn*>(p);
  if (pc->c != nullptr && pc->c->write->active) {
    ngx_del_event(pc->c->write, NGX_WRITE_EVENT, 0);
  }
}

// The single place where a context's end is handled, whatever ended it: a
// read/write error, EOF, a failed connect, our own redisAsyncFree. hiredis
// has already run every pending reply callback with NULL.
void ev_cleanup(void* p) noexcept {
  auto* pc = static_cast<ps_conn*>(p);
  redisAsyncContext* ac = pc->ac;
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
    pc->node->channels.clear();  // a shard's (see ps_node::channels)
    pc->node->subscriptions = 0;
    stats_recount();
  }

  if (worker.exiting) {
    return;
  }
  if (pc->node->retired) {
    gc_post();  // left the slot map: no reconnect
    return;
  }

  const char* why = pc->fail;
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
    if (!pc->is_cmd && !worker.cluster) {
      worker.notify_down = true;
      if (!worker.notify_ev.posted) {
        ngx_post_event(&worker.notify_ev, &ngx_posted_events);
      }
    }
    // A connection that did work is worth a line every time it is lost; one
    // that never answered (a hung Redis) goes through the limiter.
    if (!quiet && pc->fail_log.allow(&skipped)) {
      ngx_log_error(NGX_LOG_WARN, ps_log(), 0,
                    "portfolio_stream: Redis %s connection to %s lost: %s; reconnecting", pc->name,
                    pc->node->where.c_str(), why);
    }
  } else {
    pc->attempts++;
    if (!quiet && pc->fail_log.allow(&skipped)) {
      ngx_log_error(NGX_LOG_WARN, ps_log(), 0,
                    "portfolio_stream: Redis %s connection to %s failed: %s "
                    "(attempt %ui%s); retrying with backoff",
                    pc->name, pc->node->where.c_str(), why, pc->attempts, suppressed_note(skipped).buf);
    }
  }
  if (worker.cluster) {
    cluster_conn_lost(pc, was == conn_state::ready);
  }
  conn_schedule_retry(pc);
}

}  // namespace

void conn_fail(ps_conn* pc, const char* why) {
  if (pc->ac == nullptr) {
    return;
  }
  pc->fail = why;
  // From inside a hiredis callback this only marks the context; hiredis frees
  // it when the callback returns. Either way ev_cleanup does the rest.
  redisAsyncFree(pc->ac);
}

void conn_want_write(ps_conn* pc) { ev_add_write(pc); }

void conn_stop_timers(ps_conn* pc) {
  for (ngx_event_t* ev : {&pc->timer, &pc->retry, &pc->probe}) {
    if (ev->timer_set) {
      ngx_del_timer(ev);
    }
    if (ev->posted) {
      ngx_delete_posted_event(ev);
    }
  }
}

void conn_owe(ps_conn* pc, ngx_uint_t n) {
  if (pc->outstanding == 0) {
    pc->last_progress = ngx_current_msec;
  }
  pc->outstanding += n;
  if (!pc->timer.timer_set) {
    ngx_add_timer(&pc->timer, worker.timeout);
  }
}

void conn_progress(ps_conn* pc) {
  pc->last_progress = ngx_current_msec;
  if (!pc->answered) {
    // Only a Redis that answers has recovered: until then (e.g. one that
    // accepts and hangs) repeated losses stay rate-limited.
    pc->answered = true;
    pc->fail_log.reset();
  }
}

std::size_t auth_argv(const char* argv[3], std::size_t lens[3]) {
  std::size_t argc = 0;
  argv[argc] = "AUTH";
  lens[argc++] = 4;
  if (!worker.username.empty()) {
    argv[argc] = worker.username.data();
    lens[argc++] = worker.username.size();
  }
  argv[argc] = worker.password.data();
  lens[argc++] = worker.password.size();
  return argc;
}

void conn_log_refusal(ps_conn* pc, const char* what, const redisReply* reply) {
  ngx_uint_t skipped = 0;
  // Misconfiguration, not a network blip: NGX_LOG_ERR with Redis' words.
  if (pc->fail_log.allow(&skipped)) {
    ngx_log_error(NGX_LOG_ERR, ps_log(), 0,
                  "portfolio_stream: Redis %s on the %s connection to %s failed: \"%*s\" "
                  "(retrying with backoff%s)",
                  what, pc->name, pc->node->where.c_str(), reply->len, reply->str,
                  suppressed_note(skipped).buf);
  }
  pc->fail_logged = true;  // the teardown line would only repeat this one
}

namespace {

// Not redisAsyncHandleRead: the socket is read here, through the reply guard
// (ngx_ps_redis_read.h), so that no reply over the connection's limit is ever
// buffered. Up to 16 reads of 16 KiB (what hiredis reads per call) per event,
// so a pub/sub burst is not read one slice per event loop iteration; level-
// triggered, the rest comes with the next iteration. pc outlives its context;
// ev_cleanup nulls pc->ac.
void on_read(ngx_event_t* ev) noexcept {
  auto* c = static_cast<ngx_connection_t*>(ev->data);
  auto* pc = static_cast<ps_conn*>(c->data);
  std::uint64_t (*work)() = pc->is_cmd ? nullptr : worker.handler.work;
  const std::uint64_t start = work != nullptr ? work() : 0;
  for (int i = 0; i < 16 && pc->ac != nullptr; i++) {
    // Reads stay 16 KiB: smaller ones would write fewer events per writev
    // (measured: half the broadcast throughput at 1 KiB).
    if (i > 0 && work != nullptr && work() - start >= kTurnWork) {
      return;  // the turn's share: the rest next turn (level-triggered)
    }
    redisAsyncContext* ac = pc->ac;
    if (!(ac->c.flags & REDIS_CONNECTED)) {
      // Readable before the first write event (e.g. a refused connect):
      // hiredis' write path finishes or fails the connect and reads nothing.
      redisAsyncHandleWrite(ac);  // may free the context and c
      if (pc->ac != ac || !(ac->c.flags & REDIS_CONNECTED)) {
        return;
      }
    }
    const char* why = nullptr;
    switch (read_once(pc, &why)) {  // may free the context and c
      case read_rc::more:
        break;
      case read_rc::drained:
        return;
      case read_rc::failed:
        conn_fail(pc, why);
        return;
    }
  }
}

void on_write(ngx_event_t* ev) noexcept {
  auto* c = static_cast<ngx_connection_t*>(ev->data);
  auto* pc = static_cast<ps_conn*>(c->data);
  if (pc->ac != nullptr) {
    redisAsyncHandleWrite(pc->ac);
  }
}

void on_handshake_reply(redisAsyncContext* ac, void* r, void* privdata, const char* what) {
  auto* pc = static_cast<ps_conn*>(privdata);
  auto* reply = static_cast<redisReply*>(r);
  if (reply == nullptr || ac != pc->ac) {
    return;  // the context is going away; ev_cleanup reports why
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    conn_log_refusal(pc, what, reply);
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

void on_auth_reply(redisAsyncContext* ac, void* r, void* privdata) noexcept {
  on_handshake_reply(ac, r, privdata, "AUTH");
}

void on_select_reply(redisAsyncContext* ac, void* r, void* privdata) noexcept {
  on_handshake_reply(ac, r, privdata, "SELECT");
}

// Runs from __redisAsyncHandleConnect, which does not mark itself as a
// callback: freeing the context here would be a use after free in hiredis, so
// failures are left to ev_cleanup (status != OK) or to the connect timer.
void on_connect(const redisAsyncContext* cac, int status) noexcept {
  auto* pc = static_cast<ps_conn*>(cac->data);
  if (status != REDIS_OK || pc == nullptr || cac != pc->ac) {
    return;
  }
  redisAsyncContext* ac = pc->ac;
  if (pc->node->unix_path.empty()) {
    (void)redisEnableKeepAlive(&ac->c);  // notices a vanished peer while idle
  }

  pc->state = conn_state::handshake;
  if (!pc->is_cmd) {
    // Pub/sub: AUTH and the health SUBSCRIBE (a shard's: PING), written raw
    // and read by pubsub_dispatch; ready at the last answer. A TCP connect
    // alone proves nothing (a hung or frozen Redis still completes it).
    (void)pubsub_send_handshake(pc);  // on failure the connect timer ends it
    return;
  }
  if (!worker.password.empty()) {
    const char* argv[3];
    std::size_t lens[3];
    const int argc = static_cast<int>(auth_argv(argv, lens));
    if (redisAsyncCommandArgv(ac, on_auth_reply, pc, argc, argv, lens) != REDIS_OK) {
      return;  // never ready unauthenticated: the connect timer ends it
    }
    pc->handshake++;
  }
  // Pub/sub channels are not per database: SELECT only here, for session GETs.
  if (worker.db != 0 && !worker.cluster) {
    char buf[NGX_INT_T_LEN];
    u_char* end = ngx_sprintf(reinterpret_cast<u_char*>(buf), "%i", worker.db);
    const char* argv[2] = {"SELECT", buf};
    std::size_t lens[2] = {6, static_cast<std::size_t>(end - reinterpret_cast<u_char*>(buf))};
    if (redisAsyncCommandArgv(ac, on_select_reply, pc, 2, argv, lens) != REDIS_OK) {
      return;
    }
    pc->handshake++;
  }
  // History on: the Functions library is checked (and loaded) before the
  // command connection serves anything, so no read races its loading.
  // Not on a seed: it may be a replica, and only reads the slot map.
  if (!pc->node->seed && (worker.history || worker.fleet)) {
    if (!functions_send_check(pc)) {
      return;
    }
  }
  if (pc->handshake == 0) {
    conn_ready(pc);
  }
}

}  // namespace

void conn_start(ps_conn* pc) {
  if (worker.exiting || pc->ac != nullptr || pc->node->retired) {
    return;
  }
  const char* why = nullptr;
  const ps_node* n = pc->node;
  redisAsyncContext* ac = n->unix_path.empty() ? redisAsyncConnect(n->host.c_str(), n->port)
                                               : redisAsyncConnectUnix(n->unix_path.c_str());
  if (ac == nullptr) {
    why = "out of memory";
  } else if (ac->err != 0) {
    why = ac->errstr;  // an immediate failure (unix socket missing, EMFILE...)
  }

  ngx_connection_t* c = nullptr;
  if (why == nullptr) {
    c = ngx_get_connection(ac->c.fd, ps_log());
    if (c == nullptr) {
      why = "no free nginx connection";
    } else if (!read_start(pc)) {
      ngx_free_connection(c);
      c->fd = (ngx_socket_t)-1;
      c = nullptr;
      why = "out of memory";
    }
  }

  if (why != nullptr) {
    pc->attempts++;
    ngx_uint_t skipped = 0;
    if (pc->fail_log.allow(&skipped)) {
      ngx_log_error(NGX_LOG_WARN, ps_log(), 0,
                    "portfolio_stream: Redis %s connection to %s failed: %s "
                    "(attempt %ui%s); retrying with backoff",
                    pc->name, pc->node->where.c_str(), why, pc->attempts, suppressed_note(skipped).buf);
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

  ngx_add_timer(&pc->timer, worker.timeout);
}

void conn_ready(ps_conn* pc) {
  if (pc->timer.timer_set) {
    ngx_del_timer(&pc->timer);
  }
  pc->state = conn_state::ready;
  pc->up_since = ngx_current_msec;
  if (pc->ever_ready) {
    worker.stats.reconnects++;
  }
  if (pc->ever_ready || pc->attempts > 0) {
    ngx_uint_t skipped = 0;
    if (pc->up_log.allow(&skipped)) {
      ngx_log_error(NGX_LOG_NOTICE, ps_log(), 0,
                    "portfolio_stream: Redis %s connection to %s %s after %ui failed attempts%s", pc->name,
                    pc->node->where.c_str(), pc->ever_ready ? "re-established" : "is up", pc->attempts,
                    suppressed_note(skipped).buf);
    }
  }
  pc->ever_ready = true;
  pc->attempts = 0;
  pc->fast = false;
  pc->last_progress = ngx_current_msec;

  if (pc->is_cmd) {
    if (worker.cluster) {
      cluster_conn_up(pc);
    }
    cmd_flush_waiting();
    return;
  }
  // Idle health check, first due connect_timeout from now (on_probe).
  ngx_add_timer(&pc->probe, worker.timeout);
  if (worker.cluster) {
    cluster_conn_up(pc);
  }
  if (!worker.notify_ev.posted) {
    ngx_post_event(&worker.notify_ev, &ngx_posted_events);
  }
}

namespace {

void conn_schedule_retry(ps_conn* pc) {
  if (worker.exiting || pc->node->retired) {
    return;
  }
  // Every pub/sub failure passes here; only the first one before the handler
  // heard anything matters (see ps_redis::notified_any; a lost ready
  // connection posts its own state(false) in ev_cleanup).
  if (!pc->is_cmd && !worker.notified_any) {
    worker.notify_down = true;
    if (!worker.notify_ev.posted) {
      ngx_post_event(&worker.notify_ev, &ngx_posted_events);
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
  if (pc->is_cmd && !ngx_queue_empty(&worker.waiting) && delay > worker.timeout / 2) {
    delay = worker.timeout / 2;
  }
  ngx_log_debug2(NGX_LOG_DEBUG_EVENT, ps_log(), 0, "portfolio_stream: Redis %s: next attempt in %M ms",
                 pc->name, delay);
  ngx_add_timer(&pc->retry, delay ? delay : 1);
}

void on_retry(ngx_event_t* ev) noexcept { conn_start(static_cast<ps_conn*>(ev->data)); }

void on_conn_timer(ngx_event_t* ev) noexcept {
  auto* pc = static_cast<ps_conn*>(ev->data);
  if (pc->ac == nullptr) {
    return;
  }
  if (pc->state != conn_state::ready) {
    // (An error reply to AUTH or the health SUBSCRIBE, e.g. NOPERM for an
    // ACL user without access to portfolio_stream:health:*, does not wait
    // for this: the connection is dropped at once with Redis' words logged.)
    const char* why = "connect timed out";
    if (pc->state == conn_state::handshake) {
      why = pc->is_cmd                ? "no answer to AUTH/SELECT in time"
            : pc->shard               ? "no answer to AUTH/PING in time"
            : worker.password.empty() ? "no answer to SUBSCRIBE in time"
                                      : "no answer to AUTH/SUBSCRIBE in time";
    }
    conn_fail(pc, why);
    return;
  }
  if (pc->outstanding == 0) {
    return;
  }
  ngx_msec_t idle = ngx_current_msec - pc->last_progress;
  if (idle >= worker.timeout) {
    conn_fail(pc, "no reply within connect_timeout");
  } else {
    ngx_add_timer(&pc->timer, worker.timeout - idle);
  }
}

}  // namespace

void conn_init(ps_conn* pc, ps_node* node, const char* name, bool is_cmd, ngx_log_t* log) {
  *pc = ps_conn();
  pc->node = node;
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

}  // namespace ngx_ps_redis_internal
