// hiredis on nginx's event loop: one command connection (session GETs,
// pipelined) and one pub/sub connection per worker, both reconnecting with
// backoff. Everything here runs on the worker's single thread.
#pragma once

#include "ngx_ps_nginx.h"

struct ngx_ps_redis_seed_t {
  ngx_str_t host;  // numeric, resolved at configuration time
  in_port_t port;
};

struct ngx_ps_redis_addr_t {
  // portfolio_stream_redis_cluster: the seed nodes (nseeds > 0); host,
  // port, unix_path and db are then unused.
  ngx_ps_redis_seed_t* seeds;
  ngx_uint_t nseeds;
  ngx_str_t host;  // empty with unix_path
  in_port_t port;
  ngx_str_t unix_path;         // "unix:/path" given -> "/path"
  ngx_int_t db;                // 0 when not given
  ngx_str_t username;          // ACL user, empty when not given
  ngx_str_t password;          // empty when not given
  ngx_msec_t connect_timeout;  // also bounds each GET
};

// Parses the arguments of `portfolio_stream_redis ADDR [db=N] [password=P]
// [username=U] [connect_timeout=T]` (args[0] is ADDR). On error returns a
// static message for nginx -t and leaves addr unspecified.
const char* ngx_ps_redis_parse_addr(ngx_conf_t* cf, ngx_str_t* args, ngx_uint_t nargs,
                                    ngx_ps_redis_addr_t* addr);

// Parses the arguments of `portfolio_stream_redis_cluster ADDR ...
// [password=P] [username=U] [connect_timeout=T]` (SPEC section 9): one or
// more host:port seeds, then the options. Errors as above.
const char* ngx_ps_redis_parse_cluster(ngx_conf_t* cf, ngx_str_t* args, ngx_uint_t nargs,
                                       ngx_ps_redis_addr_t* addr);

// ---- session lookups ---------------------------------------------------
enum class ngx_ps_get_result { found, missing, unavailable };

// Called exactly once per lookup that was not cancelled, never from inside
// ngx_ps_redis_get(). value is valid only during the call.
typedef void (*ngx_ps_get_handler_pt)(void* data, ngx_ps_get_result rc, std::string_view value);

struct ngx_ps_get_t;  // a pending lookup, owned by the adapter

// GET key. While the command connection is being (re)established the lookup
// waits for it, at most connect_timeout in all. Returns nullptr when the
// lookup cannot even start (too many waiting, no memory): answer 503.
ngx_ps_get_t* ngx_ps_redis_get(std::string_view key, ngx_ps_get_handler_pt handler, void* data);

// ---- history reads (SPEC section 8) -------------------------------------
// `FCALL portfolio_stream_read 1 <channel> <since> <count> <ttl>` on the
// command connection, queued and bounded like a GET. The handler gets the
// reply's elements (bulk strings; valid only during the call) with ok, or
// ok = false when Redis is unreachable, did not answer within
// connect_timeout, answered an error, or lacks the library (Redis < 7).
// Called exactly once unless cancelled, never from inside the call.
typedef void (*ngx_ps_read_handler_pt)(void* data, bool ok, const std::string_view* items, std::size_t n);
ngx_ps_get_t* ngx_ps_redis_history_read(std::string_view channel, std::string_view since, std::size_t count,
                                        ngx_ps_read_handler_pt handler, void* data);

// ---- fleet limit calls (SPEC section 9) -----------------------------------
// `FCALL <args...>` of the portfolio_stream_fleet library (args[0] is the
// function name) on the command connection, queued and bounded like a GET.
// The handler (may be null: nobody waits) gets ok and the integer reply;
// ok = false for an error reply, no library, Redis unreachable or no answer
// within connect_timeout. Called exactly once unless cancelled, never from
// inside the call. nullptr: could not even be queued (answer 503).
typedef void (*ngx_ps_fcall_handler_pt)(void* data, bool ok, long long value);
ngx_ps_get_t* ngx_ps_redis_fleet_call(const std::string_view* args, std::size_t n,
                                      ngx_ps_fcall_handler_pt handler, void* data);

// The caller went away: the handler will not be called; the reply, if it
// still comes, is discarded. Safe to call only before the handler ran.
void ngx_ps_redis_cancel(ngx_ps_get_t* get);

// ---- pub/sub -----------------------------------------------------------
struct ngx_ps_pubsub_handler_t {
  void (*message)(std::string_view channel, std::string_view payload);
  void (*subscribed)(std::string_view channel);    // a SUBSCRIBE reply
  void (*unsubscribed)(std::string_view channel);  // an UNSUBSCRIBE reply
  // false: the pub/sub connection was lost (every subscription is gone), or
  // the first attempt to establish it failed; true: it is (re)established
  // (Redis answered) with no subscriptions: resubscribe.
  void (*state)(bool up);
  // Deliveries made so far (monotonic; may be null): one read event of the
  // pub/sub connection stops reading once it has led to kTurnWork of them
  // and lets the loop turn end (writes, timers, handshakes); level-triggered,
  // the rest is read in the next turn. A burst for one user cannot hold
  // everyone else's turn.
  std::uint64_t (*work)();
};

// Queue a command on the pub/sub connection; dropped silently while it is
// down (state(true) tells the caller to resubscribe). Channels are batched:
// several channels may be given at once.
void ngx_ps_redis_subscribe(const std::string_view* channels, std::size_t n);
void ngx_ps_redis_unsubscribe(const std::string_view* channels, std::size_t n);

// Per worker: start connecting (asynchronously). exit closes both
// connections cleanly and fails pending lookups without calling handlers.
// history: some location has portfolio_stream_history on; fleet:
// portfolio_stream_limit_scope fleet: the command connection checks (and
// loads, when missing or older) that Redis Functions library before it
// serves anything.
ngx_int_t ngx_ps_redis_init_process(ngx_cycle_t* cycle, const ngx_ps_redis_addr_t* addr,
                                    const ngx_ps_pubsub_handler_t* handler, bool history, bool fleet);
void ngx_ps_redis_exit_process();

// Counters for stats.
struct ngx_ps_redis_stats_t {
  ngx_uint_t reconnects;
  ngx_uint_t subscriptions;  // channels currently subscribed (confirmed)
};
const ngx_ps_redis_stats_t* ngx_ps_redis_stats();
