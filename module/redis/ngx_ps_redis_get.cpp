// Lookups on the command connection (session GETs, history reads): the
// waiting queue, the deadlines, the replies, cancellation. See ngx_ps_redis_internal.h for who
// owns a lookup (ngx_ps_get_t) and when it is freed.

#include <new>
#include <vector>

#include "ngx_ps_redis_internal.h"

namespace ngx_ps_redis_internal {

void get_maybe_free(ngx_ps_get_t* q) {
  if (q->done && !q->in_redis && !q->in_deadlines && !q->in_waiting && !q->in_answers && !q->held) {
    ngx_free(q);
    worker.live--;
  }
}

void get_unlink(ngx_ps_get_t* q) {
  if (q->in_deadlines) {
    ngx_queue_remove(&q->dlink);
    q->in_deadlines = 0;
    // The deadline timer is the one timer that holds a shutting-down worker
    // (see ngx_ps_redis_init_process): it must not outlive the last lookup.
    if (ngx_queue_empty(&worker.deadlines) && worker.deadline_ev.timer_set) {
      ngx_del_timer(&worker.deadline_ev);
    }
  }
  if (q->in_waiting || q->in_answers) {
    ngx_queue_remove(&q->qlink);
    q->in_waiting = 0;
    q->in_answers = 0;
  }
}

namespace {

void get_call(ngx_ps_get_t* q, ngx_ps_get_result rc, std::string_view value) {
  q->held = 1;
  try {
    q->handler(q->data, rc, value);
  } catch (...) {
    ngx_log_error(NGX_LOG_ALERT, ps_log(), 0, "portfolio_stream: lookup handler threw");
  }
  q->held = 0;
}

void read_call(ngx_ps_get_t* q, bool ok, const std::string_view* items, std::size_t n) {
  q->held = 1;
  try {
    q->read_handler(q->data, ok, items, n);
  } catch (...) {
    ngx_log_error(NGX_LOG_ALERT, ps_log(), 0, "portfolio_stream: history read handler threw");
  }
  q->held = 0;
}

void fcall_call(ngx_ps_get_t* q, bool ok, long long value) {
  if (q->fcall_handler == nullptr) {
    return;  // nobody waits (a release)
  }
  q->held = 1;
  try {
    q->fcall_handler(q->data, ok, value);
  } catch (...) {
    ngx_log_error(NGX_LOG_ALERT, ps_log(), 0, "portfolio_stream: fleet call handler threw");
  }
  q->held = 0;
}

// The lookup failed (deadline, lost connection, no library): its handler.
void fail_call(ngx_ps_get_t* q) {
  if (q->is_fcall) {
    fcall_call(q, false, 0);
  } else if (q->is_read) {
    read_call(q, false, nullptr, 0);
  } else {
    get_call(q, ngx_ps_get_result::unavailable, {});
  }
}

// Answered from answer_ev, never from inside the caller's own call.
void answer_later(ngx_ps_get_t* q) {
  ngx_queue_insert_tail(&worker.answers, &q->qlink);
  q->in_answers = 1;
  if (!worker.answer_ev.posted) {
    ngx_post_event(&worker.answer_ev, &ngx_posted_events);
  }
}

void on_get_reply(redisAsyncContext* ac, void* r, void* privdata) noexcept;

enum class send_rc { sent, later, failed };

// The key a cluster routes the lookup by: the session key, the history's
// channel, a fleet call's first key (its keys share one slot).
std::string_view route_key(const ngx_ps_get_t* q) {
  if (q->is_read) {
    return std::string_view(q->key, q->arg_lens[0]);
  }
  if (q->is_fcall) {
    const auto* arg_len = reinterpret_cast<const std::uint32_t*>(q->key + q->key_len + 1);
    const char* p = q->key;
    std::uint32_t len[3] = {0, 0, 0};
    for (std::uint32_t i = 0; i < q->argc && i < 3; i++) {
      ngx_memcpy(&len[i], arg_len + i, sizeof(len[i]));
    }
    if (q->argc < 3) {
      return std::string_view(p, len[0]);
    }
    return std::string_view(p + len[0] + len[1], len[2]);
  }
  return std::string_view(q->key, q->key_len);
}

// Where the lookup goes: the one node, or in a cluster the node a redirect
// named, else its key's slot owner (nullptr: the map does not know yet).
ps_node* route(ngx_ps_get_t* q) {
  if (!worker.cluster) {
    return single_node();
  }
  if (q->target != nullptr && !q->target->retired) {
    return q->target;
  }
  q->target = nullptr;
  q->asking = 0;
  return cluster_route(route_key(q));
}

send_rc get_send(ngx_ps_get_t* q, ps_node* node) {
  int rc;
  redisAsyncContext* ac = node->cmd.ac;
  if (q->asking) {
    // An ASK redirect: this once, on the node importing the slot.
    q->asking = 0;
    if (redisAsyncCommand(ac, nullptr, nullptr, "ASKING") != REDIS_OK) {
      return send_rc::later;
    }
  }
  if (q->is_fcall) {
    if (node->fleet_functions != functions_state::ok) {
      return send_rc::failed;  // logged where the library check failed
    }
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    try {
      argv.resize(q->argc + 1);
      lens.resize(q->argc + 1);
    } catch (...) {
      return send_rc::failed;
    }
    argv[0] = "FCALL";
    lens[0] = 5;
    const char* p = q->key;
    const auto* arg_len = reinterpret_cast<const std::uint32_t*>(q->key + q->key_len + 1);
    for (std::uint32_t i = 0; i < q->argc; i++) {
      std::uint32_t len;
      ngx_memcpy(&len, arg_len + i, sizeof(len));
      argv[1 + i] = p;
      lens[1 + i] = len;
      p += len;
    }
    rc = redisAsyncCommandArgv(ac, on_get_reply, q, int(argv.size()), argv.data(), lens.data());
  } else if (q->is_read) {
    if (node->functions != functions_state::ok) {
      return send_rc::failed;  // logged where the library check failed
    }
    const char* argv[7] = {"FCALL", "portfolio_stream_read", "1", nullptr, nullptr, nullptr, nullptr};
    std::size_t lens[7] = {5, 21, 1, 0, 0, 0, 0};
    const char* p = q->key;
    for (int i = 0; i < 4; i++) {
      argv[3 + i] = p;
      lens[3 + i] = q->arg_lens[i];
      p += q->arg_lens[i];
    }
    rc = redisAsyncCommandArgv(ac, on_get_reply, q, 7, argv, lens);
  } else {
    const char* argv[2] = {"GET", q->key};
    std::size_t lens[2] = {3, q->key_len};
    rc = redisAsyncCommandArgv(ac, on_get_reply, q, 2, argv, lens);
  }
  if (rc != REDIS_OK) {
    return send_rc::later;
  }
  q->in_redis = 1;
  conn_owe(&node->cmd, 1);
  return send_rc::sent;
}

void wait_for_node(ngx_ps_get_t* q, ps_node* node) {
  ngx_queue_insert_tail(&worker.waiting, &q->qlink);
  q->in_waiting = 1;
  if (node == nullptr) {
    cluster_request_refresh();  // no owner known for its slot
    return;
  }
  // Sleeping through a long backoff would let this lookup expire without a
  // single attempt: pull the next attempt in (conn_schedule_retry's rule).
  if (node->cmd.state == conn_state::down && node->cmd.retry.timer_set) {
    auto left = static_cast<ngx_msec_int_t>(node->cmd.retry.timer.key - ngx_current_msec);
    ngx_msec_t soon = worker.timeout / 2 ? worker.timeout / 2 : 1;
    if (left > static_cast<ngx_msec_int_t>(soon)) {
      ngx_add_timer(&node->cmd.retry, soon);
    }
  }
}

// Sends it now, or queues it until the command connection is ready. One
// Redis: in order behind the waiting ones; a cluster has no order to keep
// across nodes.
void get_start(ngx_ps_get_t* q) {
  ps_node* node = route(q);
  if (node != nullptr && node->cmd.state == conn_state::ready &&
      (worker.cluster || ngx_queue_empty(&worker.waiting))) {
    switch (get_send(q, node)) {
      case send_rc::sent:
        return;
      case send_rc::failed:
        get_unlink(q);
        q->done = 1;
        answer_later(q);
        return;
      case send_rc::later:
        break;
    }
  }
  wait_for_node(q, node);
}

// A new lookup with a deadline; nullptr when it cannot even start. `extra`:
// bytes reserved after key[] (the argument lengths of a fleet call).
ngx_ps_get_t* get_new(std::size_t key_len, std::size_t extra = 0) {
  if (!worker.running) {
    return nullptr;
  }
  if (worker.live >= kMaxLookups) {
    ngx_uint_t skipped = 0;
    if (worker.cap_log.allow(&skipped)) {
      ngx_log_error(NGX_LOG_WARN, ps_log(), 0, "portfolio_stream: %ui Redis lookups pending, refusing more%s",
                    worker.live, suppressed_note(skipped).buf);
    }
    return nullptr;
  }
  auto* q =
      static_cast<ngx_ps_get_t*>(ngx_alloc(offsetof(ngx_ps_get_t, key) + key_len + 1 + extra, ps_log()));
  if (q == nullptr) {
    return nullptr;
  }
  ngx_memzero(static_cast<void*>(q), offsetof(ngx_ps_get_t, key));
  new (&q->budget) ps::RedirectBudget();
  q->key_len = key_len;
  q->key[key_len] = '\0';
  q->deadline = ngx_current_msec + worker.timeout;
  worker.live++;
  ngx_queue_insert_tail(&worker.deadlines, &q->dlink);
  q->in_deadlines = 1;
  if (!worker.deadline_ev.timer_set) {
    ngx_add_timer(&worker.deadline_ev, worker.timeout);
  }
  return q;
}

}  // namespace

namespace {

// Sends one waiting lookup to node; false when the context is being torn
// down (it keeps waiting).
bool flush_one(ngx_ps_get_t* q, ps_node* node) {
  send_rc rc = get_send(q, node);
  if (rc == send_rc::later) {
    return false;
  }
  ngx_queue_remove(&q->qlink);
  q->in_waiting = 0;
  if (rc == send_rc::failed) {
    get_unlink(q);
    q->done = 1;
    answer_later(q);
  }
  return true;
}

}  // namespace

void cmd_flush_waiting() {
  if (!worker.cluster) {
    ps_node* node = single_node();
    while (node != nullptr && !ngx_queue_empty(&worker.waiting) && node->cmd.state == conn_state::ready) {
      if (!flush_one(ngx_queue_data(ngx_queue_head(&worker.waiting), ngx_ps_get_t, qlink), node)) {
        break;
      }
    }
    return;
  }
  // A cluster: every waiting lookup whose node is ready goes; the others
  // keep waiting (in order) for theirs.
  ngx_queue_t* l = ngx_queue_head(&worker.waiting);
  while (l != ngx_queue_sentinel(&worker.waiting)) {
    ngx_queue_t* next = ngx_queue_next(l);
    auto* q = ngx_queue_data(l, ngx_ps_get_t, qlink);
    ps_node* node = route(q);
    if (node != nullptr && node->cmd.state == conn_state::ready) {
      (void)flush_one(q, node);
    } else if (node == nullptr) {
      cluster_request_refresh();
    }
    l = next;
  }
}

void on_lookup_retry(ngx_event_t*) noexcept { cmd_flush_waiting(); }

namespace {

bool function_missing(const redisReply* reply) {
  static constexpr std::string_view kNotFound = "ERR Function not found";
  return std::string_view(reply->str, reply->len).substr(0, kNotFound.size()) == kNotFound;
}

// portfolio_stream_read answers an array of bulk strings (SPEC section 8).
void on_read_reply(ngx_ps_get_t* q, ps_node* node, const redisReply* reply) {
  if (reply->type == REDIS_REPLY_ARRAY) {
    constexpr std::size_t kInline = 64;
    std::string_view inline_items[kInline];
    std::vector<std::string_view> heap_items;
    std::string_view* items = inline_items;
    bool ok = true;
    if (reply->elements > kInline) {
      try {
        heap_items.resize(reply->elements);
      } catch (...) {
        ok = false;
      }
      items = heap_items.data();
    }
    for (std::size_t i = 0; ok && i < reply->elements; i++) {
      const redisReply* e = reply->element[i];
      if (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS) {
        ok = false;
        break;
      }
      items[i] = std::string_view(e->str, e->len);
    }
    if (ok) {
      read_call(q, true, items, reply->elements);
      return;
    }
  }
  if (reply->type == REDIS_REPLY_ERROR && function_missing(reply) && node != nullptr) {
    functions_lost(node, false);
  }
  ngx_uint_t skipped = 0;
  if (worker.error_log.allow(&skipped)) {
    if (reply->type == REDIS_REPLY_ERROR) {
      ngx_log_error(NGX_LOG_ERR, ps_log(), 0, "portfolio_stream: history read failed: \"%*s\"%s", reply->len,
                    reply->str, suppressed_note(skipped).buf);
    } else {
      ngx_log_error(NGX_LOG_ERR, ps_log(), 0, "portfolio_stream: history read returned an unexpected reply%s",
                    suppressed_note(skipped).buf);
    }
  }
  read_call(q, false, nullptr, 0);
}

// A cluster's MOVED/ASK/TRYAGAIN/CLUSTERDOWN: true when the lookup was
// sent again (or queued to be), false when its caller gets the reply.
bool cluster_redirect(ngx_ps_get_t* q, ps_conn* from, const redisReply* reply) {
  std::string_view text(reply->str, reply->len);
  if (ps::classify_cluster_error(text) == ps::ClusterError::other) {
    return false;
  }
  ps::RedirectStep step;
  try {
    step = q->budget.on_error(text, cluster_index_of(from->node), *worker.map);
  } catch (...) {
    return false;
  }
  if (step.refresh_map) {
    cluster_request_refresh();
  }
  if (step.action == ps::RedirectStep::Action::deliver) {
    ngx_uint_t skipped = 0;
    if (worker.map_log.allow(&skipped)) {
      ngx_log_error(
          NGX_LOG_WARN, ps_log(), 0, "portfolio_stream: Redis Cluster: %s to a lookup on %s: \"%*s\" (%s)%s",
          q->is_read ? "history read" : (q->is_fcall ? "fleet call" : "GET"), from->node->where.c_str(),
          int(reply->len), reply->str, step.reason, suppressed_note(skipped).buf);
    }
    return false;
  }
  q->target = cluster_node_of_index(step.node);
  q->asking = step.asking ? 1 : 0;
  if (step.action == ps::RedirectStep::Action::retry_later) {
    ngx_queue_insert_tail(&worker.waiting, &q->qlink);
    q->in_waiting = 1;
    if (!worker.retry_ev.timer_set) {
      ngx_add_timer(&worker.retry_ev, 50);
    }
    return true;
  }
  ps_node* node = route(q);
  if (node != nullptr && node->cmd.state == conn_state::ready && get_send(q, node) == send_rc::sent) {
    return true;
  }
  wait_for_node(q, node);
  return true;
}

void on_get_reply(redisAsyncContext* ac, void* r, void* privdata) noexcept {
  auto* q = static_cast<ngx_ps_get_t*>(privdata);
  auto* reply = static_cast<redisReply*>(r);
  auto* pc = static_cast<ps_conn*>(ac->data);
  q->in_redis = 0;
  if (reply != nullptr && pc != nullptr && ac == pc->ac) {
    if (pc->outstanding > 0) {
      pc->outstanding--;
    }
    conn_progress(pc);
  }
  if (q->done || worker.exiting) {
    q->done = 1;
    get_unlink(q);
    get_maybe_free(q);
    return;
  }

  if (worker.cluster && pc != nullptr) {
    if (reply == nullptr) {
      // Its node went away (failover, a retired node): it waits for the
      // slot's next owner, within its deadline.
      q->target = nullptr;
      q->asking = 0;
      ngx_queue_insert_tail(&worker.waiting, &q->qlink);
      q->in_waiting = 1;
      cluster_request_refresh();
      return;
    }
    if (reply->type == REDIS_REPLY_ERROR && cluster_redirect(q, pc, reply)) {
      return;
    }
  }

  get_unlink(q);
  q->done = 1;

  if (reply == nullptr) {
    // The connection is being torn down inside hiredis: answer from a posted
    // event, once hiredis and ev_cleanup are done with their state.
    answer_later(q);
    return;
  }

  if (q->is_read) {
    on_read_reply(q, pc != nullptr ? pc->node : nullptr, reply);
    get_maybe_free(q);
    return;
  }
  if (q->is_fcall) {
    if (reply->type == REDIS_REPLY_INTEGER) {
      fcall_call(q, true, reply->integer);
    } else {
      if (reply->type == REDIS_REPLY_ERROR && function_missing(reply) && pc != nullptr) {
        functions_lost(pc->node, true);
      }
      ngx_uint_t skipped = 0;
      if (worker.error_log.allow(&skipped)) {
        ngx_log_error(NGX_LOG_ERR, ps_log(), 0, "portfolio_stream: fleet limit call failed: \"%*s\"%s",
                      reply->type == REDIS_REPLY_ERROR ? int(reply->len) : 0,
                      reply->type == REDIS_REPLY_ERROR ? reply->str : "", suppressed_note(skipped).buf);
      }
      fcall_call(q, false, 0);
    }
    get_maybe_free(q);
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
      if (worker.error_log.allow(&skipped)) {
        if (reply->type == REDIS_REPLY_ERROR) {
          ngx_log_error(NGX_LOG_ERR, ps_log(), 0, "portfolio_stream: Redis GET failed: \"%*s\"%s", reply->len,
                        reply->str, suppressed_note(skipped).buf);
        } else {
          ngx_log_error(NGX_LOG_ERR, ps_log(), 0, "portfolio_stream: Redis GET returned reply type %d%s",
                        reply->type, suppressed_note(skipped).buf);
        }
      }
      get_call(q, ngx_ps_get_result::unavailable, {});
      break;
    }
  }
  get_maybe_free(q);
}

}  // namespace

