// The stats endpoint (portfolio_stream_stats; SPEC section 5): one snapshot
// of the shared zone, written as JSON (default) or as Prometheus text
// exposition 0.0.4 (?format=prometheus) into one buffer of exactly the
// response's size. GET and HEAD only; other arguments are ignored.
//
// Field choices where the contract is silent:
//  * status "disabled": the feature flag (env ENABLE_REALTIME_PORTFOLIO) is
//    off in this worker, or the configuration has no portfolio_stream
//    location at all; "degraded": some live worker (not one draining after a
//    reload) reports its pub/sub connection lost; else "healthy".
//  * redis.connected: at least one live worker reports its pub/sub
//    connection up and none reports it lost (a worker that has not reported
//    yet, e.g. just started, counts for neither).
//  * batchEfficiency: "0.0%" until something was delivered.
//  * avgConnectionDurationSeconds: whole seconds over every connection
//    closed since the zone was created; 0 before the first close. The
//    connections of a worker that died are counted closed when reclaimed
//    (so accepted - closed = active) but have no duration: not averaged.
//  * disconnectRatePerMinute: connections closed in the last 60 s (the
//    current second and the 59 before), two decimals.
//  * latencyMs: over the events of the current and the previous minute
//    (60 to 120 s); p50/p99 are bucket midpoints (within 6.25%), max exact.
//  * uptimeSeconds: since the zone was created (kept across reloads).
//  * limits.maxConnectionsPerUser: the value merged into the stats location
//    (set it at http or server level to describe the stream locations).

#include <exception>
#include <string>

#include "ngx_ps_zone.h"

