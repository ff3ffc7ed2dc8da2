// hiredis 0.14 on nginx's event loop: the state shared by the files of the
// Redis adapter, private to them. See ngx_ps_redis.h for the contract.
//
//   ngx_ps_redis.cpp         per-worker start and stop, stats
//   ngx_ps_redis_parse.cpp   the arguments of portfolio_stream_redis
//   ngx_ps_redis_conn.cpp    connections: events, connect and handshake,
//                            timers, backoff, teardown
//   ngx_ps_redis_get.cpp     session lookups on the command connection
//   ngx_ps_redis_pubsub.cpp  pub/sub: (un)subscribe, the health channel,
//                            replies, state notifications
//
// Ownership and lifetimes, in one place:
// - hiredis owns each redisAsyncContext and its fd. We wrap the fd in an nginx
//   connection only to get events; that connection is released in hiredis'
//   ev.cleanup hook (which runs inside __redisAsyncFree, right before hiredis
//   closes the fd), with the events deleted and c->fd set to -1 so that nginx
//   never closes it (and ngx_worker_process_exit does not see a leaked socket).
// - hiredis calls our reply callbacks with reply == NULL while it frees a
//   context, from inside redisAsyncHandleRead/Write or redisAsyncFree. Nothing
//   reconnects from there: reconnects run from a timer, answers to lookups
//   that lost their connection and pub/sub state changes from posted events.
// - A lookup (ngx_ps_get_t) is heap memory owned by the adapter
//   (ngx_ps_redis_get.cpp). While hiredis holds it as privdata (in_redis) it
//   stays alive even after its handler ran or it was cancelled (done); the
//   reply or the context's teardown frees it.
// - Liveness: the pub/sub connection counts as up only once Redis answered a
//   SUBSCRIBE of our own health channel, and it re-sends that SUBSCRIBE when
//   idle (on_probe) so that a Redis that stopped answering is noticed by the
//   reply watchdog although an idle subscriber owes nothing (ps_redis::health).
// - Every connection timer is cancelable: a shutting-down worker must not wait
//   for Redis. Only the lookup deadline timer, set while lookups are pending,
//   holds it, for at most connect_timeout, like an upstream request would.
#pragma once

// hiredis before nginx's headers (ngx_ps_nginx.h).
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "cluster_map.h"

#include "ngx_ps_nginx.h"
#include "ngx_ps_log_limiter.h"
#include "ngx_ps_redis.h"

namespace ngx_ps_redis_internal {

constexpr ngx_msec_t kBackoffMin = 100;
constexpr ngx_msec_t kBackoffMax = 3000;
// Repeated failures are logged at most this often, so a Redis that stays down
// costs one log line per backoff cap rather than one per attempt.
constexpr ngx_msec_t kLogEvery = kBackoffMax;
// Pub/sub only: for this long after losing a connection that had proved
// itself, the retry base delay stays at most kFastBase (jittered to
// kFastBase/2..1.5*kFastBase) instead of doubling up to kBackoffMax. Every
// event published while we are unsubscribed is lost, and a restarting Redis
// is usually back within a second or two; the window is short and only
// opens after a connection that lasted kBackoffMax and answered, so a
// flapping Redis still gets the full backoff.
constexpr ngx_msec_t kFastWindow = kBackoffMax;
constexpr ngx_msec_t kFastBase = 400;
constexpr ngx_uint_t kMaxLookups = 10000;
// Deliveries one pub/sub read event may lead to before it yields the loop
// turn (ngx_ps_pubsub_handler_t::work): a few milliseconds of work.
constexpr std::uint64_t kTurnWork = 16384;

enum class conn_state { down, connecting, handshake, ready };

// Redis trouble is logged at most once per backoff cap.
struct log_limiter : ngx_ps_log_limiter {
  log_limiter() : ngx_ps_log_limiter(kLogEvery) {}
};

struct ps_node;
struct conn_guard;  // ngx_ps_redis_read.cpp

struct ps_conn {
  const char* name;  // for log lines: "command" or "pub/sub"
  bool is_cmd;
  // Cluster pub/sub: SSUBSCRIBE frames (src/shard_pubsub.h), dispatched by
  // shard_frame (ngx_ps_redis_cluster.cpp) instead of sub_frame.
  bool shard;
  ps_node* node;          // the Redis node this connection talks to
  conn_guard* guard;      // its reply guard (ngx_ps_redis_read.cpp), owned by node
  redisAsyncContext* ac;  // nullptr while down
  ngx_connection_t* c;    // our event wrapper around ac->c.fd
  conn_state state;

