// The two bodies of the stats endpoint (SPEC sections 5 and 8): JSON and
// Prometheus text exposition 0.0.4, rendered from plain numbers. nginx-free;
// module/http/ngx_ps_stats_handler.cpp fills StatsInput (from the shared
// zone's snapshot and the configuration) and sends the string.
//
// Field choices where the contract is silent:
//  * status: "disabled" when StatsInput::disabled, else "degraded" when some
//    live worker reports its pub/sub connection lost, else "healthy".
//  * redis.connected: at least one live worker reports its pub/sub
//    connection up and none reports it lost (a worker that has not reported
//    yet, e.g. just started, counts for neither).
//  * batchEfficiency: "0.0%" until something was delivered.
//  * avgConnectionDurationSeconds: whole seconds (half up) over the
//    connections closed with a duration: closed - reclaimed (the connections
//    of a dead worker are counted closed but have none); 0 before the first.
//  * disconnectRatePerMinute: disconnects_last_60s, two decimals.
//  * latencyMs: p50/p99 are histogram bucket midpoints (within 6.25%),
//    never above max, which is exact; one decimal each, as JSON numbers.
//  * history (SPEC section 8): placed after latencyMs.
//  * uptimeSeconds, limits: as given.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "stats_counters.h"
#include "stats_format.h"

namespace ps::stats {

// Stages of an event's way (issue 16), in microseconds, Prometheus only (the
// JSON keeps SPEC section 5's latencyMs): publisher ts to the worker reading
// it (ms resolution: the publisher's clock), read to queued on the
// connection (parsing, dispatch and the batch window), queued to handed to
// the kernel (the connection's backlog).
enum Stage : unsigned { stage_redis, stage_dispatch, stage_write, kStages };
const char* stage_name(Stage s) noexcept;  // "redis", "dispatch", "write"

// What the shared zone holds, summed over all workers (a consistent copy).
// Trivially copyable; zero-initialised means "nothing happened yet".
struct Snapshot {
  std::uint64_t counters[kCounters];              // indexed by Counter
  std::uint64_t closed_ms;                        // total duration of closed connections
  std::uint64_t reclaimed;                        // of the closed: connections of dead workers, no duration
  std::uint64_t active_connections;               // exact, all workers
  std::uint64_t active_users;                     // users with >= 1 connection
  std::uint64_t disconnects_last_60s;             // connections closed in the last 60 s
  std::uint64_t subscriptions;                    // Redis channels, sum over live workers
  std::uint64_t workers;                          // live worker slots, not exiting
  std::uint64_t redis_up;                         // ... of which report pub/sub connected
  std::uint64_t redis_down;                       // ... of which report pub/sub lost
  std::uint64_t latency[kLatencyBuckets];         // counts per latency_bucket(), recent window(s)
  std::uint64_t latency_max_ms;                   // exact maximum of those samples
  std::uint64_t stage[kStages][kLatencyBuckets];  // the same, per stage, in microseconds
  std::uint64_t stage_max_us[kStages];
  std::uint64_t uptime_seconds;  // since the zone was created
  std::uint64_t zone_size;       // bytes
  std::uint64_t zone_free;       // bytes in free slab pages
};

// Everything both bodies are made of.
struct StatsInput {
  Snapshot zone;
  bool disabled;                           // feature off, or no stream location configured
  std::uint64_t max_connections;           // portfolio_stream_max_connections
  std::uint64_t max_connections_per_user;  // of the stats location
};

// "healthy", "degraded" or "disabled" (a static string).
std::string_view status(const StatsInput& in) noexcept;
// redis.connected (see above).
bool redis_connected(const Snapshot& s) noexcept;

// The JSON document of SPEC section 5 (plus "history"), one line ending in
// "\n". Every field is always present. Throws std::bad_alloc only.
std::string render_json(const StatsInput& in);
// Prometheus text exposition 0.0.4: every counter of PS_STATS_COUNTERS (in
// list order), then derived counters and gauges; each family has one HELP
// and one TYPE line. Throws std::bad_alloc only.
std::string render_prometheus(const StatsInput& in);

}  // namespace ps::stats
