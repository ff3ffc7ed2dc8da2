// Pub/sub on its own connection: SUBSCRIBE/UNSUBSCRIBE, the health channel
// and its idle check, reply dispatch to the hub, state notifications. See
// ngx_ps_redis_internal.h (ps_redis::health, ps_redis::channels).

#include <vector>

#include "ngx_ps_redis_internal.h"
#include "ngx_ps_redis_read.h"

namespace ngx_ps_redis_internal {

namespace {

// One callback for every SUBSCRIBE: hiredis 0.14 files it per channel in its
// channel dict and finds it again for each "subscribe", "message" and
// "unsubscribe" reply. With several callbacks, a reply hiredis cannot match
// would reuse whichever callback ran last in the same read pass.
void on_pubsub_reply(redisAsyncContext* ac, void* r, void*) noexcept {
  auto* reply = static_cast<redisReply*>(r);
  ps_node* node = single_node();
  if (reply == nullptr || node == nullptr || ac != node->sub.ac || worker.exiting) {
    return;
  }
  ps_conn& sub = node->sub;
  if (sub.state != conn_state::ready) {
    // Handshake: the one reply we wait for is the health "subscribe" (AUTH
    // has its own callback). Like AUTH it only counts as progress, not as
    // "answered" (which resets backoff and log limiter): see conn_progress.
    if (sub.state == conn_state::handshake && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 3 &&
        reply_sv(reply->element[0]) == "subscribe" && reply_sv(reply->element[1]) == worker.health) {
      sub.last_progress = ngx_current_msec;
      if (sub.handshake > 0 && --sub.handshake == 0) {
        conn_ready(&sub);
      }
    }
    return;
  }
  conn_progress(&sub);
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) {
    ngx_log_error(NGX_LOG_ERR, ps_log(), 0, "portfolio_stream: unexpected Redis pub/sub reply (type %d)",
                  reply->type);
    return;
  }
  std::string_view kind = reply_sv(reply->element[0]);
  std::string_view channel = reply_sv(reply->element[1]);
  const ngx_ps_pubsub_handler_t& h = worker.handler;
  // Our own channel (ps_redis::health): a probe's answer, or a message some
  // client PUBLISHed to it. Nothing for the hub.
  bool ours = channel == worker.health;
  try {
    if (kind == "message") {
      if (h.message != nullptr && !ours) {
        // A null payload is one the reply guard discarded for its size (Redis
        // never publishes one): see read_oversize_payload.
        h.message(channel, reply->element[2]->type == REDIS_REPLY_NIL ? read_oversize_payload()
                                                                      : reply_sv(reply->element[2]));
      }
    } else if (kind == "subscribe" || kind == "unsubscribe") {
      if (sub.outstanding > 0) {
        sub.outstanding--;
      }
      // Redis counts the health channel (subscribed first, never dropped):
      // the stat is the hub's channels only.
      if (reply->element[2]->type == REDIS_REPLY_INTEGER && reply->element[2]->integer > 0) {
        node->subscriptions = static_cast<ngx_uint_t>(reply->element[2]->integer - 1);
        stats_recount();
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

}  // namespace

void on_notify(ngx_event_t*) noexcept {
  try {
    if (worker.notify_down) {
      worker.notify_down = false;
      if (worker.notified_up || !worker.notified_any) {
        worker.notified_up = false;
        worker.notified_any = true;
        if (worker.handler.state != nullptr) {
          worker.handler.state(false);
        }
      }
    }
    bool up = worker.cluster ? cluster_sub_ready()
                             : (single_node() != nullptr && single_node()->sub.state == conn_state::ready);
    if (worker.running && up && !worker.notified_up) {
      worker.notified_up = true;
      worker.notified_any = true;
      if (worker.handler.state != nullptr) {
        worker.handler.state(true);
      }
    }
  } catch (...) {
    ngx_log_error(NGX_LOG_ALERT, ps_log(), 0, "portfolio_stream: pub/sub state handler threw");
  }
}

bool sub_send_health(ps_conn* pc) {
  const char* argv[2] = {"SUBSCRIBE", worker.health.data()};
  std::size_t lens[2] = {9, worker.health.size()};
  // The same callback as every other SUBSCRIBE (see on_pubsub_reply).
  return redisAsyncCommandArgv(pc->ac, on_pubsub_reply, nullptr, 2, argv, lens) == REDIS_OK;
}

namespace {

void pubsub_command(const char* verb, std::size_t verb_len, const std::string_view* channels, std::size_t n,
                    bool subscribe) {
  ps_node* node = single_node();
  if (!worker.running || node == nullptr || node->sub.state != conn_state::ready || n == 0) {
    return;
  }
  ps_conn& sub = node->sub;
  std::unordered_set<std::string>& set = node->channels;
  try {
    std::vector<std::string> removed;  // UNSUBSCRIBE: names taken out of the set
    std::vector<const char*> argv;
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
        if (channels[i] == worker.health) {
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
        auto it = set.find(std::string(channels[i]));
        if (it != set.end() && *it != worker.health) {
          removed.push_back(std::move(set.extract(it).value()));
        }
      }
      for (const std::string& name : removed) {
        argv.push_back(name.data());
        lens.push_back(name.size());
      }
    }
    std::size_t count = argv.size() - 1;
    if (count == 0) {
      return;
    }
    if (redisAsyncCommandArgv(sub.ac, on_pubsub_reply, nullptr, static_cast<int>(argv.size()), argv.data(),
                              lens.data()) != REDIS_OK) {
      // The context is being torn down, which empties the set anyway.
      return;
    }
    if (subscribe) {
      for (std::size_t i = 0; i < n; i++) {
        if (channels[i] != worker.health) {
          set.emplace(channels[i]);
        }
      }
    }
    conn_owe(&sub, count);
  } catch (...) {
    // bad_alloc. Worst case the set misses a subscribed channel, so a later
    // UNSUBSCRIBE of it is skipped; it never holds one hiredis does not know.
    ngx_log_error(NGX_LOG_ALERT, ps_log(), 0, "portfolio_stream: %s failed: out of memory", verb);
  }
}

}  // namespace

// The pub/sub connection's idle health check, due connect_timeout after the
// last thing Redis sent. When nothing arrived for connect_timeout and nothing
// is owed, re-send the health SUBSCRIBE and owe its reply: the watchdog
// (on_conn_timer) then drops the connection if Redis stays silent for another
// connect_timeout. A frozen Redis is thus noticed within about
// 2 x connect_timeout of its last reply; ev_cleanup posts state(false) and
// reconnects. While replies are owed the watchdog alone is enough, and a
// connection with traffic never probes: last_progress keeps moving.
void on_probe(ngx_event_t* ev) noexcept {
  auto* pc = static_cast<ps_conn*>(ev->data);
  if (pc->ac == nullptr || pc->state != conn_state::ready || worker.exiting) {
    return;  // not re-armed: conn_ready arms it for the next context
  }
  ngx_msec_t next = worker.timeout;
  if (pc->outstanding == 0) {
    // last_progress is the last reply here: conn_owe moves it only when
    // replies become owed, and the last of those replies moved it again.
    ngx_msec_t idle = ngx_current_msec - pc->last_progress;
    if (idle < worker.timeout) {
      next = worker.timeout - idle;
    } else if (pc->shard ? shard_send_ping(pc) : sub_send_health(pc)) {
      conn_owe(pc, 1);
    }
    // else: the context is being torn down; ev_cleanup stops this timer.
  }
  if (pc->ac != nullptr) {
    ngx_add_timer(&pc->probe, next ? next : 1);
  }
}

}  // namespace ngx_ps_redis_internal

// ---- public interface ------------------------------------------------------

using namespace ngx_ps_redis_internal;

void ngx_ps_redis_subscribe(const std::string_view* channels, std::size_t n) {
  if (worker.cluster) {
    cluster_pubsub(channels, n, true);
  } else {
    pubsub_command("SUBSCRIBE", 9, channels, n, true);
  }
}

void ngx_ps_redis_unsubscribe(const std::string_view* channels, std::size_t n) {
  if (worker.cluster) {
    cluster_pubsub(channels, n, false);
  } else {
    pubsub_command("UNSUBSCRIBE", 11, channels, n, false);
  }
}
