// Session lookups (GET) on the command connection: the waiting queue, the
// deadlines, the replies, cancellation. See ngx_ps_redis_internal.h for who
// owns a lookup (ngx_ps_get_t) and when it is freed.

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

void on_get_reply(redisAsyncContext* ac, void* r, void* privdata) noexcept;

bool get_send(ngx_ps_get_t* q) {
  const char* argv[2] = {"GET", q->key};
  std::size_t lens[2] = {3, q->key_len};
  if (redisAsyncCommandArgv(worker.cmd.ac, on_get_reply, q, 2, argv, lens) != REDIS_OK) {
    return false;
  }
  q->in_redis = 1;
  conn_owe(&worker.cmd, 1);
  return true;
}

}  // namespace

void cmd_flush_waiting() {
  while (!ngx_queue_empty(&worker.waiting) && worker.cmd.state == conn_state::ready) {
    ngx_queue_t* l = ngx_queue_head(&worker.waiting);
    auto* q = ngx_queue_data(l, ngx_ps_get_t, qlink);
    if (!get_send(q)) {
      break;  // the context is being torn down; they keep waiting
    }
    ngx_queue_remove(l);
    q->in_waiting = 0;
  }
}

namespace {

void on_get_reply(redisAsyncContext* ac, void* r, void* privdata) noexcept {
  auto* q = static_cast<ngx_ps_get_t*>(privdata);
  auto* reply = static_cast<redisReply*>(r);
  q->in_redis = 0;
  if (reply != nullptr && ac == worker.cmd.ac) {
    if (worker.cmd.outstanding > 0) {
      worker.cmd.outstanding--;
    }
    conn_progress(&worker.cmd);
  }
  if (q->done || worker.exiting) {
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
    ngx_queue_insert_tail(&worker.answers, &q->qlink);
    q->in_answers = 1;
    if (!worker.answer_ev.posted) {
      ngx_post_event(&worker.answer_ev, &ngx_posted_events);
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
    get_call(q, ngx_ps_get_result::unavailable, {});
    get_maybe_free(q);
  }
}

void on_answers(ngx_event_t*) noexcept {
  while (!ngx_queue_empty(&worker.answers)) {
    ngx_queue_t* l = ngx_queue_head(&worker.answers);
    auto* q = ngx_queue_data(l, ngx_ps_get_t, qlink);
    ngx_queue_remove(l);
    q->in_answers = 0;
    get_call(q, ngx_ps_get_result::unavailable, {});
    get_maybe_free(q);
  }
}

}  // namespace ngx_ps_redis_internal

// ---- public interface ------------------------------------------------------

using namespace ngx_ps_redis_internal;

ngx_ps_get_t* ngx_ps_redis_get(std::string_view key, ngx_ps_get_handler_pt handler, void* data) {
  if (!worker.running || handler == nullptr) {
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
  auto* q = static_cast<ngx_ps_get_t*>(ngx_alloc(offsetof(ngx_ps_get_t, key) + key.size() + 1, ps_log()));
  if (q == nullptr) {
    return nullptr;
  }
  ngx_memzero(q, offsetof(ngx_ps_get_t, key));
  ngx_memcpy(q->key, key.data(), key.size());
  q->key[key.size()] = '\0';
  q->key_len = key.size();
  q->handler = handler;
  q->data = data;
  q->deadline = ngx_current_msec + worker.timeout;
  worker.live++;

  ngx_queue_insert_tail(&worker.deadlines, &q->dlink);
  q->in_deadlines = 1;
  if (!worker.deadline_ev.timer_set) {
    ngx_add_timer(&worker.deadline_ev, worker.timeout);
  }

  if (worker.cmd.state == conn_state::ready && ngx_queue_empty(&worker.waiting) && get_send(q)) {
    return q;
  }
  ngx_queue_insert_tail(&worker.waiting, &q->qlink);
  q->in_waiting = 1;
  // Sleeping through a long backoff would let this lookup expire without a
  // single attempt: pull the next attempt in (conn_schedule_retry's rule).
  if (worker.cmd.state == conn_state::down && worker.cmd.retry.timer_set) {
    auto left = static_cast<ngx_msec_int_t>(worker.cmd.retry.timer.key - ngx_current_msec);
    ngx_msec_t soon = worker.timeout / 2 ? worker.timeout / 2 : 1;
    if (left > static_cast<ngx_msec_int_t>(soon)) {
      ngx_add_timer(&worker.cmd.retry, soon);
    }
  }
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
