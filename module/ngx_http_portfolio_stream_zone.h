// Private interface between the zone (ngx_http_portfolio_stream_zone.cpp)
// and the stats handler (ngx_http_portfolio_stream_stats.cpp): a consistent
// copy of everything the stats endpoint reports, taken under the zone mutex.
#pragma once

#include "stats_format.h"

#include "ngx_http_portfolio_stream_stats.h"

struct ngx_ps_snapshot_t {
  std::uint64_t counters[static_cast<unsigned>(ngx_ps_stat::count)];
  std::uint64_t closed_ms;           // total duration of closed connections
  std::uint64_t reclaimed;           // of the closed: connections of dead workers, no duration
  std::uint64_t active_connections;  // exact, all workers
  std::uint64_t active_users;        // users with >= 1 connection
  std::uint64_t disconnects_last_60s;
  std::uint64_t subscriptions;                        // sum over live workers
  ngx_uint_t workers;                                 // live, not exiting worker slots
  ngx_uint_t redis_up;                                // ... reporting pub/sub connected
  ngx_uint_t redis_down;                              // ... reporting pub/sub lost
  std::uint64_t latency[ps::stats::kLatencyBuckets];  // recent window(s)
  std::uint64_t latency_max_ms;
  std::uint64_t uptime_seconds;  // since the zone was created
  std::size_t zone_size;         // bytes
  std::size_t zone_free;         // bytes in free slab pages
};

// Fills s; NGX_DECLINED when this process has no zone (s zeroed).
ngx_int_t ngx_http_portfolio_stream_zone_snapshot(ngx_ps_snapshot_t* s, ngx_log_t* log);
