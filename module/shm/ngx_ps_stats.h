// Counters, limits and stats of all workers: the shared-memory zone
// (portfolio_stream_zone). Every counter is declared once, in
// PS_STATS_COUNTERS (src/stats_counters.h): the zone layout, the JSON and
// the Prometheus names all come from that list.
#pragma once

#include "stats_counters.h"
#include "stats_render.h"

#include "ngx_ps_module.h"

// The counters: ps::stats::Counter under this layer's name, so that module/
// writes ngx_ps_stat_add(ngx_ps_stat::frames_sent, n).
using ngx_ps_stat = ps::stats::Counter;

// Adds to a counter of this worker's slot (lock-free; no-op without a zone).
void ngx_ps_stat_add(ngx_ps_stat stat, ngx_atomic_int_t n);
// An event written to a client: ts (ms since epoch) to now feeds latencyMs.
void ngx_ps_stat_latency(std::int64_t age_ms);
// A stage of an event's way (ps::stats::Stage), in microseconds.
void ngx_ps_stat_stage(ps::stats::Stage stage, std::int64_t us);
// A monotonic clock in microseconds, for the stages.
std::int64_t ngx_ps_now_us();
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