  // Connecting/handshake: the connect_timeout deadline. Ready: a watchdog
  // that tears the connection down when replies are owed and nothing arrived
  // for connect_timeout (a Redis that accepts but never answers, or a dead
  // peer that TCP has not noticed yet). Re-armed lazily, never per reply.
  ngx_event_t timer;
  ngx_event_t retry;  // backoff before the next connect attempt
  // Pub/sub only, while ready: the idle health check (on_probe). An idle
  // subscriber owes no reply, so without it the watchdog above would never
  // notice a Redis that stopped answering (SIGSTOP, a hung host: TCP is
  // still acked, keepalive stays quiet).
  ngx_event_t probe;

  ngx_msec_t backoff;        // current base delay; doubled per failure
  ngx_msec_t fast_until;     // pub/sub: retries capped at kFastBase until then
  bool fast;                 // ...and that window is open
  ngx_msec_t up_since;       // when it became ready
  ngx_msec_t last_progress;  // last reply, or when replies became owed
  ngx_uint_t outstanding;    // replies owed: GETs, or (un)subscribe confirmations
  ngx_uint_t handshake;      // AUTH/SELECT replies still due
  ngx_uint_t attempts;       // failed attempts since the last ready state
  bool ever_ready;           // a later ready state counts as a reconnect
  bool answered;             // got a reply on this context: it really worked
  const char* fail;          // why we tore it down ourselves (static text)
  bool fail_logged;          // ...and it is logged already
  log_limiter fail_log;
  log_limiter up_log;
};

struct conn_guard_deleter {
  void operator()(conn_guard* g) const noexcept;  // ngx_ps_redis_read.cpp
};

enum class functions_state { unknown, ok, missing };

// One Redis node: with portfolio_stream_redis the only one; with
// portfolio_stream_redis_cluster a master of the slot map (command and
// shard pub/sub connection) or a seed (command connection only, to read
// the slot map). Heap-allocated and never moved: hiredis and nginx events
// hold pointers to its connections. A node that left the map is retired:
// its connections are closed and it is freed (gc) once both are down.
struct ps_node {
  std::string host;
  std::string unix_path;
  int port = 0;
  std::string where;  // "host:port" / "unix:/path" for log lines
  bool seed = false;  // cluster: only reads the slot map
  bool retired = false;

  ps_conn cmd;
  ps_conn sub;
  std::unique_ptr<conn_guard, conn_guard_deleter> guards[2];

  // The Redis Functions libraries on this node (SPEC sections 8 and 9):
  // loaded per master, a cluster does not share them.
  functions_state functions = functions_state::unknown;        // portfolio_stream (history)
  functions_state fleet_functions = functions_state::unknown;  // portfolio_stream_fleet

  // Cluster: the channels we sent SSUBSCRIBE for and no SUNSUBSCRIBE since,
  // on this shard's current pub/sub context: where to send a SUNSUBSCRIBE,
  // and an unasked sunsubscribe (the slot moved) told from ours. Empty with
  // one Redis, whose hub table alone knows what is subscribed.
  std::unordered_set<std::string> channels;
  ngx_uint_t subscriptions = 0;  // confirmed, as Redis counts them
};

struct ps_redis {
  bool running;  // between init_process and exit_process
  bool exiting;  // exit_process ran: teardown callbacks must not react

  std::string username;
  std::string password;
  ngx_int_t db;
  ngx_msec_t timeout;

  // portfolio_stream_redis: one node. portfolio_stream_redis_cluster: the
  // masters of the slot map, plus seeds while the map is being read.
  bool cluster;
  std::vector<std::unique_ptr<ps_node>> nodes;
  // Cluster: the configured seeds ("host", port), the slot map and when to
  // read it again (ngx_ps_redis_cluster.cpp).
  std::vector<std::pair<std::string, int>> seeds;
  std::unique_ptr<ps::ClusterMap> map;
  std::unique_ptr<ps::SlotMapRefresh> refresh;
  ngx_event_t refresh_ev;  // SlotMapRefresh's next_due, and TRYAGAIN retries
  ngx_event_t gc_ev;       // frees retired nodes once their connections are down
  ngx_event_t retry_ev;    // lookups that got TRYAGAIN wait for it
  log_limiter map_log;

  ngx_ps_pubsub_handler_t handler;

  // "portfolio_stream:health:<pid>": a channel of our own that every pub/sub
  // context SUBSCRIBEs to first and keeps for its whole life (see
  // sub_frame). Its "subscribe" reply is what makes the connection ready,
  // and re-sending the SUBSCRIBE is the idle health check: Redis answers
  // every SUBSCRIBE, even of a channel already subscribed. (Chosen when
  // replies still went through hiredis 0.14's callbacks, where PING could
  // not do it; kept because operators' ACLs name this channel.) The hub
  // never sees it.
  std::string health;

