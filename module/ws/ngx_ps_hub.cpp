// The per-worker hub: which users have connections here, the Redis channels
// subscribed for them on the worker's one pub/sub connection, and the
// dispatch of published events. An event is parsed once; its frame (or the
// batch frame carrying it) is built once per group of connections that get
// identical frames, and queued by reference on each of them.

#include <memory>
#include <new>
#include <vector>

#include "batcher.h"
#include "control_message.h"
#include "envelope.h"
#include "frame_writer.h"
#include "server_messages.h"
#include "subscription_table.h"

#include "ngx_ps_conn.h"
#include "ngx_ps_hub.h"
#include "ngx_ps_log_limiter.h"
#include "ngx_ps_stats.h"
#include "ngx_ps_timer_pool.h"

using conn_t = ngx_ps_conn_t;

// Connections of one user (in this worker) with the same filter and
// location: they get identical frames, so they share one batcher. A group
// has at least one connection while it is in its user's list; the location
// is its connections' (group_lcf): one pointer less per connected user.
struct ngx_ps_group_t {
  ngx_ps_user_t* user;
  ps::ChannelMask mask;
  ps::Batcher batcher;
  ngx_queue_t conns;
  // The batcher's deadline (cancelable) while it has one, else null: an
  // idle group holds no timer (ngx_event_t is 96 bytes; most users are idle
  // most of the time). Lent by hub_t::timers.
  ngx_event_t* timer;
  ngx_uint_t mark;                       // dedupes a broadcast event per group
  std::unique_ptr<ngx_ps_group_t> next;  // the user's next group

  ngx_ps_group_t(ngx_ps_user_t* u, ps::ChannelMask m, const ngx_http_portfolio_stream_loc_conf_t* conf);
  ~ngx_ps_group_t();
};

// The local state of one subscribed channel: a user's channel, or the
// broadcast channel (then only `conns` is used).
struct ngx_ps_user_t {
  void* entry = nullptr;  // the SubscriptionTable entry that holds this
  // Its groups, a list (one group in the common case: a vector would cost
  // a heap block per user besides itself).
  std::unique_ptr<ngx_ps_group_t> groups;
  ngx_queue_t conns{};  // broadcast entries: every listening connection
  // A user's channel: the user id is the channel name from user_at on (the
  // channel prefix before it), so it is not stored twice.
  std::uint32_t user_at = 0;
  bool is_user = false;
  bool control = false;  // the control channel (logout pushes), held by the hub
};