void on_deadline(ngx_event_t*) noexcept {
  while (!ngx_queue_empty(&worker.deadlines)) {
    ngx_queue_t* l = ngx_queue_head(&worker.deadlines);
    auto* q = ngx_queue_data(l, ngx_ps_get_t, dlink);
    auto left = static_cast<ngx_msec_int_t>(q->deadline - ngx_current_msec);
    if (left > 0) {
      ngx_add_timer(&worker.deadline_ev, static_cast<ngx_msec_t>(left));
      return;
    }
    // Taken out of every list before the handler runs: the handler may start
    // or cancel other lookups. An in-flight one stays owned by hiredis.
    get_unlink(q);
    q->done = 1;
    fail_call(q);
    get_maybe_free(q);
  }
}

void on_answers(ngx_event_t*) noexcept {
  while (!ngx_queue_empty(&worker.answers)) {
    ngx_queue_t* l = ngx_queue_head(&worker.answers);
    auto* q = ngx_queue_data(l, ngx_ps_get_t, qlink);
    ngx_queue_remove(l);
    q->in_answers = 0;
    fail_call(q);
    get_maybe_free(q);
  }
}

}  // namespace ngx_ps_redis_internal

// ---- public interface ------------------------------------------------------

using namespace ngx_ps_redis_internal;