namespace {

using ps::stats::kCounterDefs;
using ps::stats::kCounters;

struct view_t {
  ngx_ps_snapshot_t snap;
  const char* status;
  bool redis_connected;
  double p50, p99, max;
  ngx_int_t max_connections;
  ngx_int_t max_per_user;
};

void json_key(std::string& out, const char* key) {
  out += '"';
  out += key;
  out += "\":";
}

void json_uint(std::string& out, const char* key, std::uint64_t v) {
  json_key(out, key);
  out += std::to_string(v);
}

void json_raw(std::string& out, const char* key, const std::string& raw) {
  json_key(out, key);
  out += raw;
}

void json_str(std::string& out, const char* key, const std::string& s) {
  json_key(out, key);
  out += '"';
  out += s;  // our own ASCII texts only: nothing to escape
  out += '"';
}

// The counters of one JSON section, in list order, comma-separated.
void json_counters(std::string& out, const view_t& v, std::string_view section) {
  bool first = true;
  for (std::size_t i = 0; i < kCounters; i++) {
    if (section != kCounterDefs[i].section) {
      continue;
    }
    if (!first) {
      out += ',';
    }
    first = false;
    json_uint(out, kCounterDefs[i].field, v.snap.counters[i]);
  }
}

std::string to_json(const view_t& v) {
  const ngx_ps_snapshot_t& s = v.snap;
  std::string out;
  out.reserve(1024);
  out += '{';
  json_str(out, "status", v.status);
  out += ',';
  json_uint(out, "activeConnections", s.active_connections);
  out += ',';
  json_uint(out, "activeUsers", s.active_users);
  out += ',';
  json_str(out, "batchEfficiency",
           ps::stats::batch_efficiency(s.counters[unsigned(ngx_ps_stat::event_frames_sent)],
                                       s.counters[unsigned(ngx_ps_stat::events_delivered)]));
  out += ",\"performance\":{";
  json_uint(out, "avgConnectionDurationSeconds",
            ps::stats::average_seconds(s.closed_ms,
                                       s.counters[unsigned(ngx_ps_stat::connections_closed)] - s.reclaimed));
  out += ',';
  json_str(out, "disconnectRatePerMinute", ps::stats::fixed(double(s.disconnects_last_60s), 2));
  out += "},\"events\":{";
  json_counters(out, v, "events");
  out += "},\"frames\":{";
  json_counters(out, v, "frames");
  out += "},\"connections\":{";
  json_counters(out, v, "connections");
  out += "},\"rejected\":{";
  json_counters(out, v, "rejected");
  out += "},\"redis\":{";
  json_raw(out, "connected", v.redis_connected ? "true" : "false");
  out += ',';
  json_counters(out, v, "redis");
  out += ',';
  json_uint(out, "subscriptions", s.subscriptions);
  out += "},\"latencyMs\":{";
  json_raw(out, "p50", ps::stats::fixed(v.p50, 1));
  out += ',';
  json_raw(out, "p99", ps::stats::fixed(v.p99, 1));
  out += ',';
  json_raw(out, "max", ps::stats::fixed(v.max, 1));
  out += "},\"limits\":{";
  json_uint(out, "maxConnections", std::uint64_t(v.max_connections));
  out += ',';
  json_uint(out, "maxConnectionsPerUser", std::uint64_t(v.max_per_user));
  out += "},";
  json_uint(out, "uptimeSeconds", s.uptime_seconds);
  out += "}\n";
  return out;
}

void prom_gauge(std::string& out, const char* name, const char* help, std::uint64_t value) {
  ps::stats::prom_family(out, name, "gauge", help);
  ps::stats::prom_sample(out, name, "", value);
}

std::string to_prometheus(const view_t& v) {
  using namespace ps::stats;
  const ngx_ps_snapshot_t& s = v.snap;
  std::string out;
  out.reserve(6144);
  for (std::size_t i = 0; i < kCounters; i++) {
    prom_family(out, kCounterDefs[i].prom, "counter", kCounterDefs[i].help);
    prom_sample(out, kCounterDefs[i].prom, "", s.counters[i]);
  }
  prom_family(out, "portfolio_stream_connection_duration_seconds_total", "counter",
              "Total duration of closed WebSocket connections");
  prom_sample(out, "portfolio_stream_connection_duration_seconds_total", "", double(s.closed_ms) / 1000.0);

  prom_family(out, "portfolio_stream_connections_reclaimed_total", "counter",
              "Connections of worker processes that died (SIGKILL, crash), given back by the zone");
  prom_sample(out, "portfolio_stream_connections_reclaimed_total", "", s.reclaimed);

  prom_family(out, "portfolio_stream_status", "gauge",
              "1 for the current status (healthy, degraded or disabled), 0 for the others");
  for (const char* st : {"healthy", "degraded", "disabled"}) {
    std::string label = std::string("status=\"") + st + "\"";
    prom_sample(out, "portfolio_stream_status", label, std::uint64_t(std::string_view(st) == v.status));
  }
  prom_gauge(out, "portfolio_stream_active_connections", "WebSocket connections open, all workers",
             s.active_connections);
  prom_gauge(out, "portfolio_stream_active_users", "Users with at least one connection open", s.active_users);
  prom_gauge(out, "portfolio_stream_redis_connected",
             "1 when every live worker's Redis pub/sub connection is up", v.redis_connected ? 1 : 0);
  prom_gauge(out, "portfolio_stream_redis_subscriptions", "Redis channels subscribed, all workers",
             s.subscriptions);
  prom_gauge(out, "portfolio_stream_workers", "Worker processes counting in the zone (not draining)",
             s.workers);
  prom_gauge(out, "portfolio_stream_disconnects_last_minute", "Connections closed in the last 60 seconds",
             s.disconnects_last_60s);

  prom_family(out, "portfolio_stream_batch_efficiency_ratio", "gauge",
              "1 - event frames written / event deliveries (0 before any delivery)");
  prom_sample(out, "portfolio_stream_batch_efficiency_ratio", "",
              batch_efficiency_ratio(s.counters[unsigned(ngx_ps_stat::event_frames_sent)],
                                     s.counters[unsigned(ngx_ps_stat::events_delivered)]));

  prom_family(out, "portfolio_stream_event_latency_milliseconds", "gauge",
              "Event ts to frame written over the last 1-2 minutes (quantile 1 = max)");
  prom_sample(out, "portfolio_stream_event_latency_milliseconds", "quantile=\"0.5\"", v.p50);
  prom_sample(out, "portfolio_stream_event_latency_milliseconds", "quantile=\"0.99\"", v.p99);
  prom_sample(out, "portfolio_stream_event_latency_milliseconds", "quantile=\"1\"", v.max);

  prom_gauge(out, "portfolio_stream_max_connections", "portfolio_stream_max_connections",
             std::uint64_t(v.max_connections));
  prom_gauge(out, "portfolio_stream_max_connections_per_user",
             "portfolio_stream_max_connections_per_user of the stats location",
             std::uint64_t(v.max_per_user));
  prom_gauge(out, "portfolio_stream_uptime_seconds", "Seconds since the zone was created", s.uptime_seconds);
  prom_gauge(out, "portfolio_stream_zone_size_bytes", "Size of portfolio_stream_zone", s.zone_size);
  prom_gauge(out, "portfolio_stream_zone_free_bytes", "Free pages of portfolio_stream_zone, in bytes",
             s.zone_free);
  return out;
}

ngx_int_t add_header(ngx_http_request_t* r, ngx_str_t key, ngx_str_t value) {
  auto* h = static_cast<ngx_table_elt_t*>(ngx_list_push(&r->headers_out.headers));
  if (h == nullptr) {
    return NGX_ERROR;
  }
  h->hash = 1;
  h->key = key;
  h->value = value;
  return NGX_OK;
}

ngx_int_t handle(ngx_http_request_t* r) {
  if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
    if (add_header(r, ngx_string("Allow"), ngx_string("GET, HEAD")) != NGX_OK) {
      return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    return NGX_HTTP_NOT_ALLOWED;
  }
  ngx_int_t rc = ngx_http_discard_request_body(r);
  if (rc != NGX_OK) {
    return rc;
  }

  bool prometheus = false;
  ngx_str_t format;
  if (ngx_http_arg(r, (u_char*)"format", 6, &format) == NGX_OK) {
    prometheus = format.len == 10 && ngx_strncasecmp(format.data, (u_char*)"prometheus", 10) == 0;
  }

  auto* pmcf = static_cast<ngx_http_portfolio_stream_main_conf_t*>(
      ngx_http_get_module_main_conf(r, ngx_http_portfolio_stream_module));
  auto* lcf = static_cast<ngx_http_portfolio_stream_loc_conf_t*>(
      ngx_http_get_module_loc_conf(r, ngx_http_portfolio_stream_module));

  view_t v;
  if (ngx_ps_zone_snapshot(&v.snap, r->connection->log) != NGX_OK) {
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "portfolio_stream: stats without a zone in this process");
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  const ngx_ps_snapshot_t& s = v.snap;
  if (ngx_ps_disabled_by_env() || pmcf->stream_locations == 0) {
    v.status = "disabled";
  } else if (s.redis_down > 0) {
    v.status = "degraded";
  } else {
    v.status = "healthy";
  }
  v.redis_connected = s.redis_up > 0 && s.redis_down == 0;
  v.p50 = ps::stats::latency_percentile(s.latency, 0.50, s.latency_max_ms);
  v.p99 = ps::stats::latency_percentile(s.latency, 0.99, s.latency_max_ms);
  v.max = double(s.latency_max_ms);
  v.max_connections = pmcf->max_connections;
  v.max_per_user = lcf->max_connections_per_user;

  std::string body = prometheus ? to_prometheus(v) : to_json(v);

  r->headers_out.status = NGX_HTTP_OK;
  r->headers_out.content_length_n = off_t(body.size());
  if (prometheus) {
    ngx_str_set(&r->headers_out.content_type, "text/plain; version=0.0.4; charset=utf-8");
  } else {
    ngx_str_set(&r->headers_out.content_type, "application/json");
  }
  r->headers_out.content_type_len = r->headers_out.content_type.len;
  r->headers_out.content_type_lowcase = nullptr;
  if (add_header(r, ngx_string("Cache-Control"), ngx_string("no-store")) != NGX_OK) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }

  if (r->method == NGX_HTTP_HEAD) {
    r->header_only = 1;
    return ngx_http_send_header(r);
  }

  ngx_buf_t* b = ngx_create_temp_buf(r->pool, body.size());
  if (b == nullptr) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  b->last = ngx_cpymem(b->pos, body.data(), body.size());
  b->last_buf = (r == r->main) ? 1 : 0;
  b->last_in_chain = 1;
  ngx_chain_t out = {b, nullptr};

  rc = ngx_http_send_header(r);
  if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
    return rc;
  }
  return ngx_http_output_filter(r, &out);
}

}  // namespace

ngx_int_t ngx_http_portfolio_stream_stats_handler(ngx_http_request_t* r) {
  try {
    return handle(r);
  } catch (const std::exception& e) {
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "portfolio_stream: stats failed: %s", e.what());
  } catch (...) {
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "portfolio_stream: stats failed");
  }
  return NGX_HTTP_INTERNAL_SERVER_ERROR;
}
