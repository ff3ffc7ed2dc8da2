// Counters, limits and stats of all workers: the shared-memory zone
// (portfolio_stream_zone). Every counter is declared once, in
// NGX_PS_COUNTERS: the zone layout, the JSON and the Prometheus names all
// come from that list.
#pragma once

#include "ngx_ps_module.h"

// X(enum name, JSON section, JSON field, Prometheus name, help)
// A section of "" keeps a counter out of the JSON (SPEC section 5 lists its
// fields exactly) and in the Prometheus output only.
#define NGX_PS_COUNTERS(X)                                                                                   \
  X(events_received, "events", "received", "portfolio_stream_events_received_total",                         \
    "Events received from Redis pub/sub")                                                                    \
  X(events_delivered, "events", "delivered", "portfolio_stream_events_delivered_total",                      \
    "Events handed to connections (one per event per connection; coalesced ones included)")                  \
  X(events_coalesced, "events", "coalesced", "portfolio_stream_events_coalesced_total",                      \
    "Events replaced by a newer one of the same key before being written")                                   \
  X(events_invalid, "events", "invalid", "portfolio_stream_events_invalid_total",                            \
    "Published events dropped: invalid JSON, unknown type or over max_event_size")                           \
  X(frames_sent, "frames", "sent", "portfolio_stream_frames_sent_total", "Frames written to clients")        \
  X(event_frames_sent, "", "eventFrames", "portfolio_stream_event_frames_sent_total",                        \
    "Frames carrying events written to clients")                                                             \
  X(bytes_sent, "frames", "bytesSent", "portfolio_stream_bytes_sent_total", "Bytes written to clients")      \
  X(connections_accepted, "connections", "accepted", "portfolio_stream_connections_accepted_total",          \
    "WebSocket connections upgraded")                                                                        \
  X(connections_closed, "connections", "closed", "portfolio_stream_connections_closed_total",                \
    "WebSocket connections closed")                                                                          \
  X(slow_consumer_drops, "connections", "slowConsumerDrops", "portfolio_stream_slow_consumer_drops_total",   \
    "Connections closed with 1008 for exceeding portfolio_stream_send_limit")                                \
  X(rejected_bad_handshake, "rejected", "badHandshake", "portfolio_stream_rejected_bad_handshake_total",     \
    "Handshakes rejected with 400 or 426")                                                                   \
  X(rejected_forbidden_origin, "rejected", "forbiddenOrigin",                                                \
    "portfolio_stream_rejected_forbidden_origin_total", "Handshakes rejected with 403 (Origin)")             \
  X(rejected_unauthorized, "rejected", "unauthorized", "portfolio_stream_rejected_unauthorized_total",       \
    "Handshakes rejected with 401 (cookie or session)")                                                      \
  X(rejected_per_user_limit, "rejected", "perUserLimit", "portfolio_stream_rejected_per_user_limit_total",   \
    "Handshakes rejected with 429 (max_connections_per_user)")                                               \
  X(rejected_global_limit, "rejected", "globalLimit", "portfolio_stream_rejected_global_limit_total",        \
    "Handshakes rejected with 503 (max_connections)")                                                        \
  X(rejected_disabled, "rejected", "disabled", "portfolio_stream_rejected_disabled_total",                   \
    "Handshakes rejected with 503 (feature off)")                                                            \
  X(rejected_redis_unavailable, "rejected", "redisUnavailable",                                              \
    "portfolio_stream_rejected_redis_unavailable_total", "Handshakes rejected with 503 (Redis unavailable)") \
  X(redis_reconnects, "redis", "reconnects", "portfolio_stream_redis_reconnects_total",                      \
    "Redis connections re-established after a loss")

enum class ngx_ps_stat : unsigned {
#define NGX_PS_ENUM(name, section, field, prom, help) name,
  NGX_PS_COUNTERS(NGX_PS_ENUM)
#undef NGX_PS_ENUM
      count
};

// Adds to a counter of this worker's slot (lock-free; no-op without a zone).
void ngx_ps_stat_add(ngx_ps_stat stat, ngx_atomic_int_t n);
// An event written to a client: ts (ms since epoch) to now feeds latencyMs.
void ngx_ps_stat_latency(std::int64_t age_ms);
// A WebSocket connection ended after duration_ms.
void ngx_ps_stat_closed(ngx_msec_t duration_ms);
// This worker's pub/sub connection state and subscription count.
void ngx_ps_stat_redis(bool connected, ngx_uint_t subscriptions);

// Takes the per-user and global slots before the 101: NGX_OK, or the HTTP
// status to answer (429; 503 with Retry-After set) after counting it.
ngx_int_t ngx_ps_limits_acquire(ngx_http_request_t* r, std::string_view user_id,
                                ngx_http_portfolio_stream_loc_conf_t* lcf);
// Gives the slots back (every way a connection ends).
void ngx_ps_limits_release(std::string_view user_id);

// Adds the shared zone (from init_main_conf).
char* ngx_ps_zone_add(ngx_conf_t* cf, ngx_http_portfolio_stream_main_conf_t* pmcf);
// Per worker: claims the worker's slot and clears what a dead predecessor left.
ngx_int_t ngx_ps_zone_init_process(ngx_cycle_t* cycle);
// Per worker at exit, after the hub has closed its connections: retires the
// worker's slot (its counters stay in the totals; anything still held is
// given back). Without it, a dead worker's slot is reclaimed lazily.
void ngx_ps_zone_exit_process(ngx_cycle_t* cycle);

ngx_int_t ngx_http_portfolio_stream_stats_handler(ngx_http_request_t* r);
