// portfolio_stream_redis_cluster (SPEC section 9): the slot map, the nodes
// it names, routing lookups to slot owners, and sharded pub/sub. The rules
// (CRC16, the map's parsing, redirects, when to refresh, grouping channels
// by slot, classifying shard frames) are src/cluster_map.h and
// src/shard_pubsub.h; this file carries them out on nginx's loop.
//
// - Nodes: the masters of the last map, each with a command connection
//   (hiredis, as with one Redis) and a shard pub/sub connection, plus seed
//   nodes (command connection only) while no map is loaded. A node that
//   leaves the map is retired and freed once its connections are down.
// - Pub/sub, as the hub sees it: one connection, up while every master's
//   shard connection is ready on a complete, current map. Any shard
//   connection lost, an unasked sunsubscribe (its slot moved), an error to
//   an SSUBSCRIBE, or a map whose owners changed closes every shard
//   connection: the hub is told state(false), then state(true) once all are
//   back, and resubscribes each channel on its slot's owner (with history
//   on, the catch-up of SPEC section 8 replays what was published
//   meanwhile). A shard failure is thus reported to all the worker's
//   connections, not only that shard's users: simple, and nothing can stay
//   subscribed on a node the hub no longer knows about.
// - Shard frames are read by the module (pubsub_dispatch -> shard_frame)
//   and commands written raw into the context's output buffer: hiredis 0.14
//   does not know SSUBSCRIBE (src/shard_pubsub.h).

#include <string>
#include <vector>

#include "ngx_ps_redis_internal.h"
#include "ngx_ps_redis_read.h"
#include "resp_value.h"
#include "ascii.h"
#include "shard_pubsub.h"