namespace {

using table_t = ps::SubscriptionTable<ngx_ps_user_t>;
using entry_t = table_t::Entry;

constexpr std::size_t kSubscribeBatch = 256;  // channels per (re)SUBSCRIBE

struct hub_t {
  // Group timers, lent while a batch is pending. Declared before `table` so
  // that they outlive the groups it may still hold.
  ngx_ps_timer_pool timers;
  table_t table;
  ngx_queue_t conns;  // every connection of this worker
  ngx_uint_t mark = 0;
  size_t max_event_size = 256 * 1024;
  ngx_log_t* log = nullptr;
  ngx_ps_log_limiter invalid_log;  // dropped events: one line a second
  bool pubsub_up = false;
  ngx_uint_t reconnects_reported = 0;
  // Events handed to connections, ever: the Redis reader yields the loop
  // turn when one read event has made too many (see ngx_ps_pubsub_handler_t).
  std::uint64_t work = 0;
  ps::Compressor compressor;  // permessage-deflate: one per worker, reset per message
};

// Made in init_process, destroyed in exit_process (or with the process).
std::unique_ptr<hub_t> worker_hub;

void stat_redis() {
  if (worker_hub == nullptr) {
    return;
  }
  ngx_ps_stat_redis(worker_hub->pubsub_up, worker_hub->table.live_count());
  ngx_uint_t reconnects = ngx_ps_redis_stats()->reconnects;
  if (reconnects != worker_hub->reconnects_reported) {
    ngx_ps_stat_add(ngx_ps_stat::redis_reconnects,
                    ngx_atomic_int_t(reconnects - worker_hub->reconnects_reported));
    worker_hub->reconnects_reported = reconnects;
  }
}

template <class F>
void for_each_conn(ngx_queue_t* list, ngx_ps_list which, F&& f) {
  // The next link is read before f runs: f may unlink its connection.
  for (ngx_queue_t* q = ngx_queue_head(list); q != ngx_queue_sentinel(list);) {
    ngx_queue_t* next = ngx_queue_next(q);
    f(ngx_ps_link_conn(q, which));
    q = next;
  }
}

bool subscriptions_live(const conn_t* wc) {
  return wc->user != nullptr && static_cast<entry_t*>(wc->user->entry)->live() &&
         (wc->broadcast == nullptr || static_cast<entry_t*>(wc->broadcast->entry)->live());
}

// The user's subscriptions are live for wc: "connected" now, or with
// history on after the history read (ws/ngx_ps_history.cpp).
void go_live(conn_t* wc) {
  if (wc->history) {
    ngx_ps_history_live(wc);
  } else {
    ngx_ps_hub_send_connected(wc, nullptr);
  }
}

// Built once per worker: an outage tells every connection the same bytes.
const ps::SharedBytes& status_frame(bool live) {
  static const ps::SharedBytes live_frame = ps::make_shared_frame(ps::Opcode::text, ps::status_message(true));
  static const ps::SharedBytes degraded_frame =
      ps::make_shared_frame(ps::Opcode::text, ps::status_message(false));
  return live ? live_frame : degraded_frame;
}

void send_command(table_t::Command cmd, std::string_view channel) {
  if (cmd == table_t::Command::subscribe) {
    ngx_ps_redis_subscribe(&channel, 1);
  } else if (cmd == table_t::Command::unsubscribe) {
    ngx_ps_redis_unsubscribe(&channel, 1);
  }
}

// The frame of `out` for a permessage-deflate connection: compressed once,
// on first use, then shared. A bare event's compressed frame is kept on the
// event (every group and, for broadcasts, every user reuses it); a batch
// frame's in `batch_cache`, which lives as long as this output.
ps::SharedBytes deflated_frame(const ps::Batcher::Output& out, ps::SharedBytes& batch_cache) {
  const bool bare = out.events.size() == 1 && out.events.front()->frame.data() == out.frame.data();
  return ps::deflated_frame_cached(bare ? out.events.front()->deflated : batch_cache, out.frame,
                                   worker_hub->compressor);
}

// Queues one batcher output on every connection of the group.
void deliver(ngx_ps_group_t* g, const ps::Batcher::Output& out) {
  std::int64_t now = ngx_ps_now_ms();
  std::int64_t now_us = ngx_ps_now_us();
  for (const auto& ev : out.events) {
    if (ev->ts) {
      ngx_ps_stat_latency(now - *ev->ts);
    }
    if (ev->received_us != 0) {
      ngx_ps_stat_stage(ps::stats::stage_dispatch, now_us - ev->received_us);
    }
  }
  ps::SharedBytes batch_deflated;
  ngx_atomic_int_t frames = 0;
  for_each_conn(&g->conns, ngx_ps_list::group, [&](conn_t* wc) {
    if (!wc->session.open()) {
      return;
    }
    if (wc->history) {
      if (ngx_ps_history_deliver(wc, out)) {
        return;  // held during a read, or sent without what it already had
      }
    } else if (!wc->connected_sent) {
      return;
    }
    const ps::SharedBytes& frame = wc->deflate ? deflated_frame(out, batch_deflated) : out.frame;
    if (out.events.size() == 1) {
      ngx_ps_conn_send_event(wc, frame, out.events.front());
    } else {
      ngx_ps_conn_send(wc, frame);
    }
    frames++;
  });
  // One shared-memory add per output, not one per connection.
  if (frames > 0) {
    ngx_ps_stat_add(ngx_ps_stat::event_frames_sent, frames);
  }
}

// An event handed to a connection counts as delivered when it enters the
// group's batch, even if a newer one of its key replaces it before the frame
// is written: batchEfficiency = 1 - frames / deliveries credits coalescing.
void count_deliveries(ngx_ps_group_t* g) {
  ngx_atomic_int_t n = 0;
  for_each_conn(&g->conns, ngx_ps_list::group,
                [&](conn_t* wc) { n += wc->connected_sent && !!wc->session.open(); });
  worker_hub->work += std::uint64_t(n);
  if (n > 0) {
    ngx_ps_stat_add(ngx_ps_stat::events_delivered, n);
  }
}

void group_timer(ngx_event_t* ev);

void release_timer(ngx_ps_group_t* g) noexcept {
  ngx_event_t* ev = g->timer;
  if (ev == nullptr) {
    return;
  }
  g->timer = nullptr;
  if (worker_hub != nullptr) {  // null while the hub itself is destroyed
    worker_hub->timers.give(ev);
  } else {
    if (ev->timer_set) {
      ngx_del_timer(ev);
    }
    if (ev->posted) {
      ngx_delete_posted_event(ev);
    }
  }
}

void arm_timer(ngx_ps_group_t* g) {
  if (auto d = g->batcher.deadline()) {
    if (g->timer == nullptr) {
      try {
        g->timer = worker_hub->timers.take(group_timer, g, worker_hub->log);
      } catch (const std::bad_alloc&) {
        // No memory for a timer: the batch goes now instead of waiting with
        // no deadline.
        ps::Batcher::Output out;
        if (g->batcher.flush(std::int64_t(ngx_current_msec), out)) {
          deliver(g, out);
        }
        return;
      }
    }
    std::int64_t delay = *d - std::int64_t(ngx_current_msec);
    ngx_add_timer(g->timer, ngx_msec_t(delay > 0 ? delay : 1));
  } else {
    release_timer(g);
  }
}

void group_event(ngx_ps_group_t* g, const ps::EventPtr& ev) {
  if (!(g->mask & ps::channel_bit(ev->channel))) {
    return;
  }
  count_deliveries(g);
  std::uint64_t before = g->batcher.coalesced();
  ps::Batcher::Output out;
  if (g->batcher.on_event(ev, std::int64_t(ngx_current_msec), out)) {
    deliver(g, out);
  }
  if (std::uint64_t replaced = g->batcher.coalesced() - before) {
    ngx_ps_stat_add(ngx_ps_stat::events_coalesced, ngx_atomic_int_t(replaced));
  }
  arm_timer(g);
}

void group_timer(ngx_event_t* ev) {
  auto* g = static_cast<ngx_ps_group_t*>(ev->data);
  try {
    ps::Batcher::Output out;
    if (g->batcher.on_timer(std::int64_t(ngx_current_msec), out)) {
      deliver(g, out);
    }
    arm_timer(g);
  } catch (...) {
    ngx_log_error(NGX_LOG_ERR, ev->log, 0, "portfolio_stream: internal error in a batch flush");
  }
}

const ngx_http_portfolio_stream_loc_conf_t* group_lcf(ngx_ps_group_t* g) {
  return ngx_ps_link_conn(ngx_queue_head(&g->conns), ngx_ps_list::group)->lcf;
}

ngx_ps_group_t* find_group(ngx_ps_user_t* u, ps::ChannelMask mask,
                           ngx_http_portfolio_stream_loc_conf_t* lcf) {
  for (ngx_ps_group_t* g = u->groups.get(); g != nullptr; g = g->next.get()) {
    if (g->mask == mask && group_lcf(g) == lcf) {
      return g;
    }
  }
  auto g = std::make_unique<ngx_ps_group_t>(u, mask, lcf);
  g->next = std::move(u->groups);
  u->groups = std::move(g);
  return u->groups.get();
}

void leave_group(conn_t* wc) {
  ngx_ps_group_t* g = wc->group;
  if (g == nullptr) {
    return;
  }
  ngx_ps_unlink(&wc->links.group);
  wc->group = nullptr;
  if (ngx_queue_empty(&g->conns)) {
    for (std::unique_ptr<ngx_ps_group_t>* link = &g->user->groups; *link != nullptr; link = &(*link)->next) {
      if (link->get() == g) {
        std::unique_ptr<ngx_ps_group_t> gone = std::move(*link);
        *link = std::move(gone->next);
        break;  // gone (g) is destroyed here
      }
    }
  }
}

void join_group(conn_t* wc, ps::ChannelMask mask) {
  ngx_ps_group_t* g = find_group(wc->user, mask, wc->lcf);
  ngx_queue_insert_tail(&g->conns, &wc->links.group);
  wc->group = g;
}

}  // namespace

