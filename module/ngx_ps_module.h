// Declarations every part of module/ shares: the configuration and a few
// module-wide helpers. The connection (ws/ngx_ps_conn.h), the hub
// (ws/ngx_ps_hub.h), the zone (shm/) and Redis (redis/) have their own.
#pragma once

#include "ws_session.h"

#include "ngx_ps_redis.h"

extern "C" {
extern ngx_module_t ngx_http_portfolio_stream_module;
}

// Where a location's "portfolio_stream" directive is: configuration messages
// that run after parsing (the namespace check) name it.
struct ngx_ps_conf_where_t {
  ngx_str_t location;  // the location's name
  ngx_str_t file;
  ngx_uint_t line;
};

struct ngx_http_portfolio_stream_main_conf_t {
  ngx_ps_redis_addr_t redis;
  ngx_flag_t redis_set;
  ssize_t zone_size;
  ngx_int_t max_connections;
  size_t max_event_size;
  ngx_str_t control_channel;     // logout pushes (portfolio_stream_control_channel); empty: none
  ngx_uint_t limit_scope;        // portfolio_stream_limit_scope: 0 instance, 1 fleet
  ngx_flag_t limit_fleet;        // limit_scope fleet (merged)
  ngx_msec_t fleet_lease;        // portfolio_stream_fleet_lease
  ngx_uint_t stream_locations;   // locations with portfolio_stream on
  ngx_uint_t history_locations;  // ...of them with portfolio_stream_history on
  ngx_array_t* namespaces;       // of ngx_http_portfolio_stream_loc_conf_t*: the "on" ones, merged
};

struct ngx_http_portfolio_stream_loc_conf_t {
  ngx_flag_t enable;          // portfolio_stream on|off (location only)
  ngx_flag_t stats;           // portfolio_stream_stats
  ngx_ps_conf_where_t where;  // of "portfolio_stream" (set with it)
  ngx_uint_t origin_scheme;   // ps::OriginScheme (portfolio_stream_origin_scheme)
  ngx_int_t max_connections_per_user;
  ngx_str_t session_cookie;
  ngx_array_t* session_secrets;  // of ngx_str_t
  ngx_str_t session_prefix;
  ngx_str_t session_user_field;
  ngx_msec_t session_recheck;
  ngx_str_t channel_prefix;
  ngx_str_t broadcast_channel;
  ngx_msec_t batch_window;
  ngx_msec_t heartbeat;
  ngx_flag_t history;              // SPEC section 8: offsets, resume, replay
  ngx_int_t history_replay_limit;  // most events replayed to one connection
  ngx_flag_t conflate;             // replace queued updates of a lagging client
  ngx_msec_t close_timeout;        // a close, however it started, ends within this
  ngx_msec_t message_timeout;      // a client message's first byte to its last; 0 = off
  ngx_array_t* allowed_origins;    // of ngx_str_t; NULL: same host as Host
  ngx_flag_t any_origin;           // "*"
  size_t max_message_size;
  size_t send_limit;
  size_t send_lowat;          // TCP_NOTSENT_LOWAT of each WebSocket socket; 0 = the kernel's
  ps::SessionConfig session;  // from the values above, shared by the location's connections
};

// ---- module-wide -----------------------------------------------------------
bool ngx_ps_disabled_by_env();
ngx_int_t ngx_http_portfolio_stream_handler(ngx_http_request_t* r);
std::int64_t ngx_ps_now_ms();  // wall clock, ms since epoch
