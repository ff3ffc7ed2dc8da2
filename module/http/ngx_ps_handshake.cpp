// The WebSocket endpoint's content handler: the checks of SPEC section 2 in
// order, the asynchronous session lookup, then the 101 and the hand-over of
// the connection to the WebSocket loop (the HTTP request is freed).

#include <optional>
#include <string>
#include <vector>

#include "cookie.h"
#include "history.h"
#include "origin.h"
#include "session_cookie.h"
#include "session_json.h"
#include "ws_handshake.h"

#include "ngx_ps_conn.h"
#include "ngx_ps_fleet.h"
#include "ngx_ps_limit_slot.h"
#include "ngx_ps_stats.h"

namespace {

// Lives in r->pool while the session lookup is pending.
struct handshake_ctx_t {
  ngx_http_request_t* request;
  ngx_ps_get_t* lookup;           // non-null while pending
  ngx_ps_fleet_pending_t* fleet;  // the fleet-wide limit's answer, while pending
  ngx_str_t user_id;              // in r->pool, while the fleet's answer is pending
  std::array<char, 28> accept;
  ngx_str_t session_key;  // in r->pool
  // permessage-deflate agreed (ps::DeflateParams, kept trivial for the pool)
  bool deflate;
  bool deflate_window_requested;
  std::uint8_t deflate_window_bits;
};

ngx_int_t reject(ngx_http_request_t* r, ngx_uint_t status, ngx_ps_stat counter) {
  ngx_ps_stat_add(counter, 1);
  ngx_http_discard_request_body(r);
  return status;
}

void cancel_lookup(void* data) {
  auto* ctx = static_cast<handshake_ctx_t*>(data);
  if (ctx->lookup != nullptr) {
    ngx_ps_redis_cancel(ctx->lookup);
    ctx->lookup = nullptr;
  }
  if (ctx->fleet != nullptr) {
    ngx_ps_fleet_cancel(ctx->fleet);
    ctx->fleet = nullptr;
  }
}

bool origin_allowed(ngx_http_request_t* r, ngx_http_portfolio_stream_loc_conf_t* lcf,
                    const ngx_table_elt_t* origin, ngx_uint_t origin_count) {
  if (origin_count == 0) {
    return true;  // not a browser
  }
  if (origin_count > 1) {
    return false;
  }
  if (lcf->any_origin) {
    return true;
  }
  std::string_view o = ngx_ps_sv(origin->value);
  if (lcf->allowed_origins != nullptr) {
    auto* allowed = static_cast<ngx_str_t*>(lcf->allowed_origins->elts);
    for (ngx_uint_t i = 0; i < lcf->allowed_origins->nelts; i++) {
      if (ps::origin_equals(o, ngx_ps_sv(allowed[i]))) {
        return true;
      }
    }
    return false;
  }
  if (r->headers_in.host == nullptr) {
    return false;
  }
  bool tls = false;
#if (NGX_SSL)
  tls = r->connection->ssl != nullptr;
#endif
  return ps::origin_same_host(o, ngx_ps_sv(r->headers_in.host->value),
                              static_cast<ps::OriginScheme>(lcf->origin_scheme), tls);
}

// nginx has no built-in page (nor reason phrase) for 426.
ngx_int_t upgrade_required(ngx_http_request_t* r) {
  static u_char body[] = "426 Upgrade Required: this endpoint speaks WebSocket version 13\n";
  if (ngx_http_discard_request_body(r) != NGX_OK) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  ngx_table_elt_t* h = static_cast<ngx_table_elt_t*>(ngx_list_push(&r->headers_out.headers));
  auto* b = static_cast<ngx_buf_t*>(ngx_pcalloc(r->pool, sizeof(ngx_buf_t)));
  if (h == nullptr || b == nullptr) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  h->hash = 1;
  ngx_str_set(&h->key, "Sec-WebSocket-Version");
  ngx_str_set(&h->value, "13");
  r->headers_out.status = 426;
  ngx_str_set(&r->headers_out.status_line, "426 Upgrade Required");
  ngx_str_set(&r->headers_out.content_type, "text/plain");
  r->headers_out.content_type_len = r->headers_out.content_type.len;
  r->headers_out.content_length_n = sizeof(body) - 1;
  r->keepalive = 0;
  b->pos = body;
  b->last = body + sizeof(body) - 1;
  b->memory = 1;
  b->last_buf = 1;
  ngx_int_t rc = ngx_http_send_header(r);
  if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
    return rc;
  }
  ngx_chain_t out = {b, nullptr};
  return ngx_http_output_filter(r, &out);
}

