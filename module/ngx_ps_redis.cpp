// hiredis 0.14 on nginx's event loop: per-worker start and stop of the
// Redis adapter, and its stats. See ngx_ps_redis.h for the contract and
// ngx_ps_redis_internal.h for the shared state, ownership and lifetimes.

#include "ngx_ps_redis_internal.h"

namespace ngx_ps_redis_internal {

ps_redis g;

namespace {

void event_init(ngx_event_t* ev, ngx_event_handler_pt handler, ngx_log_t* log) {
  ngx_memzero(ev, sizeof(ngx_event_t));
  ev->handler = handler;
  ev->data = &g;
  ev->log = log;
  ev->cancelable = 1;
}

void event_stop(ngx_event_t* ev) {
  if (ev->timer_set) {
    ngx_del_timer(ev);
  }
  if (ev->posted) {
    ngx_delete_posted_event(ev);
  }
}

}  // namespace

}  // namespace ngx_ps_redis_internal

// ---- public interface ------------------------------------------------------

using namespace ngx_ps_redis_internal;

ngx_int_t ngx_ps_redis_init_process(ngx_cycle_t* cycle, const ngx_ps_redis_addr_t* addr,
                                    const ngx_ps_pubsub_handler_t* handler) {
  // Cache manager/loader processes run init_process too; they serve nothing.
  if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) {
    return NGX_OK;
  }
  if (g.running) {
    ngx_ps_redis_exit_process();
  }
  try {
    g.host.assign(reinterpret_cast<const char*>(addr->host.data), addr->host.len);
    g.unix_path.assign(reinterpret_cast<const char*>(addr->unix_path.data), addr->unix_path.len);
    g.username.assign(reinterpret_cast<const char*>(addr->username.data), addr->username.len);
    g.password.assign(reinterpret_cast<const char*>(addr->password.data), addr->password.len);
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
  for (ps_conn* pc : {&g.cmd, &g.sub}) {
    event_stop(&pc->timer);
    event_stop(&pc->retry);
    event_stop(&pc->probe);
  }

  // Handlers are not called any more: drop every lookup; those hiredis still
  // holds are freed by their NULL replies while the context is freed below.
  for (ngx_queue_t* list : {&g.answers, &g.waiting}) {
    while (!ngx_queue_empty(list)) {
      auto* q = ngx_queue_data(ngx_queue_head(list), ngx_ps_get_t, qlink);
      get_unlink(q);
      q->done = 1;
      get_maybe_free(q);
    }
  }
  while (!ngx_queue_empty(&g.deadlines)) {
    auto* q = ngx_queue_data(ngx_queue_head(&g.deadlines), ngx_ps_get_t, dlink);
    get_unlink(q);
    q->done = 1;
    get_maybe_free(q);
  }

  // Deferred by hiredis when we are inside one of its callbacks; ev_cleanup
  // then releases the nginx connection on the way out.
  for (ps_conn* pc : {&g.cmd, &g.sub}) {
    if (pc->ac != nullptr) {
      redisAsyncFree(pc->ac);
    }
  }
  if (g.channels != nullptr) {
    g.channels->clear();
  }
  g.stats.subscriptions = 0;
}

const ngx_ps_redis_stats_t* ngx_ps_redis_stats() { return &g.stats; }