ngx_ps_get_t* ngx_ps_redis_get(std::string_view key, ngx_ps_get_handler_pt handler, void* data) {
  if (handler == nullptr) {
    return nullptr;
  }
  ngx_ps_get_t* q = get_new(key.size());
  if (q == nullptr) {
    return nullptr;
  }
  ngx_memcpy(q->key, key.data(), key.size());
  q->handler = handler;
  q->data = data;
  get_start(q);
  return q;
}

ngx_ps_get_t* ngx_ps_redis_history_read(std::string_view channel, std::string_view since, std::size_t count,
                                        ngx_ps_read_handler_pt handler, void* data) {
  if (handler == nullptr) {
    return nullptr;
  }
  char count_buf[NGX_INT64_LEN];
  std::size_t count_len = std::size_t(ngx_sprintf((u_char*)count_buf, "%uz", count) - (u_char*)count_buf);
  // The TTL an epoch made by a read gets; a publish sets its own on both keys.
  static constexpr std::string_view kEpochTtl = "3600";
  std::string_view args[4] = {channel, since, std::string_view(count_buf, count_len), kEpochTtl};
  std::size_t total = 0;
  for (auto a : args) {
    total += a.size();
  }
  ngx_ps_get_t* q = get_new(total);
  if (q == nullptr) {
    return nullptr;
  }
  char* p = q->key;
  for (int i = 0; i < 4; i++) {
    ngx_memcpy(p, args[i].data(), args[i].size());
    p += args[i].size();
    q->arg_lens[i] = std::uint32_t(args[i].size());
  }
  q->is_read = 1;
  q->read_handler = handler;
  q->data = data;
  get_start(q);
  return q;
}

ngx_ps_get_t* ngx_ps_redis_fleet_call(const std::string_view* args, std::size_t n,
                                      ngx_ps_fcall_handler_pt handler, void* data) {
  std::size_t total = 0;
  for (std::size_t i = 0; i < n; i++) {
    total += args[i].size();
  }
  ngx_ps_get_t* q = get_new(total, n * sizeof(std::uint32_t));
  if (q == nullptr) {
    return nullptr;
  }
  char* p = q->key;
  auto* arg_len = reinterpret_cast<std::uint32_t*>(q->key + total + 1);
  for (std::size_t i = 0; i < n; i++) {
    ngx_memcpy(p, args[i].data(), args[i].size());
    p += args[i].size();
    auto len = std::uint32_t(args[i].size());
    ngx_memcpy(arg_len + i, &len, sizeof(len));
  }
  q->argc = std::uint32_t(n);
  q->is_fcall = 1;
  q->fcall_handler = handler;
  q->data = data;
  get_start(q);
  return q;
}

void ngx_ps_redis_cancel(ngx_ps_get_t* q) {
  if (q == nullptr) {
    return;
  }
  get_unlink(q);
  q->done = 1;
  get_maybe_free(q);  // stays while hiredis holds it: freed by its reply
}