void finish(ngx_http_request_t* r, ngx_int_t rc) {
  ngx_connection_t* c = r->connection;
  ngx_http_finalize_request(r, rc);
  ngx_http_run_posted_requests(c);
}

// Makes the WebSocket connection while the request can still answer 503,
// then frees everything HTTP held for this connection and hands it over.
void upgrade(ngx_http_request_t* r, handshake_ctx_t* ctx, const std::string& user_id,
             ngx_ps_limit_slot&& slot) {
  ngx_connection_t* c = r->connection;
  auto* lcf = static_cast<ngx_http_portfolio_stream_loc_conf_t*>(
      ngx_http_get_module_loc_conf(r, ngx_http_portfolio_stream_module));

  std::optional<ps::DeflateParams> deflate;
  if (ctx->deflate) {
    deflate.emplace();
    deflate->server_window_bits = ctx->deflate_window_bits;
    deflate->server_window_requested = ctx->deflate_window_requested;
    deflate->client_no_context_takeover = true;
  }

  std::string response;
  response.reserve(256);
  response.append(
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ");
  response.append(ctx->accept.data(), ctx->accept.size());
  if (deflate) {
    response.append("\r\nSec-WebSocket-Extensions: ").append(ps::deflate_response_value(*deflate));
  }
  response.append("\r\n\r\n");

  // Bytes the client sent after its request (it should not, but may).
  std::string early;
  if (r->header_in && r->header_in->pos < r->header_in->last) {
    early.assign(reinterpret_cast<const char*>(r->header_in->pos), r->header_in->last - r->header_in->pos);
  }

  // SPEC section 8: ?since=<offset>&epoch=<epoch> asks for a resume; any
  // content is safe, a malformed one is answered recovered:false.
  std::optional<ps::ResumeRequest> resume;
  if (lcf->history) {
    resume = ps::parse_resume_query(ngx_ps_sv(r->args));
  }
  ngx_ps_conn_t* wc =
      ngx_ps_conn_create(c, lcf, user_id, ngx_ps_sv(ctx->session_key), response,
                         deflate ? &*deflate : nullptr, std::move(slot), resume ? &*resume : nullptr);
  if (wc == nullptr) {
    // Nothing was made and the slot is back (logged there; no counter fits).
    ngx_http_discard_request_body(r);
    finish(r, NGX_HTTP_SERVICE_UNAVAILABLE);
    return;
  }

  // The access log records the upgrade with status 101 now; the request's
  // pool, header buffers and the rest of HTTP's state are released.
  r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
  c->sent += response.size();
  auto* hc = r->http_connection;
  ngx_http_free_request(r, 0);
  c->destroyed = 0;
  c->data = nullptr;

  if (c->buffer != nullptr && c->buffer->start != nullptr) {
    if (ngx_pfree(c->pool, c->buffer->start) == NGX_OK) {
      c->buffer->start = nullptr;
    }
    c->buffer->pos = c->buffer->last = nullptr;
  }
  if (hc != nullptr) {
    // Large header buffers, as ngx_http_set_keepalive() frees them.
    for (ngx_chain_t* list : {hc->free, hc->busy}) {
      for (ngx_chain_t* cl = list; cl != nullptr;) {
        ngx_chain_t* ln = cl;
        cl = cl->next;
        ngx_pfree(c->pool, ln->buf->start);
        ngx_free_chain(c->pool, ln);
      }
    }
    hc->free = nullptr;
    hc->busy = nullptr;
    hc->nbusy = 0;
  }
#if (NGX_HTTP_SSL)
  if (c->ssl) {
    ngx_ssl_free_buffer(c);
    c->ssl->buffer = 0;
  }
#endif

  ngx_ps_conn_run(wc, early);
}

// The local limits, then the upgrade. `slot` may hold a fleet place already.
void take_slot_and_upgrade(ngx_http_request_t* r, handshake_ctx_t* ctx, const std::string& user,
                           ngx_ps_limit_slot&& slot) {
  auto* lcf = static_cast<ngx_http_portfolio_stream_loc_conf_t*>(
      ngx_http_get_module_loc_conf(r, ngx_http_portfolio_stream_module));
  ngx_int_t limit = slot.acquire(r, user, lcf);
  if (limit != NGX_OK) {
    finish(r, limit);  // the slot gives a fleet place back
    return;
  }
  upgrade(r, ctx, user, std::move(slot));
}

// SPEC section 9: the fleet-wide count answered.
void on_fleet(void* data, bool ok, std::uint64_t conn_id) {
  auto* ctx = static_cast<handshake_ctx_t*>(data);
  ngx_http_request_t* r = ctx->request;
  ctx->fleet = nullptr;
  try {
    if (!ok) {
      ngx_log_error(NGX_LOG_WARN, r->connection->log, 0, "portfolio_stream: fleet limit unavailable (Redis)");
      finish(r, reject(r, NGX_HTTP_SERVICE_UNAVAILABLE, ngx_ps_stat::rejected_redis_unavailable));
      return;
    }
    if (conn_id == 0) {
      ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                    "portfolio_stream: user has max_connections_per_user connections in the fleet (429)");
      finish(r, reject(r, NGX_HTTP_TOO_MANY_REQUESTS, ngx_ps_stat::rejected_per_user_limit));
      return;
    }
    std::string user(ngx_ps_sv(ctx->user_id));
    ngx_ps_limit_slot slot;  // after user: it names those bytes until it goes
    slot.adopt_fleet(user, conn_id);
    take_slot_and_upgrade(r, ctx, user, std::move(slot));
  } catch (...) {
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "portfolio_stream: internal error during the handshake");
    finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
  }
}