void ngx_ps_hub_count_invalid(ps::EventError err, std::string_view channel) {
  ngx_ps_stat_add(ngx_ps_stat::events_invalid, 1);
  // At most one line a second: a broken publisher must not flood the log.
  ngx_uint_t skipped;
  if (worker_hub->invalid_log.allow(&skipped)) {
    const char* why = err == ps::EventError::too_large      ? "larger than portfolio_stream_max_event_size"
                      : err == ps::EventError::unknown_type ? "of unknown type"
                      : err == ps::EventError::not_object   ? "not a JSON object"
                                                            : "not valid JSON";
    ngx_str_t ch{channel.size(), (u_char*)channel.data()};
    ngx_log_error(NGX_LOG_WARN, worker_hub->log, 0,
                  "portfolio_stream: dropped an event on \"%V\": %s (%ui more dropped since the last line)",
                  &ch, why, skipped);
  }
}

namespace {

// ---- pub/sub callbacks ------------------------------------------------------

bool session_is(const conn_t* wc, std::string_view sid) {
  std::string_view key = wc->session_key;
  std::string_view prefix = ngx_ps_sv(wc->lcf->session_prefix);
  return key.size() == prefix.size() + sid.size() && key.substr(0, prefix.size()) == prefix &&
         key.substr(prefix.size()) == sid;
}

// A logout the app pushed: that user's (or session's) connections end with
// 4401 now instead of at their next session re-read.
void on_control(std::string_view payload) {
  std::optional<ps::ControlMessage> m = ps::parse_control_message(payload);
  if (!m) {
    ngx_ps_hub_count_invalid(ps::EventError::invalid_json, "control");
    return;
  }
  ngx_uint_t closed = 0;
  for_each_conn(&worker_hub->conns, ngx_ps_list::worker, [&](conn_t* wc) {
    if (!wc->session.open() || wc->user == nullptr) {
      return;
    }
    if ((m->user_id && ngx_ps_user_id(wc) == *m->user_id) || (m->sid && session_is(wc, *m->sid))) {
      ngx_ps_conn_close(wc, ps::close_code::session_expired, "session revoked");
      closed++;
    }
  });
  if (closed > 0) {
    ngx_log_error(NGX_LOG_INFO, worker_hub->log, 0,
                  "portfolio_stream: logout on the control channel, closing %ui connection(s) with 4401",
                  closed);
  }
}

void on_message(std::string_view channel, std::string_view payload) {
  std::int64_t received_us = ngx_ps_now_us();
  try {
    ngx_ps_stat_add(ngx_ps_stat::events_received, 1);
    entry_t* e = worker_hub->table.find(channel);
    if (e == nullptr || !e->live()) {
      return;
    }
    if (e->local.control) {
      on_control(payload);
      return;
    }
    ps::EventInfo info;
    ps::EventError err = ps::parse_event(payload, worker_hub->max_event_size, info);
    if (err != ps::EventError::none) {
      ngx_ps_hub_count_invalid(err, channel);
      return;
    }
    if (info.ts) {
      ngx_ps_stat_stage(ps::stats::stage_redis, (ngx_ps_now_ms() - *info.ts) * 1000);
    }
    ps::EventPtr ev = ps::make_event(payload, std::move(info), received_us);
    ngx_ps_user_t& u = e->local;
    if (u.is_user) {
      for (ngx_ps_group_t* g = u.groups.get(); g != nullptr; g = g->next.get()) {
        group_event(g, ev);
      }
      return;
    }
    // The broadcast channel: every listening connection's group, once.
    ngx_uint_t mark = ++worker_hub->mark;
    for_each_conn(&u.conns, ngx_ps_list::broadcast, [&](conn_t* wc) {
      if (wc->group != nullptr && wc->group->mark != mark) {
        wc->group->mark = mark;
        group_event(wc->group, ev);
      }
    });
  } catch (...) {
    ngx_log_error(NGX_LOG_ERR, worker_hub->log, 0, "portfolio_stream: internal error dispatching an event");
  }
}

void on_subscribed(std::string_view channel) {
  try {
    auto r = worker_hub->table.on_subscribed(channel);
    send_command(r.command, channel);
    stat_redis();
    if (r.became_live == nullptr) {
      return;
    }
    ngx_ps_user_t& u = r.became_live->local;
    auto wake = [&](conn_t* wc) {
      // Live again after an outage, or live for the first time.
      if (!wc->connected_sent) {
        if (subscriptions_live(wc)) {
          go_live(wc);
        }
      } else if (wc->degraded) {
        if (wc->history) {
          if (subscriptions_live(wc)) {
            ngx_ps_history_live(wc);  // catch up, then "live"
          }
        } else {
          wc->degraded = 0;
          ngx_ps_conn_send(wc, status_frame(true));
        }
      }
    };
    if (u.is_user) {
      for (ngx_ps_group_t* g = u.groups.get(); g != nullptr; g = g->next.get()) {
        for_each_conn(&g->conns, ngx_ps_list::group, wake);
      }
    } else {
      for_each_conn(&u.conns, ngx_ps_list::broadcast, wake);
    }
  } catch (...) {
    ngx_log_error(NGX_LOG_ERR, worker_hub->log, 0, "portfolio_stream: internal error on a subscribe reply");
  }
}

void on_unsubscribed(std::string_view channel) {
  try {
    send_command(worker_hub->table.on_unsubscribed(channel), channel);
    stat_redis();
  } catch (...) {
    ngx_log_error(NGX_LOG_ERR, worker_hub->log, 0,
                  "portfolio_stream: internal error on an unsubscribe reply");
  }
}

void on_state(bool up) {
  try {
    worker_hub->pubsub_up = up;
    if (!up) {
      worker_hub->table.on_connection_lost();
      for_each_conn(&worker_hub->conns, ngx_ps_list::worker, [](conn_t* wc) {
        if (wc->connected_sent && !wc->degraded && !!wc->session.open()) {
          wc->degraded = 1;
          ngx_ps_conn_send(wc, status_frame(false));
        }
      });
      stat_redis();
      return;
    }
    std::vector<std::string> channels = worker_hub->table.resubscribe_all();
    std::vector<std::string_view> batch;
    batch.reserve(kSubscribeBatch);
    for (std::size_t i = 0; i < channels.size(); i++) {
      batch.push_back(channels[i]);
      if (batch.size() == kSubscribeBatch || i + 1 == channels.size()) {
        ngx_ps_redis_subscribe(batch.data(), batch.size());
        batch.clear();
      }
    }
    stat_redis();
  } catch (...) {
    ngx_log_error(NGX_LOG_ERR, worker_hub->log, 0,
                  "portfolio_stream: internal error on a Redis state change");
  }
}

std::uint64_t work_done() { return worker_hub ? worker_hub->work : 0; }

const ngx_ps_pubsub_handler_t pubsub_handler = {on_message, on_subscribed, on_unsubscribed, on_state,
                                                work_done};

entry_t* acquire(std::string_view channel, table_t::Command* cmd) {
  auto [e, c] = worker_hub->table.acquire(channel);
  *cmd = c;
  if (e->local.entry == nullptr) {
    e->local.entry = e;
    ngx_queue_init(&e->local.conns);
  }
  return e;
}

}  // namespace