  ps_conn cmd;
  ps_conn sub;

  // Lookups by deadline. All share one timeout, so creation order is
  // deadline order: one timer for the head replaces a timer per lookup.
  ngx_queue_t deadlines;
  ngx_queue_t waiting;  // not sent yet: the command connection is not ready
  ngx_queue_t answers;  // lost their connection: answered from answer_ev
  ngx_uint_t live;      // allocated lookups, for the cap
  ngx_event_t deadline_ev;
  ngx_event_t answer_ev;

  ngx_event_t notify_ev;
  bool notify_down;  // a ready pub/sub connection was lost since the last notify
  bool notified_up;  // the handler was last told state(true)
  // The handler was told anything at all. A worker whose pub/sub connection
  // never came up (Redis down, or hung: it accepts and never answers) is told
  // state(false) at its first failed attempt, so the stats report it degraded
  // instead of not reporting at all (the hub reports on state changes).
  bool notified_any;

  log_limiter error_log;  // error replies to GET
  log_limiter cap_log;    // too many lookups

  // SPEC sections 8 and 9: the Redis Functions libraries, checked on each
  // node's command connection (ngx_ps_redis_functions.cpp).
  bool history;  // some location has history on: check its library
  bool fleet;    // limit_scope fleet: check its library
  log_limiter functions_log;

  ngx_ps_redis_stats_t stats;
};

// The adapter's state, one per worker process (ngx_ps_redis.cpp).
extern ps_redis worker;

// ", 5 similar messages suppressed" or "": most lines have nothing to report.
struct suppressed_note {
  char buf[64];
  explicit suppressed_note(ngx_uint_t n) {
    u_char* end = reinterpret_cast<u_char*>(buf);
    if (n != 0) {
      end = ngx_snprintf(end, sizeof(buf) - 1, ", %ui similar messages suppressed", n);
    }
    *end = '\0';
  }
};

inline ngx_log_t* ps_log() { return ngx_cycle->log; }

// A reply's text (bulk string, status or error), or "" for other types.
inline std::string_view reply_sv(const redisReply* r) {
  return (r != nullptr &&
          (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR))
             ? std::string_view(r->str, r->len)
             : std::string_view();
}

}  // namespace ngx_ps_redis_internal

// A lookup: a session GET, or a history read (FCALL portfolio_stream_read).
struct ngx_ps_get_t {
  ngx_queue_t dlink;  // in worker.deadlines while the outcome is undecided
  ngx_queue_t qlink;  // in worker.waiting or worker.answers
  ngx_msec_t deadline;
  ngx_ps_get_handler_pt handler;        // GET
  ngx_ps_read_handler_pt read_handler;  // history read
  void* data;
  ngx_ps_fcall_handler_pt fcall_handler;  // fleet call
  std::uint32_t arg_lens[4];              // read: channel, since, count, ttl (in key[], in order)
  std::uint32_t argc;                     // fleet call: its arguments, in key[], lengths after them
  unsigned is_read : 1;
  unsigned is_fcall : 1;
  unsigned in_deadlines : 1;
  unsigned in_waiting : 1;
  unsigned in_answers : 1;
  unsigned in_redis : 1;  // hiredis holds it as privdata
  unsigned done : 1;      // outcome decided (answered, expired, cancelled)
  unsigned held : 1;      // its handler is running: do not free under it
  unsigned asking : 1;    // cluster: precede it with ASKING (an ASK redirect)
  // Cluster: the node a MOVED/ASK named (else the key's slot owner), and
  // how many redirects it has followed.
  ngx_ps_redis_internal::ps_node* target;
  ps::RedirectBudget budget;
  std::size_t key_len;
  char key[1];
};