namespace ngx_ps_redis_internal {

namespace {

// The map as last read from Redis, before MOVED replies patched
// worker.map: what the shard subscriptions were made with.
std::unique_ptr<ps::ClusterMap> loaded;
bool resetting = false;  // reset_subs is closing connections: no recursion
const int kAskShards = 1;
const int kAskSlots = 2;

std::uint64_t now_ms() { return static_cast<std::uint64_t>(ngx_current_msec); }

ps_node* find_node(std::string_view host, int port, bool seed) {
  for (const auto& n : worker.nodes) {
    if (!n->retired && n->seed == seed && n->port == port && n->host == host) {
      return n.get();
    }
  }
  return nullptr;
}

void notify_down() {
  worker.notify_down = true;
  if (!worker.notify_ev.posted) {
    ngx_post_event(&worker.notify_ev, &ngx_posted_events);
  }
}

void notify_maybe_up() {
  if (!worker.notify_ev.posted) {
    ngx_post_event(&worker.notify_ev, &ngx_posted_events);
  }
}

// Closes every shard pub/sub connection (see the file's comment).
void reset_subs(const char* why) {
  if (resetting) {
    return;
  }
  resetting = true;
  notify_down();
  // A snapshot: a teardown's ev_cleanup may ask for a map read, which may
  // add seed nodes to worker.nodes.
  std::vector<ps_node*> nodes;
  try {
    nodes.reserve(worker.nodes.size());
    for (const auto& n : worker.nodes) {
      nodes.push_back(n.get());
    }
  } catch (...) {
    resetting = false;
    return;
  }
  for (ps_node* n : nodes) {
    if (n->sub.ac != nullptr) {
      conn_fail(&n->sub, why);  // immediate, or deferred inside its own callbacks
    }
  }
  resetting = false;
}

void retire(ps_node* n) {
  if (n->retired) {
    return;
  }
  n->retired = true;
  conn_stop_timers(&n->cmd);
  conn_stop_timers(&n->sub);
  bool had = n->cmd.ac != nullptr || n->sub.ac != nullptr;
  bool subscribed = n->sub.state == conn_state::ready;
  for (ps_conn* pc : {&n->cmd, &n->sub}) {
    if (pc->ac != nullptr) {
      conn_fail(pc, "the node left the slot map");
    }
  }
  if (!had) {
    gc_post();
  }
  if (subscribed && !n->seed) {
    reset_subs("resubscribing: a shard left the slot map");  // its channels need a new home
  }
}

ps_node* start_master(const ps::ClusterNode& cn) {
  ps_node* n = find_node(cn.host, cn.port, false);
  if (n != nullptr) {
    return n;
  }
  n = node_add(cn.host, cn.port, std::string(), false);
  conn_start(&n->cmd);
  conn_start(&n->sub);
  return n;
}

// Seeds again when no node is left to read the map from (every master of
// the last map lost): the configured seeds, and the last map's nodes.
void ensure_seeds() {
  for (const auto& n : worker.nodes) {
    if (!n->retired && n->seed) {
      return;
    }
  }
  try {
    std::vector<std::pair<std::string, int>> addrs = worker.seeds;
    if (loaded) {
      for (const ps::ClusterNode& cn : loaded->nodes()) {
        if (cn.known_endpoint && cn.port != 0) {
          addrs.emplace_back(cn.host, cn.port);
        }
      }
    }
    for (const auto& [host, port] : addrs) {
      if (find_node(host, port, true) == nullptr) {
        conn_start(&node_add(host, port, std::string(), true)->cmd);
      }
    }
  } catch (...) {
    ngx_log_error(NGX_LOG_ALERT, ps_log(), 0, "portfolio_stream: Redis Cluster: out of memory");
  }
}

void on_map_reply(redisAsyncContext* ac, void* r, void* privdata) noexcept;

bool send_map_query(ps_conn* pc, int what) {
  const char* argv[2] = {"CLUSTER", what == kAskShards ? "SHARDS" : "SLOTS"};
  std::size_t lens[2] = {7, what == kAskShards ? 6u : 5u};
  if (redisAsyncCommandArgv(pc->ac, on_map_reply,
                            const_cast<int*>(what == kAskShards ? &kAskShards : &kAskSlots), 2, argv,
                            lens) != REDIS_OK) {
    return false;
  }
  conn_owe(pc, 1);
  return true;
}

// Reads the map now when it is due and a command connection is ready;
// else arms refresh_ev for when it will be due.
void kick() {
  if (!worker.running || worker.exiting || !worker.refresh) {
    return;
  }
  ps::SlotMapRefresh& rf = *worker.refresh;
  if (!rf.requested() || rf.in_flight()) {
    return;
  }
  const std::uint64_t now = now_ms();
  if (!rf.due(now)) {
    std::uint64_t at = rf.next_due(now);
    if (at != UINT64_MAX && !worker.refresh_ev.timer_set) {
      ngx_add_timer(&worker.refresh_ev, static_cast<ngx_msec_t>(at > now ? at - now : 1));
    }
    return;
  }
  ps_conn* pick = nullptr;
  for (const auto& n : worker.nodes) {
    if (!n->retired && n->cmd.state == conn_state::ready && (pick == nullptr || pick->node->seed)) {
      pick = &n->cmd;
    }
  }
  if (pick == nullptr) {
    ensure_seeds();  // cluster_conn_up kicks again when one is ready
    return;
  }
  if (send_map_query(pick, kAskShards)) {
    rf.started(now);
  }
}

void map_failed(ps_conn* pc, const char* what, std::string_view detail) {
  ngx_uint_t skipped = 0;
  if (worker.map_log.allow(&skipped)) {
    ngx_log_error(NGX_LOG_ERR, ps_log(), 0,
                  "portfolio_stream: Redis Cluster: reading the slot map from %s failed: %s%s%*s%s",
                  pc ? pc->node->where.c_str() : "?", what, detail.empty() ? "" : ": ", int(detail.size()),
                  detail.data(), suppressed_note(skipped).buf);
  }
  worker.refresh->finished(false);
  kick();
}

// The new map is in worker.map: nodes to start, nodes to retire.
void reconcile() {
  const ps::ClusterMap& map = *worker.map;
  std::vector<ps_node*> keep;
  for (ps::ClusterNodeIndex i : map.masters()) {
    const ps::ClusterNode* cn = map.node(i);
    if (cn != nullptr && cn->known_endpoint) {
      keep.push_back(start_master(*cn));
    }
  }
  if (keep.empty()) {
    return;
  }
  // Retiring may free contexts (and run ev_cleanup) right away: collect first.
  std::vector<ps_node*> gone;
  for (const auto& n : worker.nodes) {
    if (n->retired) {
      continue;
    }
    bool kept = false;
    for (ps_node* k : keep) {
      kept = kept || k == n.get();
    }
    if (!kept) {
      gone.push_back(n.get());
    }
  }
  for (ps_node* n : gone) {
    retire(n);
  }
}

void on_map_reply(redisAsyncContext* ac, void* r, void* privdata) noexcept {
  auto* pc = static_cast<ps_conn*>(ac->data);
  auto* reply = static_cast<redisReply*>(r);
  if (worker.exiting || !worker.refresh) {
    return;
  }
  if (reply == nullptr || pc == nullptr || pc->ac != ac) {
    worker.refresh->finished(false);  // the connection went away: another node next time
    if (!worker.refresh_ev.timer_set) {
      ngx_add_timer(&worker.refresh_ev, 100);
    }
    return;
  }
  if (pc->outstanding > 0) {
    pc->outstanding--;
  }
  conn_progress(pc);
  const bool shards = privdata == &kAskShards;
  try {
    if (reply->type == REDIS_REPLY_ERROR && shards) {
      // Redis < 7.0 has no CLUSTER SHARDS.
      if (!send_map_query(pc, kAskSlots)) {
        map_failed(pc, "CLUSTER SLOTS could not be sent", {});
      }
      return;
    }
    ps::RespValue v;
    if (!ps::resp_from_hiredis(reply, v)) {
      map_failed(pc, "unexpected reply", {});
      return;
    }
    ps::ClusterMap next;
    std::string error;
    bool ok = shards ? ps::parse_cluster_shards(v, pc->node->host, next, error)
                     : ps::parse_cluster_slots(v, pc->node->host, next, error);
    if (!ok) {
      map_failed(pc, shards ? "CLUSTER SHARDS" : "CLUSTER SLOTS", error);
      return;
    }
    if (next.assigned_slots() == 0) {
      map_failed(pc, "no slot is assigned", {});
      return;
    }
    bool changed = false;
    if (loaded) {
      changed = !ps::changed_slots(*loaded, next).empty();
    }
    bool complete = next.complete();
    *worker.map = next;
    if (loaded) {
      *loaded = std::move(next);
    } else {
      loaded = std::make_unique<ps::ClusterMap>(std::move(next));
    }
    reconcile();
    if (changed) {
      ngx_log_error(NGX_LOG_NOTICE, ps_log(), 0,
                    "portfolio_stream: Redis Cluster: the slot map changed (%uz of 16384 slots served); "
                    "resubscribing on the new owners",
                    worker.map->assigned_slots());
      reset_subs("resubscribing after a slot map change");
    }
    if (!complete) {
      // Counts as failed: read again with backoff until every slot has a
      // master (a failover in progress); the worker stays degraded.
      map_failed(pc, "some slots have no master", {});
      cmd_flush_waiting();  // lookups of the served slots need not wait
      return;
    }
    worker.refresh->finished(true);
  } catch (...) {
    map_failed(pc, "out of memory", {});
    return;
  }
  notify_maybe_up();
  cmd_flush_waiting();
  kick();
}

ps::ClusterNodeIndex index_of(const ps_node* n) {
  return worker.map->find_node(n->host, static_cast<std::uint16_t>(n->port));
}

// Writes one command into the shard connection's output buffer.
bool shard_write(ps_conn* pc, const std::vector<const char*>& argv, const std::vector<std::size_t>& lens) {
  return pubsub_write(pc, argv.size(), const_cast<const char**>(argv.data()), lens.data());
}

}  // namespace

// One frame of a shard pub/sub connection. Returns why to drop the
// connection, or nullptr.
const char* shard_frame(ps_conn* pc, const redisReply* reply) {
  if (pc->state == conn_state::handshake) {
    return pubsub_handshake_reply(pc, reply);
  }
  if (pc->state != conn_state::ready) {
    return nullptr;
  }
  conn_progress(pc);
  // A probe's answer: +PONG, or ["pong", ""] once subscribed.
  if ((reply->type == REDIS_REPLY_STATUS && ps::iequals(reply_sv(reply), "PONG")) ||
      (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
       ps::iequals(reply_sv(reply->element[0]), "pong"))) {
    if (pc->outstanding > 0) {
      pc->outstanding--;
    }
    return nullptr;
  }
  const ngx_ps_pubsub_handler_t& h = worker.handler;
  // A message whose payload the reply guard discarded for its size arrives
  // with a null payload (see read_oversize_payload).
  if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
      reply->element[2]->type == REDIS_REPLY_NIL && ps::iequals(reply_sv(reply->element[0]), "smessage") &&
      reply->element[1]->type == REDIS_REPLY_STRING) {
    if (h.message != nullptr) {
      h.message(reply_sv(reply->element[1]), read_oversize_payload());
    }
    return nullptr;
  }
  ps::ShardFrame f = ps::classify_shard_frame(reply);
  switch (f.kind) {
    case ps::ShardFrameKind::message:
      if (h.message != nullptr) {
        h.message(f.channel, f.payload);
      }
      return nullptr;
    case ps::ShardFrameKind::subscribed:
      if (pc->outstanding > 0) {
        pc->outstanding--;
      }
      pc->node->subscriptions = f.count > 0 ? static_cast<ngx_uint_t>(f.count) : 0;
      stats_recount();
      if (h.subscribed != nullptr) {
        h.subscribed(f.channel);
      }
      return nullptr;
    case ps::ShardFrameKind::unsubscribed: {
      pc->node->subscriptions = f.count > 0 ? static_cast<ngx_uint_t>(f.count) : 0;
      stats_recount();
      std::string name(f.channel);
      if (pc->node->channels.count(name) != 0) {
        // Not asked for: the channel's slot left this node.
        cluster_request_refresh();
        return "a shard channel's slot moved away";
      }
      if (pc->outstanding > 0) {
        pc->outstanding--;
      }
      if (h.unsubscribed != nullptr) {
        h.unsubscribed(f.channel);
      }
      return nullptr;
    }
    case ps::ShardFrameKind::error: {
      ngx_uint_t skipped = 0;
      if (worker.map_log.allow(&skipped)) {
        ngx_log_error(NGX_LOG_WARN, ps_log(), 0,
                      "portfolio_stream: Redis Cluster: %s answered a shard subscription with \"%*s\"; "
                      "reading the slot map again%s",
                      pc->node->where.c_str(), int(f.payload.size()), f.payload.data(),
                      suppressed_note(skipped).buf);
      }
      pc->fail_logged = true;
      cluster_request_refresh();
      return "error reply to SSUBSCRIBE";
    }
    case ps::ShardFrameKind::other:
      break;
  }
  ngx_log_error(NGX_LOG_ERR, ps_log(), 0, "portfolio_stream: unexpected Redis shard pub/sub reply (type %d)",
                reply->type);
  return nullptr;
}