ngx_ps_group_t::ngx_ps_group_t(ngx_ps_user_t* u, ps::ChannelMask m,
                               const ngx_http_portfolio_stream_loc_conf_t* conf)
    : user(u), mask(m), batcher(std::int64_t(conf->batch_window)), conns(), timer(nullptr), mark(0) {
  ngx_queue_init(&conns);
}

ngx_ps_group_t::~ngx_ps_group_t() { release_timer(this); }

void ngx_ps_hub_attach(conn_t* wc, std::string_view user_id) {
  std::string channel;
  channel.reserve(wc->lcf->channel_prefix.len + user_id.size());
  channel.append(ngx_ps_sv(wc->lcf->channel_prefix)).append(user_id);

  // Each step records what it took in wc before the next can throw, so
  // detach undoes exactly that (the caller detaches on failure).
  table_t::Command cmd;
  entry_t* e = acquire(channel, &cmd);
  wc->user = &e->local;
  ngx_queue_insert_tail(&worker_hub->conns, &wc->links.worker);
  send_command(cmd, channel);
  if (!e->local.is_user) {
    e->local.is_user = true;
    e->local.user_at = std::uint32_t(wc->lcf->channel_prefix.len);
  }
  join_group(wc, wc->filter);

  bool live = e->live();
  if (wc->lcf->broadcast_channel.len > 0) {
    table_t::Command bcmd;
    entry_t* b = acquire(ngx_ps_sv(wc->lcf->broadcast_channel), &bcmd);
    wc->broadcast = &b->local;
    ngx_queue_insert_tail(&b->local.conns, &wc->links.broadcast);
    send_command(bcmd, b->channel());
    live = live && b->live();
  }
  if (live) {
    go_live(wc);
  }
  stat_redis();
}

