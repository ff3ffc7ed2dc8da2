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

ps_node* node_add(const std::string& host, int port, const std::string& unix_path, bool seed) {
  auto n = std::make_unique<ps_node>();
  n->host = host;
  n->port = port;
  n->unix_path = unix_path;
  if (!unix_path.empty()) {
    n->where = "unix:" + unix_path;
  } else {
    n->where = ps::format_host_port(host, static_cast<std::uint16_t>(port));
  }
  n->seed = seed;
  ps_node* raw = n.get();
  worker.nodes.push_back(std::move(n));
  conn_init(&raw->cmd, raw, "command", true, ngx_cycle->log);
  conn_init(&raw->sub, raw, worker.cluster ? "shard pub/sub" : "pub/sub", false, ngx_cycle->log);
  raw->sub.shard = worker.cluster;
  return raw;
}

void stats_recount() {
  ngx_uint_t total = 0;
  for (const auto& n : worker.nodes) {
    total += n->subscriptions;
  }
  worker.stats.subscriptions = total;
}

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
  worker.cluster = addr->nseeds > 0;
  try {
    worker.nodes.clear();
    worker.seeds.clear();
    worker.map.reset();
    worker.refresh.reset();
    worker.username.assign(reinterpret_cast<const char*>(addr->username.data), addr->username.len);
    worker.password.assign(reinterpret_cast<const char*>(addr->password.data), addr->password.len);
    // One per worker (pid): PUBSUB CHANNELS portfolio_stream:health:* lists
    // the workers holding a pub/sub connection, and NUMSUB > 1 for one of
    // them would show a leaked connection.
    worker.health = "portfolio_stream:health:" + std::to_string(static_cast<long long>(ngx_pid));
    if (worker.cluster) {
      for (ngx_uint_t i = 0; i < addr->nseeds; i++) {
        worker.seeds.emplace_back(
            std::string(reinterpret_cast<const char*>(addr->seeds[i].host.data), addr->seeds[i].host.len),
            addr->seeds[i].port);
      }
      worker.map = std::make_unique<ps::ClusterMap>();
      worker.refresh = std::make_unique<ps::SlotMapRefresh>();
    } else {
      std::string host(reinterpret_cast<const char*>(addr->host.data), addr->host.len);
      std::string unix_path(reinterpret_cast<const char*>(addr->unix_path.data), addr->unix_path.len);
      if (unix_path.empty() && host.empty()) {
        host = "127.0.0.1";
      }
      node_add(host, addr->port ? addr->port : 6379, unix_path, false);
    }
  } catch (...) {
    ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "portfolio_stream: out of memory");
    return NGX_ERROR;
  }
  worker.db = addr->db;
  worker.timeout = addr->connect_timeout ? addr->connect_timeout : 2000;
  worker.handler = handler ? *handler : ngx_ps_pubsub_handler_t{};

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
  event_init(&worker.refresh_ev, on_refresh, cycle->log);
  event_init(&worker.gc_ev, on_gc, cycle->log);
  event_init(&worker.retry_ev, on_lookup_retry, cycle->log);
  worker.notify_down = false;
  worker.notified_up = false;
  worker.notified_any = false;
  worker.error_log.reset();
  worker.cap_log.reset();
  worker.map_log.reset();
  worker.history = history;
  worker.fleet = fleet;
  worker.functions_log.reset();
  worker.stats = ngx_ps_redis_stats_t{};

  worker.exiting = false;
  worker.running = true;
  if (worker.cluster) {
    cluster_start();
  } else {
    ps_node* n = single_node();
    conn_start(&n->cmd);
    conn_start(&n->sub);
  }
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
  event_stop(&worker.refresh_ev);
  event_stop(&worker.gc_ev);
  event_stop(&worker.retry_ev);
  for (const auto& n : worker.nodes) {
    conn_stop_timers(&n->cmd);
    conn_stop_timers(&n->sub);
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

  for (const auto& n : worker.nodes) {
    // Commands still queued on a ready command connection (fleet releases
    // and drops at exit) get one non-blocking chance to reach Redis.
    if (n->cmd.ac != nullptr && n->cmd.state == conn_state::ready) {
      int done = 0;
      for (int i = 0; i < 8 && !done; i++) {
        if (redisBufferWrite(&n->cmd.ac->c, &done) != REDIS_OK) {
          break;
        }
      }
    }
    // Deferred by hiredis when we are inside one of its callbacks; ev_cleanup
    // then releases the nginx connection on the way out.
    for (ps_conn* pc : {&n->cmd, &n->sub}) {
      if (pc->ac != nullptr) {
        redisAsyncFree(pc->ac);
      }
    }
    n->channels.clear();
    n->subscriptions = 0;
  }
  // The nodes stay allocated: a context freed from inside one of its
  // callbacks still reaches ev_cleanup through them. The next
  // init_process (or the process's exit) frees them.
  worker.stats.subscriptions = 0;
}

const ngx_ps_redis_stats_t* ngx_ps_redis_stats() { return &worker.stats; }
