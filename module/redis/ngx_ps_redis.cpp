// hiredis 0.14 on nginx's event loop: per-worker start and stop of the
// Redis adapter, and its stats. See ngx_ps_redis.h for the contract and
// ngx_ps_redis_internal.h for the shared state, ownership and lifetimes.

#include "ngx_ps_redis_internal.h"

namespace ngx_ps_redis_internal {

ps_redis worker;  // this worker's Redis connections, lookups and subscriptions

namespace {

void event_init(ngx_event_t* ev, ngx_event_handler_pt handler, ngx_log_t* log) {
  ngx_memzero(ev, sizeof(ngx_event_t));
  ev->handler = handler;
  ev->data = &worker;
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
                                    const ngx_ps_pubsub_handler_t* handler, bool history, bool fleet) {
  // Cache manager/loader processes run init_process too; they serve nothing.
  if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) {
    return NGX_OK;
  }
  if (worker.running) {
    ngx_ps_redis_exit_process();
  }
  try {
    worker.host.assign(reinterpret_cast<const char*>(addr->host.data), addr->host.len);
    worker.unix_path.assign(reinterpret_cast<const char*>(addr->unix_path.data), addr->unix_path.len);
    worker.username.assign(reinterpret_cast<const char*>(addr->username.data), addr->username.len);
    worker.password.assign(reinterpret_cast<const char*>(addr->password.data), addr->password.len);
    if (!worker.unix_path.empty()) {
      worker.where = "unix:" + worker.unix_path;
    } else if (worker.host.find(':') != std::string::npos) {
      worker.where = "[" + worker.host + "]:" + std::to_string(addr->port);
    } else {
      worker.where = worker.host + ":" + std::to_string(addr->port);
    }
    if (worker.unix_path.empty() && worker.host.empty()) {
      worker.host = "127.0.0.1";
      worker.where = "127.0.0.1:6379";
    }
    // One per worker (pid): PUBSUB CHANNELS portfolio_stream:health:* lists
    // the workers holding a pub/sub connection, and NUMSUB > 1 for one of
    // them would show a leaked connection.
    worker.health = "portfolio_stream:health:" + std::to_string(static_cast<long long>(ngx_pid));
    if (worker.channels == nullptr) {
      worker.channels = std::make_unique<std::unordered_set<std::string>>();
    }
    worker.channels->clear();
  } catch (...) {
    ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "portfolio_stream: out of memory");
    return NGX_ERROR;
  }
  worker.port = addr->port ? addr->port : 6379;
  worker.db = addr->db;
  worker.timeout = addr->connect_timeout ? addr->connect_timeout : 2000;
  worker.handler = handler ? *handler : ngx_ps_pubsub_handler_t{};

  conn_init(&worker.cmd, "command", true, cycle->log);
  conn_init(&worker.sub, "pub/sub", false, cycle->log);
  ngx_queue_init(&worker.deadlines);
  ngx_queue_init(&worker.waiting);
  ngx_queue_init(&worker.answers);
  worker.live = 0;
  event_init(&worker.deadline_ev, on_deadline, cycle->log);
  // Not cancelable, unlike every other timer here: a pending lookup belongs
  // to a client request in progress, and graceful shutdown lets requests
  // finish (at most connect_timeout) instead of dropping their connections
  // ("open socket left" alerts). It is only set while lookups are pending.
  worker.deadline_ev.cancelable = 0;
  event_init(&worker.answer_ev, on_answers, cycle->log);
  event_init(&worker.notify_ev, on_notify, cycle->log);
  worker.notify_down = false;
  worker.notified_up = false;
  worker.notified_any = false;
  worker.error_log.reset();
  worker.cap_log.reset();
  worker.history = history;
  worker.functions = ps_redis::functions_state::unknown;
  worker.fleet = fleet;
  worker.fleet_functions = ps_redis::functions_state::unknown;
  worker.functions_log.reset();
  worker.stats = ngx_ps_redis_stats_t{};

  worker.exiting = false;
  worker.running = true;
  conn_start(&worker.cmd);
  conn_start(&worker.sub);
  return NGX_OK;
}

void ngx_ps_redis_exit_process() {
  if (!worker.running) {
    return;
  }
  worker.running = false;
  worker.exiting = true;

  event_stop(&worker.deadline_ev);
  event_stop(&worker.answer_ev);
  event_stop(&worker.notify_ev);
  for (ps_conn* pc : {&worker.cmd, &worker.sub}) {
    event_stop(&pc->timer);
    event_stop(&pc->retry);
    event_stop(&pc->probe);
  }

  // Handlers are not called any more: drop every lookup; those hiredis still
  // holds are freed by their NULL replies while the context is freed below.
  for (ngx_queue_t* list : {&worker.answers, &worker.waiting}) {
    while (!ngx_queue_empty(list)) {
      auto* q = ngx_queue_data(ngx_queue_head(list), ngx_ps_get_t, qlink);
      get_unlink(q);
      q->done = 1;
      get_maybe_free(q);
    }
  }
  while (!ngx_queue_empty(&worker.deadlines)) {
    auto* q = ngx_queue_data(ngx_queue_head(&worker.deadlines), ngx_ps_get_t, dlink);
    get_unlink(q);
    q->done = 1;
    get_maybe_free(q);
  }

  // Commands still queued on a ready command connection (fleet releases
  // and drops at exit) get one non-blocking chance to reach Redis.
  if (worker.cmd.ac != nullptr && worker.cmd.state == conn_state::ready) {
    int done = 0;
    for (int i = 0; i < 8 && !done; i++) {
      if (redisBufferWrite(&worker.cmd.ac->c, &done) != REDIS_OK) {
        break;
      }
    }
  }
  // Deferred by hiredis when we are inside one of its callbacks; ev_cleanup
  // then releases the nginx connection on the way out.
  for (ps_conn* pc : {&worker.cmd, &worker.sub}) {
    if (pc->ac != nullptr) {
      redisAsyncFree(pc->ac);
    }
  }
  if (worker.channels != nullptr) {
    worker.channels->clear();
  }
  worker.stats.subscriptions = 0;
}

const ngx_ps_redis_stats_t* ngx_ps_redis_stats() { return &worker.stats; }