void ngx_ps_hub_detach(conn_t* wc) {
  if (wc->user == nullptr) {
    return;
  }
  leave_group(wc);
  ngx_ps_unlink(&wc->links.worker);
  entry_t* e = static_cast<entry_t*>(wc->user->entry);
  wc->user = nullptr;
  std::string channel(e->channel());  // e may go in release()
  send_command(worker_hub->table.release(e), channel);
  if (wc->broadcast != nullptr) {
    ngx_ps_unlink(&wc->links.broadcast);
    entry_t* b = static_cast<entry_t*>(wc->broadcast->entry);
    wc->broadcast = nullptr;
    std::string bchannel(b->channel());
    send_command(worker_hub->table.release(b), bchannel);
  }
  stat_redis();
}

void ngx_ps_hub_set_filter(conn_t* wc, ps::ChannelMask filter) {
  if (wc->filter == filter || wc->user == nullptr) {
    wc->filter = filter;
    return;
  }
  // Events held for the old filter go out first, so none is lost.
  ngx_ps_group_t* old = wc->group;
  ps::Batcher::Output out;
  if (old->batcher.flush(std::int64_t(ngx_current_msec), out)) {
    deliver(old, out);
    arm_timer(old);
  }
  leave_group(wc);
  wc->filter = filter;
  join_group(wc, filter);
}