namespace ngx_ps_redis_internal {

// ---- ngx_ps_redis_conn.cpp ----------------------------------------------------

void conn_init(ps_conn* pc, ps_node* node, const char* name, bool is_cmd, ngx_log_t* log);
void conn_start(ps_conn* pc);
void conn_ready(ps_conn* pc);
void conn_owe(ps_conn* pc, ngx_uint_t n);
void conn_progress(ps_conn* pc);
// Tears the context down (deferred by hiredis inside its callbacks);
// ev_cleanup does the rest and logs why.
void conn_fail(ps_conn* pc, const char* why);
// Redis refused a handshake step (`what`: "AUTH", "SELECT", "SUBSCRIBE", "PING"):
// logs its words, rate-limited, and marks the failure as logged. Not
// conn_progress(): a refusal must keep the backoff and the log limiter
// running, or a wrong password would retry at the minimum delay forever.
void conn_log_refusal(ps_conn* pc, const char* what, const redisReply* reply);
// AUTH [username] password (when there is a password): fills argv/lens,
// returns the argument count.
std::size_t auth_argv(const char* argv[3], std::size_t lens[3]);
// Bytes were appended to the context's output buffer behind hiredis' back
// (redisAppendCommandArgv): have them written.
void conn_want_write(ps_conn* pc);
// Stops the connection's timers (exit, a retired node).
void conn_stop_timers(ps_conn* pc);

// ---- ngx_ps_redis.cpp ---------------------------------------------------------

// A new node (connections initialised, not started). Throws std::bad_alloc.
ps_node* node_add(const std::string& host, int port, const std::string& unix_path, bool seed);
// portfolio_stream_redis: the one node.
inline ps_node* single_node() { return worker.nodes.empty() ? nullptr : worker.nodes.front().get(); }
// The stats' subscription count, from every node.
void stats_recount();

// ---- ngx_ps_redis_get.cpp -----------------------------------------------------

void get_maybe_free(ngx_ps_get_t* q);
void get_unlink(ngx_ps_get_t* q);
void cmd_flush_waiting();
void on_deadline(ngx_event_t*) noexcept;
void on_answers(ngx_event_t*) noexcept;
void on_lookup_retry(ngx_event_t*) noexcept;  // TRYAGAIN: flush the waiting lookups

// ---- ngx_ps_redis_pubsub.cpp --------------------------------------------------

// Every pub/sub connection (one Redis, or a cluster shard's) writes its
// commands raw into the context's output buffer and reads its frames with
// pubsub_dispatch (from read_once), never through hiredis' async callbacks.
bool pubsub_write(ps_conn* pc, std::size_t argc, const char** argv, const std::size_t* lens);
// AUTH when there is a password, then the health SUBSCRIBE (a shard: PING);
// counted in pc->handshake, ready at the last answer.
bool pubsub_send_handshake(ps_conn* pc);
bool sub_send_health(ps_conn* pc);
void pubsub_dispatch(ps_conn* pc);
// A reply while pc is in its handshake (sub_frame, shard_frame): ready at
// the last answer; an error is logged in Redis' words and returns why to
// drop the connection.
const char* pubsub_handshake_reply(ps_conn* pc, const redisReply* reply);

// ---- ngx_ps_redis_cluster.cpp -------------------------------------------------

// Starts reading the slot map from the seeds.
void cluster_start();
// The node that should get a lookup for key (its slot's owner), or nullptr
// while the slot map does not know one.
ps_node* cluster_route(std::string_view key);
// A connection of a cluster node became ready / was lost.
void cluster_conn_up(ps_conn* pc);
void cluster_conn_lost(ps_conn* pc, bool was_ready);
// Every shard's pub/sub connection is ready on a complete, current map.
bool cluster_sub_ready();
// The map is stale (MOVED, CLUSTERDOWN, a lost node): read it again soon.
void cluster_request_refresh();
// The slot map's index of a node, or kNoClusterNode.
ps::ClusterNodeIndex cluster_index_of(const ps_node* node);
// The master at index i of the map (created and connecting when new, e.g.
// one only a MOVED named), or nullptr.
ps_node* cluster_node_of_index(ps::ClusterNodeIndex i);
// Shard pub/sub: the idle probe (PING), and one frame read by
// pubsub_dispatch; returns why to drop the connection, or nullptr.
bool shard_send_ping(ps_conn* pc);
const char* shard_frame(ps_conn* pc, const redisReply* reply);
void cluster_pubsub(const std::string_view* channels, std::size_t n, bool subscribe);
void on_refresh(ngx_event_t* ev) noexcept;
void on_gc(ngx_event_t* ev) noexcept;
void gc_post();

// ---- ngx_ps_redis_functions.cpp -----------------------------------------------

// Sends the checks of the wanted libraries as part of the command
// connection's handshake (counted in pc->handshake); false when one could
// not be sent.
bool functions_send_check(ps_conn* pc);
// A call answered "ERR Function not found" (FUNCTION FLUSH/DELETE, a Redis
// restarted without its data on the same connection): load the library
// again on that node; its calls fail until it is back.
void functions_lost(ps_node* node, bool fleet);
void on_probe(ngx_event_t* ev) noexcept;
void on_notify(ngx_event_t*) noexcept;

}  // namespace ngx_ps_redis_internal