void gc_post() {
  if (!worker.gc_ev.posted && !worker.exiting) {
    ngx_post_event(&worker.gc_ev, &ngx_posted_events);
  }
}

void on_gc(ngx_event_t*) noexcept {
  for (std::size_t i = 0; i < worker.nodes.size();) {
    ps_node* n = worker.nodes[i].get();
    if (!n->retired || n->cmd.ac != nullptr || n->sub.ac != nullptr) {
      i++;
      continue;
    }
    conn_stop_timers(&n->cmd);
    conn_stop_timers(&n->sub);
    // Lookups that were redirected to it route by their key again.
    for (ngx_queue_t* l = ngx_queue_head(&worker.deadlines); l != ngx_queue_sentinel(&worker.deadlines);
         l = ngx_queue_next(l)) {
      auto* q = ngx_queue_data(l, ngx_ps_get_t, dlink);
      if (q->target == n) {
        q->target = nullptr;
        q->asking = 0;
      }
    }
    worker.nodes.erase(worker.nodes.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

void cluster_start() {
  loaded.reset();
  resetting = false;
  try {
    for (const auto& [host, port] : worker.seeds) {
      if (find_node(host, port, true) == nullptr) {
        node_add(host, port, std::string(), true);
      }
    }
  } catch (...) {
    ngx_log_error(NGX_LOG_ALERT, ps_log(), 0, "portfolio_stream: Redis Cluster: out of memory");
  }
  worker.refresh->request();
  for (const auto& n : worker.nodes) {
    conn_start(&n->cmd);
  }
}

void on_refresh(ngx_event_t*) noexcept { kick(); }

void cluster_request_refresh() {
  if (!worker.cluster || worker.exiting || !worker.refresh) {
    return;
  }
  worker.refresh->request();
  kick();
}

ps_node* cluster_node_of_index(ps::ClusterNodeIndex i) {
  const ps::ClusterNode* cn = worker.map ? worker.map->node(i) : nullptr;
  if (cn == nullptr || !cn->known_endpoint || cn->port == 0) {
    return nullptr;
  }
  try {
    return start_master(*cn);  // a node only a MOVED/ASK named: connect to it
  } catch (...) {
    return nullptr;
  }
}

ps::ClusterNodeIndex cluster_index_of(const ps_node* node) {
  return worker.map ? index_of(node) : ps::kNoClusterNode;
}

ps_node* cluster_route(std::string_view key) {
  if (!worker.map) {
    return nullptr;
  }
  ps::ClusterNodeIndex i = worker.map->key_owner(key);
  return i == ps::kNoClusterNode ? nullptr : cluster_node_of_index(i);
}

void cluster_conn_up(ps_conn* pc) {
  if (pc->is_cmd) {
    kick();
  } else {
    notify_maybe_up();
  }
}

void cluster_conn_lost(ps_conn* pc, bool was_ready) {
  if (!worker.notified_any) {
    notify_down();  // e.g. no seed reachable at start: stats say degraded, not nothing
  }
  if (pc->node->seed) {
    return;
  }
  if (!pc->is_cmd) {
    if (was_ready) {
      reset_subs("resubscribing after a lost shard connection");
    } else {
      notify_down();  // a shard that cannot be reached keeps the worker degraded
    }
  }
  cluster_request_refresh();  // a master may have failed over
}

bool cluster_sub_ready() {
  if (!worker.map || !worker.refresh || !worker.map->complete() || worker.refresh->requested() ||
      worker.refresh->in_flight()) {
    return false;
  }
  for (ps::ClusterNodeIndex i : worker.map->masters()) {
    const ps::ClusterNode* cn = worker.map->node(i);
    ps_node* n = cn != nullptr ? find_node(cn->host, cn->port, false) : nullptr;
    if (n == nullptr || n->sub.state != conn_state::ready) {
      return false;
    }
  }
  return true;
}

bool shard_send_ping(ps_conn* pc) {
  try {
    return shard_write(pc, {"PING"}, {4});
  } catch (...) {
    return false;
  }
}

void cluster_pubsub(const std::string_view* channels, std::size_t n, bool subscribe) {
  // While the hub believes pub/sub is down it resubscribes everything at
  // state(true): nothing to send now (as with one Redis).
  if (!worker.running || n == 0 || !worker.notified_up || !worker.map) {
    return;
  }
  try {
    if (!subscribe) {
      // To the node that holds the subscription, whatever the map says now;
      // one channel per SUNSUBSCRIBE, as channels of two slots cannot share one.
      for (std::size_t i = 0; i < n; i++) {
        std::string name(channels[i]);
        for (const auto& node : worker.nodes) {
          auto it = node->channels.find(name);
          if (it == node->channels.end()) {
            continue;
          }
          node->channels.erase(it);
          if (node->sub.state == conn_state::ready &&
              shard_write(&node->sub, {"SUNSUBSCRIBE", name.data()}, {12, name.size()})) {
            conn_owe(&node->sub, 1);
          }
          break;
        }
      }
      return;
    }
    for (const ps::SlotBatch& b : ps::group_by_slot(*worker.map, channels, n)) {
      ps_node* node = b.node == ps::kNoClusterNode ? nullptr : cluster_node_of_index(b.node);
      if (node == nullptr || node->sub.state != conn_state::ready) {
        // The hub was told up but this shard is not: make sure it hears
        // down and up again, and resubscribes then.
        reset_subs("resubscribing: a shard connection is not ready");
        cluster_request_refresh();
        return;
      }
      std::vector<const char*> argv{"SSUBSCRIBE"};
      std::vector<std::size_t> lens{10};
      for (std::size_t i : b.items) {
        argv.push_back(channels[i].data());
        lens.push_back(channels[i].size());
      }
      if (!shard_write(&node->sub, argv, lens)) {
        continue;  // being torn down: its ev_cleanup resets the rest
      }
      for (std::size_t i : b.items) {
        node->channels.emplace(channels[i]);
      }
      conn_owe(&node->sub, b.items.size());
    }
  } catch (...) {
    ngx_log_error(NGX_LOG_ALERT, ps_log(), 0, "portfolio_stream: SSUBSCRIBE failed: out of memory");
  }
}

}  // namespace ngx_ps_redis_internal
