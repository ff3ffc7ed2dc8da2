// The counters of the stats endpoint (SPEC sections 5 and 8), declared once:
// the enum that indexes them, the shared zone's layout (module/shm), the
// JSON fields and the Prometheus families all come from PS_STATS_COUNTERS.
// Every counter is a monotonic sum over all workers. nginx-free.
#pragma once

#include <cstddef>

// X(enum name, JSON section, JSON field, Prometheus name, help)
// A section of "" keeps a counter out of the JSON (SPEC section 5 lists its
// fields exactly) and in the Prometheus output only. Prometheus families
// come out in this order; JSON fields in this order within their section
// (the sections' order is fixed by stats_render.cpp). Appending a counter
// changes the zone's layout: bump kLayoutVersion in module/shm/ngx_ps_zone.cpp.
#define PS_STATS_COUNTERS(X)                                                                                 \
  X(events_received, "events", "received", "portfolio_stream_events_received_total",                         \
    "Events received from Redis pub/sub")                                                                    \
  X(events_delivered, "events", "delivered", "portfolio_stream_events_delivered_total",                      \
    "Events handed to connections (one per event per connection; coalesced ones included)")                  \
  X(events_coalesced, "events", "coalesced", "portfolio_stream_events_coalesced_total",                      \
    "Events replaced by a newer one of the same key before being written")                                   \
  X(events_invalid, "events", "invalid", "portfolio_stream_events_invalid_total",                            \
    "Published events dropped: invalid JSON, unknown type or over max_event_size")                           \
  X(events_conflated, "events", "conflated", "portfolio_stream_events_conflated_total",                      \
    "Queued position/account updates replaced by a newer one for the same key while the client lagged")      \
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
    "Redis connections re-established after a loss")                                                         \
  X(history_replayed, "history", "replayed", "portfolio_stream_history_replayed_total",                      \
    "Events replayed from history to connections")                                                           \
  X(history_recovered, "history", "recovered", "portfolio_stream_history_recovered_total",                   \
    "Resumes and outage recoveries that got every missed event")                                             \
  X(history_not_recovered, "history", "notRecovered", "portfolio_stream_history_not_recovered_total",        \
    "Resumes and outage recoveries that could not get every missed event (recovered:false)")

namespace ps::stats {

enum class Counter : unsigned {
#define PS_STATS_ENUM(name, section, field, prom, help) name,
  PS_STATS_COUNTERS(PS_STATS_ENUM)
#undef PS_STATS_ENUM
      count
};

inline constexpr std::size_t kCounters = static_cast<std::size_t>(Counter::count);

// Index of a counter in a kCounters array.
constexpr std::size_t index(Counter c) noexcept { return static_cast<std::size_t>(c); }

struct CounterDef {
  const char* section;  // JSON object; "" = Prometheus only
  const char* field;    // JSON member inside `section`
  const char* prom;     // Prometheus family (ends in _total)
  const char* help;     // Prometheus HELP text
};

// One entry per Counter, in enum order (static strings).
inline constexpr CounterDef kCounterDefs[kCounters] = {
#define PS_STATS_DEF(name, section, field, prom, help) {section, field, prom, help},
    PS_STATS_COUNTERS(PS_STATS_DEF)
#undef PS_STATS_DEF
};

}  // namespace ps::stats