void on_session(void* data, ngx_ps_get_result rc, std::string_view value) {
  auto* ctx = static_cast<handshake_ctx_t*>(data);
  ngx_http_request_t* r = ctx->request;
  ctx->lookup = nullptr;
  try {
    auto* lcf = static_cast<ngx_http_portfolio_stream_loc_conf_t*>(
        ngx_http_get_module_loc_conf(r, ngx_http_portfolio_stream_module));
    if (rc == ngx_ps_get_result::unavailable) {
      ngx_log_error(NGX_LOG_WARN, r->connection->log, 0, "portfolio_stream: session store unavailable");
      finish(r, reject(r, NGX_HTTP_SERVICE_UNAVAILABLE, ngx_ps_stat::rejected_redis_unavailable));
      return;
    }
    std::optional<std::string> user;
    if (rc == ngx_ps_get_result::found) {
      user = ps::session_user_id(value, ngx_ps_sv(lcf->session_user_field));
    }
    if (!user) {
      ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                    rc == ngx_ps_get_result::missing ? "portfolio_stream: no such session"
                                                     : "portfolio_stream: session has no user id");
      finish(r, reject(r, NGX_HTTP_UNAUTHORIZED, ngx_ps_stat::rejected_unauthorized));
      return;
    }
    if (ngx_ps_fleet_enabled()) {
      // Counted on every edge sharing the Redis, in one atomic step there.
      ctx->user_id.len = user->size();
      ctx->user_id.data = static_cast<u_char*>(ngx_pnalloc(r->pool, user->size()));
      if (ctx->user_id.data == nullptr) {
        finish(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
      }
      ngx_memcpy(ctx->user_id.data, user->data(), user->size());
      ctx->fleet = ngx_ps_fleet_acquire(*user, lcf->max_connections_per_user, on_fleet, ctx);
      if (ctx->fleet == nullptr) {
        finish(r, reject(r, NGX_HTTP_SERVICE_UNAVAILABLE, ngx_ps_stat::rejected_redis_unavailable));
      }
      return;
    }
    take_slot_and_upgrade(r, ctx, *user, ngx_ps_limit_slot());
  } catch (...) {
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "portfolio_stream: internal error during the handshake");
    finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
  }
}

