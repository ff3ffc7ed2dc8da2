// The stats endpoint (portfolio_stream_stats; SPEC sections 5 and 8): one
// snapshot of the shared zone, rendered by src/stats_render.h as JSON
// (default) or as Prometheus text exposition 0.0.4 (?format=prometheus) and
// sent in one buffer of exactly the response's size. GET and HEAD only;
// other arguments are ignored.
//
// What this file decides (the rest of the field choices are in
// src/stats_render.h):
//  * disabled: the feature flag (env ENABLE_REALTIME_PORTFOLIO) is off in
//    this worker, or the configuration has no portfolio_stream location.
//  * limits.maxConnectionsPerUser: the value merged into the stats location
//    (set it at http or server level to describe the stream locations).
//  * the zone's figures (shm/ngx_ps_zone.cpp): counters since the zone was
//    created (kept across reloads), latency over the events of the current
//    and the previous minute (60 to 120 s), disconnects of the current
//    second and the 59 before.

#include <exception>
#include <string>

#include "stats_render.h"

#include "ngx_ps_zone.h"

namespace {

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

  ps::stats::StatsInput in;
  if (ngx_ps_zone_snapshot(&in.zone, r->connection->log) != NGX_OK) {
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "portfolio_stream: stats without a zone in this process");
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  in.disabled = ngx_ps_disabled_by_env() || pmcf->stream_locations == 0;
  in.max_connections = std::uint64_t(pmcf->max_connections);
  in.max_connections_per_user = std::uint64_t(lcf->max_connections_per_user);

  std::string body = prometheus ? ps::stats::render_prometheus(in) : ps::stats::render_json(in);

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
