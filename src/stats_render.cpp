#include "stats_render.h"

namespace ps::stats {

namespace {

std::uint64_t counter(const Snapshot& s, Counter c) noexcept { return s.counters[index(c)]; }

void json_key(std::string& out, std::string_view key) {
  out += '"';
  out += key;
  out += "\":";
}

void json_uint(std::string& out, std::string_view key, std::uint64_t v) {
  json_key(out, key);
  out += std::to_string(v);
}

void json_raw(std::string& out, std::string_view key, std::string_view raw) {
  json_key(out, key);
  out += raw;
}

void json_str(std::string& out, std::string_view key, std::string_view s) {
  json_key(out, key);
  out += '"';
  out += s;  // our own ASCII texts only: nothing to escape
  out += '"';
}

// The counters of one JSON section, in list order, comma-separated.
void json_counters(std::string& out, const Snapshot& s, std::string_view section) {
  bool first = true;
  for (std::size_t i = 0; i < kCounters; i++) {
    if (section != kCounterDefs[i].section) {
      continue;
    }
    if (!first) {
      out += ',';
    }
    first = false;
    json_uint(out, kCounterDefs[i].field, s.counters[i]);
  }
}

// "name": {counters of section name}
void json_section(std::string& out, std::string_view name, const Snapshot& s) {
  json_key(out, name);
  out += '{';
  json_counters(out, s, name);
  out += '}';
}

struct Latency {
  double p50, p99, max;
};

}  // namespace

const char* stage_name(Stage st) noexcept {
  switch (st) {
    case stage_redis:
      return "redis";
    case stage_dispatch:
      return "dispatch";
    default:
      return "write";
  }
}

namespace {

Latency latency(const Snapshot& s) noexcept {
  return {latency_percentile(s.latency, 0.50, s.latency_max_ms),
          latency_percentile(s.latency, 0.99, s.latency_max_ms), static_cast<double>(s.latency_max_ms)};
}

void prom_gauge(std::string& out, std::string_view name, std::string_view help, std::uint64_t value) {
  prom_family(out, name, "gauge", help);
  prom_sample(out, name, "", value);
}

}  // namespace

std::string_view status(const StatsInput& in) noexcept {
  if (in.disabled) {
    return "disabled";
  }
  if (in.zone.redis_down > 0) {
    return "degraded";
  }
  return "healthy";
}

bool redis_connected(const Snapshot& s) noexcept { return s.redis_up > 0 && s.redis_down == 0; }

std::string render_json(const StatsInput& in) {
  const Snapshot& s = in.zone;
  const Latency lat = latency(s);
  std::string out;
  out.reserve(1024);
  out += '{';
  json_str(out, "status", status(in));
  out += ',';
  json_uint(out, "activeConnections", s.active_connections);
  out += ',';
  json_uint(out, "activeUsers", s.active_users);
  out += ',';
  json_str(out, "batchEfficiency",
           batch_efficiency(counter(s, Counter::event_frames_sent), counter(s, Counter::events_delivered)));
  out += ",\"performance\":{";
  const std::uint64_t closed = counter(s, Counter::connections_closed);
  json_uint(out, "avgConnectionDurationSeconds",
            average_seconds(s.closed_ms, closed > s.reclaimed ? closed - s.reclaimed : 0));
  out += ',';
  json_str(out, "disconnectRatePerMinute", fixed(static_cast<double>(s.disconnects_last_60s), 2));
  out += "},";
  for (std::string_view section : {"events", "frames", "connections", "rejected"}) {
    json_section(out, section, s);
    out += ',';
  }
  out += "\"redis\":{";
  json_raw(out, "connected", redis_connected(s) ? "true" : "false");
  out += ',';
  json_counters(out, s, "redis");
  out += ',';
  json_uint(out, "subscriptions", s.subscriptions);
  out += "},\"latencyMs\":{";
  json_raw(out, "p50", fixed(lat.p50, 1));
  out += ',';
  json_raw(out, "p99", fixed(lat.p99, 1));
  out += ',';
  json_raw(out, "max", fixed(lat.max, 1));
  out += "},";
  json_section(out, "history", s);
  out += ",\"limits\":{";
  json_uint(out, "maxConnections", in.max_connections);
  out += ',';
  json_uint(out, "maxConnectionsPerUser", in.max_connections_per_user);
  out += "},";
  json_uint(out, "uptimeSeconds", s.uptime_seconds);
  out += "}\n";
  return out;
}

std::string render_prometheus(const StatsInput& in) {
  const Snapshot& s = in.zone;
  const Latency lat = latency(s);
  std::string out;
  out.reserve(7168);
  for (std::size_t i = 0; i < kCounters; i++) {
    prom_family(out, kCounterDefs[i].prom, "counter", kCounterDefs[i].help);
    prom_sample(out, kCounterDefs[i].prom, "", s.counters[i]);
  }
  prom_family(out, "portfolio_stream_connection_duration_seconds_total", "counter",
              "Total duration of closed WebSocket connections");
  prom_sample(out, "portfolio_stream_connection_duration_seconds_total", "",
              static_cast<double>(s.closed_ms) / 1000.0);

  prom_family(out, "portfolio_stream_connections_reclaimed_total", "counter",
              "Connections of worker processes that died (SIGKILL, crash), given back by the zone");
  prom_sample(out, "portfolio_stream_connections_reclaimed_total", "", s.reclaimed);

  prom_family(out, "portfolio_stream_status", "gauge",
              "1 for the current status (healthy, degraded or disabled), 0 for the others");
  const std::string_view current = status(in);
  for (std::string_view st : {"healthy", "degraded", "disabled"}) {
    std::string label = "status=\"";
    label += st;
    label += '"';
    prom_sample(out, "portfolio_stream_status", label, std::uint64_t(st == current ? 1 : 0));
  }
  prom_gauge(out, "portfolio_stream_active_connections", "WebSocket connections open, all workers",
             s.active_connections);
  prom_gauge(out, "portfolio_stream_active_users", "Users with at least one connection open", s.active_users);
  prom_gauge(out, "portfolio_stream_redis_connected",
             "1 when every live worker's Redis pub/sub connection is up", redis_connected(s) ? 1 : 0);
  prom_gauge(out, "portfolio_stream_redis_subscriptions", "Redis channels subscribed, all workers",
             s.subscriptions);
  prom_gauge(out, "portfolio_stream_workers", "Worker processes counting in the zone (not draining)",
             s.workers);
  prom_gauge(out, "portfolio_stream_disconnects_last_minute", "Connections closed in the last 60 seconds",
             s.disconnects_last_60s);

  prom_family(out, "portfolio_stream_batch_efficiency_ratio", "gauge",
              "1 - event frames written / event deliveries (0 before any delivery)");
  prom_sample(
      out, "portfolio_stream_batch_efficiency_ratio", "",
      batch_efficiency_ratio(counter(s, Counter::event_frames_sent), counter(s, Counter::events_delivered)));

  prom_family(out, "portfolio_stream_event_latency_milliseconds", "gauge",
              "Event ts to frame written over the last 1-2 minutes (quantile 1 = max)");
  prom_sample(out, "portfolio_stream_event_latency_milliseconds", "quantile=\"0.5\"", lat.p50);
  prom_sample(out, "portfolio_stream_event_latency_milliseconds", "quantile=\"0.99\"", lat.p99);
  prom_sample(out, "portfolio_stream_event_latency_milliseconds", "quantile=\"1\"", lat.max);

  prom_family(
      out, "portfolio_stream_stage_latency_microseconds", "gauge",
      "Per stage of an event over the last 1-2 minutes: redis = publisher ts to read, dispatch = read to "
      "queued (batch window included), write = queued to the kernel (quantile 1 = max)");
  for (unsigned st = 0; st < kStages; st++) {
    const std::uint64_t* h = s.stage[st];
    const std::uint64_t mx = s.stage_max_us[st];
    const std::string stage = std::string("stage=\"") + stage_name(Stage(st)) + "\",";
    prom_sample(out, "portfolio_stream_stage_latency_microseconds", stage + "quantile=\"0.5\"",
                latency_percentile(h, 0.50, mx));
    prom_sample(out, "portfolio_stream_stage_latency_microseconds", stage + "quantile=\"0.99\"",
                latency_percentile(h, 0.99, mx));
    prom_sample(out, "portfolio_stream_stage_latency_microseconds", stage + "quantile=\"1\"", double(mx));
  }

  prom_gauge(out, "portfolio_stream_max_connections", "portfolio_stream_max_connections", in.max_connections);
  prom_gauge(out, "portfolio_stream_max_connections_per_user",
             "portfolio_stream_max_connections_per_user of the stats location", in.max_connections_per_user);
  prom_gauge(out, "portfolio_stream_uptime_seconds", "Seconds since the zone was created", s.uptime_seconds);
  prom_gauge(out, "portfolio_stream_zone_size_bytes", "Size of portfolio_stream_zone", s.zone_size);
  prom_gauge(out, "portfolio_stream_zone_free_bytes", "Free pages of portfolio_stream_zone, in bytes",
             s.zone_free);
  return out;
}

}  // namespace ps::stats