ngx_int_t handle(ngx_http_request_t* r) {
  auto* lcf = static_cast<ngx_http_portfolio_stream_loc_conf_t*>(
      ngx_http_get_module_loc_conf(r, ngx_http_portfolio_stream_module));

  if (!lcf->enable || ngx_ps_disabled_by_env()) {
    return reject(r, NGX_HTTP_SERVICE_UNAVAILABLE, ngx_ps_stat::rejected_disabled);
  }

  // One pass over the headers collects everything the checks need.
  ps::UpgradeHeaders up;
  const ngx_table_elt_t* origin = nullptr;
  ngx_uint_t origin_count = 0;
  std::optional<std::string> cookie;
  std::string_view cookie_name = ngx_ps_sv(lcf->session_cookie);
  std::vector<std::string_view> extensions;  // Sec-WebSocket-Extensions values, in order
  for (ngx_list_part_t* part = &r->headers_in.headers.part; part != nullptr; part = part->next) {
    auto* h = static_cast<ngx_table_elt_t*>(part->elts);
    for (ngx_uint_t i = 0; i < part->nelts; i++) {
      if (h[i].hash == 0) {
        continue;
      }
      std::string_view name = ngx_ps_sv(h[i].key);
      std::string_view value = ngx_ps_sv(h[i].value);
      ps::collect_upgrade_header(up, name, value);
      if (name.size() == 6 && ngx_strncasecmp(h[i].key.data, (u_char*)"origin", 6) == 0) {
        origin = &h[i];
        origin_count++;
      } else if (!cookie && name.size() == 6 && ngx_strncasecmp(h[i].key.data, (u_char*)"cookie", 6) == 0) {
        cookie = ps::find_cookie(value, cookie_name);
      } else if (name.size() == 24 &&
                 ngx_strncasecmp(h[i].key.data, (u_char*)"sec-websocket-extensions", 24) == 0) {
        extensions.push_back(value);
      }
    }
  }

  // Only an HTTP/1.1 main request can become a WebSocket (no RFC 8441 here).
  if (r != r->main || r->http_version != NGX_HTTP_VERSION_11) {
    return reject(r, NGX_HTTP_BAD_REQUEST, ngx_ps_stat::rejected_bad_handshake);
  }

  switch (ps::check_upgrade(ngx_ps_sv(r->method_name), r->http_version, up)) {
    case ps::UpgradeCheck::ok:
      break;
    case ps::UpgradeCheck::bad_request:
      return reject(r, NGX_HTTP_BAD_REQUEST, ngx_ps_stat::rejected_bad_handshake);
    case ps::UpgradeCheck::bad_version:
      ngx_ps_stat_add(ngx_ps_stat::rejected_bad_handshake, 1);
      return upgrade_required(r);
  }

  if (!origin_allowed(r, lcf, origin, origin_count)) {
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "portfolio_stream: origin \"%V\" not allowed",
                  origin ? &origin->value : nullptr);
    return reject(r, NGX_HTTP_FORBIDDEN, ngx_ps_stat::rejected_forbidden_origin);
  }

  std::optional<std::string_view> sid;
  if (cookie) {
    std::vector<std::string_view> secrets;
    if (lcf->session_secrets != nullptr) {
      auto* s = static_cast<ngx_str_t*>(lcf->session_secrets->elts);
      for (ngx_uint_t i = 0; i < lcf->session_secrets->nelts; i++) {
        secrets.push_back(ngx_ps_sv(s[i]));
      }
    }
    sid = ps::session_id_from_cookie(*cookie, secrets.data(), secrets.size());
  }
  if (!sid) {
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  cookie ? "portfolio_stream: session cookie \"%V\" badly signed"
                         : "portfolio_stream: no session cookie \"%V\"",
                  &lcf->session_cookie);
    return reject(r, NGX_HTTP_UNAUTHORIZED, ngx_ps_stat::rejected_unauthorized);
  }

  auto* ctx = static_cast<handshake_ctx_t*>(ngx_pcalloc(r->pool, sizeof(handshake_ctx_t)));
  ngx_pool_cleanup_t* cln = ngx_pool_cleanup_add(r->pool, 0);
  if (ctx == nullptr || cln == nullptr) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  ctx->request = r;
  ctx->accept = ps::websocket_accept(up.key);
  // SPEC section 2: permessage-deflate when offered. The default policy always
  // answers client_no_context_takeover, which conn_start relies on.
  if (auto deflate = ps::negotiate_permessage_deflate(extensions.data(), extensions.size())) {
    ctx->deflate = true;
    ctx->deflate_window_requested = deflate->server_window_requested;
    ctx->deflate_window_bits = deflate->server_window_bits;
  }

  ctx->session_key.len = lcf->session_prefix.len + sid->size();
  ctx->session_key.data = static_cast<u_char*>(ngx_pnalloc(r->pool, ctx->session_key.len));
  if (ctx->session_key.data == nullptr) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  ngx_memcpy(ngx_cpymem(ctx->session_key.data, lcf->session_prefix.data, lcf->session_prefix.len),
             sid->data(), sid->size());
  ctx->lookup = ngx_ps_redis_get(ngx_ps_sv(ctx->session_key), on_session, ctx);
  if (ctx->lookup == nullptr) {
    return reject(r, NGX_HTTP_SERVICE_UNAVAILABLE, ngx_ps_stat::rejected_redis_unavailable);
  }
  // A client that goes away while the lookup is pending finalizes the
  // request; the cleanup then cancels the lookup.
  cln->handler = cancel_lookup;
  cln->data = ctx;
  r->read_event_handler = ngx_http_test_reading;
  r->main->count++;
  return NGX_DONE;
}

}  // namespace

ngx_int_t ngx_http_portfolio_stream_handler(ngx_http_request_t* r) {
  try {
    return handle(r);
  } catch (...) {
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "portfolio_stream: internal error during the handshake");
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
}
