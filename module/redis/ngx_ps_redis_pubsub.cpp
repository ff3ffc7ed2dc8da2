// Pub/sub on its own connection: SUBSCRIBE/UNSUBSCRIBE, the health channel
// and its idle check, reply dispatch to the hub, state notifications. See
// ngx_ps_redis_internal.h (ps_redis::health).
//
// Commands are written raw and replies read by pubsub_dispatch, never through
// hiredis' async callbacks: hiredis 0.14 keeps a dict entry, an sds key and a
// callback per subscribed channel (~120 bytes a user, besides ours), does not
// know sharded pub/sub, and asserts on an unsubscribe reply it did not expect.

#include <vector>

#include "ngx_ps_redis_internal.h"
#include "ngx_ps_redis_read.h"

namespace ngx_ps_redis_internal {

namespace {

// One frame of the pub/sub connection (one Redis). Returns why to drop the
// connection, or nullptr.
const char* sub_frame(ps_conn* pc, const redisReply* reply) {
  if (worker.exiting) {
    return nullptr;
  }
  ps_node* node = pc->node;
  if (pc->state == conn_state::handshake) {
    return pubsub_handshake_reply(pc, reply);
  }
  if (pc->state != conn_state::ready) {
    return nullptr;
  }
  conn_progress(pc);
  if (reply->type == REDIS_REPLY_ERROR) {
    // A refused (UN)SUBSCRIBE, e.g. an ACL without the channel prefix: the
    // channels it named would never be confirmed, so the connection goes
    // (degraded, backoff) with Redis' words in the log, as before.
    conn_log_refusal(pc, "SUBSCRIBE", reply);
    return "SUBSCRIBE refused";
  }
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
      reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_STRING) {
    ngx_log_error(NGX_LOG_ERR, ps_log(), 0, "portfolio_stream: unexpected Redis pub/sub reply (type %d)",
                  reply->type);
    return nullptr;
  }
  std::string_view kind = reply_sv(reply->element[0]);
  std::string_view channel = reply_sv(reply->element[1]);
  const redisReply* third = reply->element[2];
  const ngx_ps_pubsub_handler_t& h = worker.handler;
  // Our own channel (ps_redis::health): a probe's answer, or a message some
  // client PUBLISHed to it. Nothing for the hub.
  const bool ours = channel == worker.health;
  if (kind == "message") {
    if (h.message != nullptr && !ours) {
      // A null payload is one the reply guard discarded for its size (Redis
      // never publishes one): see read_oversize_payload.
      if (third->type == REDIS_REPLY_NIL) {
        h.message(channel, read_oversize_payload());
      } else if (third->type == REDIS_REPLY_STRING) {
        h.message(channel, reply_sv(third));
      }
    }
  } else if (kind == "subscribe" || kind == "unsubscribe") {
    if (pc->outstanding > 0) {
      pc->outstanding--;
    }
    // Redis counts the health channel (subscribed first, never dropped):
    // the stat is the hub's channels only.
    if (third->type == REDIS_REPLY_INTEGER && third->integer > 0) {
      node->subscriptions = static_cast<ngx_uint_t>(third->integer - 1);
      stats_recount();
    }
    if (ours) {
      // a probe's answer: nothing for the hub
    } else if (kind[0] == 's') {
      if (h.subscribed != nullptr) {
        h.subscribed(channel);
      }
    } else if (h.unsubscribed != nullptr) {
      h.unsubscribed(channel);
    }
  }
  return nullptr;
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

bool pubsub_write(ps_conn* pc, std::size_t argc, const char** argv, const std::size_t* lens) {
  if (pc->ac == nullptr ||
      redisAppendCommandArgv(&pc->ac->c, static_cast<int>(argc), argv, lens) != REDIS_OK) {
    return false;
  }
  conn_want_write(pc);
  return true;
}

bool sub_send_health(ps_conn* pc) {
  const char* argv[2] = {"SUBSCRIBE", worker.health.data()};
  std::size_t lens[2] = {9, worker.health.size()};
  return pubsub_write(pc, 2, argv, lens);
}

bool pubsub_send_handshake(ps_conn* pc) {
  if (!worker.password.empty()) {
    const char* argv[3];
    std::size_t lens[3];
    if (!pubsub_write(pc, auth_argv(argv, lens), argv, lens)) {
      return false;
    }
    pc->handshake++;
  }
  if (!(pc->shard ? shard_send_ping(pc) : sub_send_health(pc))) {
    return false;
  }
  pc->handshake++;
  return true;
}

const char* pubsub_handshake_reply(ps_conn* pc, const redisReply* reply) {
  if (reply->type == REDIS_REPLY_ERROR) {
    // AUTH is answered first when there is a password; then the health
    // SUBSCRIBE (e.g. NOPERM without &portfolio_stream:health:*) or PING.
    const bool auth = !worker.password.empty() && pc->handshake == 2;
    const char* step = auth ? "AUTH" : pc->shard ? "PING" : "SUBSCRIBE";
    conn_log_refusal(pc, step, reply);
    return auth ? "AUTH failed" : pc->shard ? "PING failed" : "SUBSCRIBE failed";
  }
  // Like AUTH, the last answer only counts as progress, not as "answered"
  // (which resets backoff and log limiter): see conn_progress.
  pc->last_progress = ngx_current_msec;
  if (pc->handshake > 0 && --pc->handshake == 0) {
    conn_ready(pc);
  }
  return nullptr;
}

void pubsub_dispatch(ps_conn* pc) {
  redisAsyncContext* ac = pc->ac;
  const char* why = nullptr;
  while (pc->ac == ac && why == nullptr) {
    void* r = nullptr;
    if (redisReaderGetReply(ac->c.reader, &r) != REDIS_OK) {
      why = "reply reader failed";
      break;
    }
    if (r == nullptr) {
      break;
    }
    try {
      auto* reply = static_cast<const redisReply*>(r);
      why = pc->shard ? shard_frame(pc, reply) : sub_frame(pc, reply);
    } catch (...) {
      ngx_log_error(NGX_LOG_ALERT, ps_log(), 0, "portfolio_stream: pub/sub handler threw");
    }
    freeReplyObject(r);
  }
  if (why != nullptr && pc->ac == ac) {
    conn_fail(pc, why);
  }
}

namespace {

void pubsub_command(const char* verb, std::size_t verb_len, const std::string_view* channels, std::size_t n) {
  ps_node* node = single_node();
  if (!worker.running || node == nullptr || node->sub.state != conn_state::ready || n == 0) {
    return;
  }
  try {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    argv.reserve(n + 1);
    lens.reserve(n + 1);
    argv.push_back(verb);
    lens.push_back(verb_len);
    // The health channel is never passed on (only a user id crafted to make
    // prefix + id equal it could ask): an UNSUBSCRIBE of it would end the
    // idle probe, and the hub never hears about that channel anyway.
    for (std::size_t i = 0; i < n; i++) {
      if (channels[i] != worker.health) {
        argv.push_back(channels[i].data());
        lens.push_back(channels[i].size());
      }
    }
    std::size_t count = argv.size() - 1;
    if (count == 0 || !pubsub_write(&node->sub, argv.size(), argv.data(), lens.data())) {
      return;  // nothing to send, or the context is being torn down
    }
    conn_owe(&node->sub, count);
  } catch (...) {
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
    pubsub_command("SUBSCRIBE", 9, channels, n);
  }
}

void ngx_ps_redis_unsubscribe(const std::string_view* channels, std::size_t n) {
  if (worker.cluster) {
    cluster_pubsub(channels, n, false);
  } else {
    pubsub_command("UNSUBSCRIBE", 11, channels, n);
  }
}