std::string_view ngx_ps_user_id(const conn_t* wc) {
  if (wc->user == nullptr) {
    return {};
  }
  std::string_view channel = static_cast<const entry_t*>(wc->user->entry)->channel();
  return channel.substr(std::min<std::size_t>(wc->user->user_at, channel.size()));
}

ngx_int_t ngx_ps_hub_init(ngx_cycle_t* cycle) {
  auto* pmcf = static_cast<ngx_http_portfolio_stream_main_conf_t*>(
      ngx_http_cycle_get_module_main_conf(cycle, ngx_http_portfolio_stream_module));
  try {
    worker_hub = std::make_unique<hub_t>();
  } catch (...) {
    return NGX_ERROR;
  }
  ngx_queue_init(&worker_hub->conns);
  worker_hub->max_event_size = pmcf->max_event_size;
  worker_hub->log = cycle->log;
  ngx_int_t rc = ngx_ps_redis_init_process(cycle, &pmcf->redis, &pubsub_handler, pmcf->history_locations > 0,
                                           pmcf->limit_fleet != 0);
  if (rc == NGX_OK && pmcf->control_channel.len > 0) {
    // Held for the worker's life: subscribed with the first pub/sub connection.
    try {
      table_t::Command cmd;
      entry_t* e = acquire(ngx_ps_sv(pmcf->control_channel), &cmd);
      e->local.control = true;
      send_command(cmd, e->channel());
    } catch (...) {
      ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "portfolio_stream: out of memory");
      return NGX_ERROR;
    }
  }
  return rc;
}

void ngx_ps_hub_exit(ngx_cycle_t* cycle) {
  if (worker_hub == nullptr) {
    return;
  }
  // Connections still open when the worker exits (worker_shutdown_timeout,
  // or a peer that never answered our close) are closed now.
  while (!ngx_queue_empty(&worker_hub->conns)) {
    ngx_queue_t* q = ngx_queue_head(&worker_hub->conns);
    ngx_ps_conn_abort(ngx_ps_link_conn(q, ngx_ps_list::worker));
  }
  ngx_ps_redis_exit_process();
  worker_hub.reset();
}

// ---- for the history glue ----------------------------------------------------

std::string_view ngx_ps_hub_channel(const conn_t* wc) {
  return static_cast<entry_t*>(wc->user->entry)->channel();
}

bool ngx_ps_hub_user_live(const conn_t* wc) { return subscriptions_live(wc); }

void ngx_ps_hub_send_connected(conn_t* wc, const ps::ConnectedHistory* history) {
  wc->connected_sent = 1;
  wc->degraded = 0;
  ngx_ps_conn_send_text(
      wc, ps::connected_message(ngx_ps_user_id(wc), wc->filter, std::int64_t(wc->lcf->batch_window),
                                std::int64_t(wc->lcf->heartbeat), ngx_ps_now_ms(), history));
  wc->session.release_when_drained();  // most connections idle from here
}

void ngx_ps_hub_send_status_live(conn_t* wc) { ngx_ps_conn_send(wc, status_frame(true)); }

std::size_t ngx_ps_hub_max_event_size() { return worker_hub->max_event_size; }

void ngx_ps_hub_send_events(conn_t* wc, const std::vector<ps::EventPtr>& events) {
  // Like the batcher's bounds; with batch_window 0 every event has its own
  // frame (SPEC section 1), replays included.
  const std::size_t kFrameEvents = wc->lcf->batch_window == 0 ? 1 : 256;
  constexpr std::size_t kFrameBytes = 256 * 1024;
  ngx_atomic_int_t frames = 0;
  std::vector<ps::EventPtr> chunk;
  auto flush = [&]() {
    if (chunk.empty()) {
      return;
    }
    ps::SharedBytes frame = chunk.size() == 1 ? chunk.front()->frame : ps::make_batch_frame(chunk);
    if (wc->deflate) {
      ps::SharedBytes cache;
      frame = ps::deflated_frame_cached(chunk.size() == 1 ? chunk.front()->deflated : cache, frame,
                                        worker_hub->compressor);
    }
    ngx_ps_conn_send(wc, frame);
    frames++;
    chunk.clear();
  };
  std::size_t bytes = 0;
  for (const auto& ev : events) {
    if (!chunk.empty() && (chunk.size() == kFrameEvents || bytes + ev->json_size() > kFrameBytes)) {
      flush();
      bytes = 0;
    }
    chunk.push_back(ev);
    bytes += ev->json_size();
  }
  flush();
  if (frames > 0) {
    ngx_ps_stat_add(ngx_ps_stat::event_frames_sent, frames);
    ngx_ps_stat_add(ngx_ps_stat::events_delivered, ngx_atomic_int_t(events.size()));
  }
}
