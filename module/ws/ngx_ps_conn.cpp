// The WebSocket connection after the 101: read everything readable, feed the
// sans-I/O parser, queue replies, then flush once; heartbeats; the close
// handshake. A connection is freed only by finalize(), always as the last
// step of a handler.

#include "client_message.h"
#include "frame_writer.h"
#include "server_messages.h"
#include "session_json.h"

#include "ngx_ps_module.h"
#include "ngx_ps_stats.h"

using conn_t = ngx_ps_conn_t;

namespace {

constexpr ngx_msec_t kCloseWait = 1000;  // how long we wait for the peer's close after ours
constexpr int kReadsPerPass = 8;         // then yield to other connections

u_char read_buffer[16384];  // one per worker: nothing is kept between reads

// Client messages compressed with permessage-deflate: one inflate stream per
// worker, reset after every message (client_no_context_takeover is always
// agreed), its output buffer trimmed after use.
ps::Inflater& inflater() {
  static ps::Inflater inflater;
  return inflater;
}

const ps::SharedBytes& ping_frame() {
  static const ps::SharedBytes frame = ps::make_shared_frame(ps::Opcode::ping, {});
  return frame;
}

void post_write(conn_t* wc) {
  ngx_event_t* wev = wc->connection->write;
  if (!wev->posted) {
    ngx_post_event(wev, &ngx_posted_events);
  }
}

void finalize(conn_t* wc) {
  if (wc->finalized) {
    return;
  }
  wc->finalized = 1;
  ngx_connection_t* c = wc->connection;
  ngx_ps_hub_detach(wc);
  // c->read / c->write timers and posted events go with the connection.
  if (wc->recheck.timer_set) {
    ngx_del_timer(&wc->recheck);
  }
  if (wc->recheck.posted) {
    ngx_delete_posted_event(&wc->recheck);
  }
  if (wc->recheck_lookup != nullptr) {
    ngx_ps_redis_cancel(wc->recheck_lookup);
    wc->recheck_lookup = nullptr;
  }
  ngx_ps_stat_closed(ngx_current_msec - wc->started);
  wc->~conn_t();
  ngx_free(wc);
  c->data = nullptr;
  ngx_http_close_connection(c);
}

// After our close frame is on the wire: half-close and wait (bounded) for
// the peer's close or EOF, so unread input cannot turn our FIN into a RST
// that would lose the close frame. Returns false when wc was finalized.
bool close_sent(conn_t* wc) {
  ngx_connection_t* c = wc->connection;
  if (wc->peer_closed || c->error) {
    finalize(wc);
    return false;
  }
  if (c->ssl == nullptr && !wc->half_closed) {
    wc->half_closed = 1;
    (void)ngx_shutdown_socket(c->fd, NGX_WRITE_SHUTDOWN);
  }
  if (!c->read->timer_set) {
    ngx_add_timer(c->read, kCloseWait);
  }
  return true;
}

// Writes what is queued; false when the connection was finalized.
bool flush(conn_t* wc) {
  ngx_connection_t* c = wc->connection;
  while (!wc->out.empty()) {
    std::string_view front = wc->out.front();
    ssize_t n = c->send(c, (u_char*)front.data(), front.size());
    if (n == NGX_AGAIN) {
      if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        finalize(wc);
        return false;
      }
      return true;
    }
    if (n == NGX_ERROR || n < 0) {
      c->error = 1;
      finalize(wc);
      return false;
    }
    wc->out.consume(std::size_t(n));
    ngx_ps_stat_add(ngx_ps_stat::bytes_sent, n);
  }
  if (wc->closing) {
    return close_sent(wc);
  }
  return true;
}

// Queues a close frame; the rest happens in flush()/close_sent().
void start_close(conn_t* wc, std::uint16_t code, std::string_view reason) {
  if (wc->closing) {
    return;
  }
  wc->closing = 1;
  ngx_event_t* wev = wc->connection->write;
  if (wev->timer_set) {
    ngx_del_timer(wev);  // the heartbeat
  }
  wev->cancelable = 0;
  if (wc->recheck.timer_set) {
    ngx_del_timer(&wc->recheck);
  }
  wc->out.push_unlimited(ps::SharedBytes::concat({ps::make_close_frame(code, reason)}));
  ngx_ps_stat_add(ngx_ps_stat::frames_sent, 1);
  post_write(wc);
}

void handle_text(conn_t* wc, std::string_view text) {
  ps::ClientMessage m = ps::parse_client_message(text);
  switch (m.kind) {
    case ps::ClientMessage::Kind::subscribe:
      ngx_ps_hub_set_filter(wc, ps::ChannelMask(wc->filter | m.channels));
      ngx_ps_conn_send_text(wc, ps::subscribed_message(wc->filter));
      break;
    case ps::ClientMessage::Kind::unsubscribe:
      ngx_ps_hub_set_filter(wc, ps::ChannelMask(wc->filter & ~m.channels));
      ngx_ps_conn_send_text(wc, ps::subscribed_message(wc->filter));
      break;
    case ps::ClientMessage::Kind::ping:
      ngx_ps_conn_send_text(wc, ps::pong_message(ngx_ps_now_ms()));
      break;
    case ps::ClientMessage::Kind::invalid:
      ngx_ps_conn_send_text(wc, ps::error_message(m.error_code, m.error_message));
      break;
  }
}

// A text message that arrived compressed: too big once inflated -> 1009,
// invalid deflate data or UTF-8 -> 1007. false when the connection is failed.
bool handle_compressed(conn_t* wc) {
  ps::Inflater& inf = inflater();
  std::string_view text;
  std::uint16_t code = inf.inflate_text(wc->parser.payload(), wc->lcf->max_message_size, text);
  if (code != 0) {
    inf.trim();
    wc->parser.shrink();  // the compressed message is not needed any more
    start_close(wc, code,
                code == ps::close_code::too_big           ? "message too big"
                : code == ps::close_code::invalid_payload ? "invalid compressed message"
                                                          : "internal error");
    return false;
  }
  handle_text(wc, text);
  inf.trim();
  return true;
}

// Feeds bytes to the parser and acts on every event.
void process_input(conn_t* wc, std::string_view in) {
  while (!in.empty() && !wc->peer_closed) {
    ps::FrameParser::Status st = wc->parser.parse(in);
    switch (st) {
      case ps::FrameParser::Status::need_more:
        return;
      case ps::FrameParser::Status::text:
        if (wc->closing) {
          break;
        }
        if (!wc->parser.compressed()) {
          handle_text(wc, wc->parser.payload());
        } else if (!handle_compressed(wc)) {
          // Failed like a parser error: the rest of this input is dropped,
          // later reads are parsed only for the peer's close (closing).
          return;
        }
        break;
      case ps::FrameParser::Status::ping:
        if (!wc->closing) {
          // Under send_limit like everything else: a peer that pings without
          // reading must not grow its queue without bound.
          ngx_ps_conn_send(wc, ps::make_shared_frame(ps::Opcode::pong, wc->parser.payload()));
        }
        break;
      case ps::FrameParser::Status::pong:
        break;
      case ps::FrameParser::Status::close:
        wc->peer_closed = 1;
        // Echo the peer's code (RFC 6455 section 5.5.1); after ours went
        // out first, their close completes the handshake.
        start_close(wc, wc->parser.close_code(), {});
        return;
      case ps::FrameParser::Status::error:
        // Failing the connection. peer_closed stays 0 on purpose: closing
        // with the peer's unread bytes in the socket would send a RST that
        // can destroy our close frame before the peer reads it, so
        // close_sent() half-closes and drains (the sticky parser consumes
        // nothing more) until EOF or kCloseWait (found by tests/conformance).
        start_close(wc, wc->parser.close_code(), "protocol error");
        return;
    }
  }
  if (wc->parser.buffered() == 0) {
    wc->parser.shrink();
  }
}

void read_handler(ngx_event_t* rev) {
  ngx_connection_t* c = static_cast<ngx_connection_t*>(rev->data);
  auto* wc = static_cast<conn_t*>(c->data);
  if (rev->timedout) {
    finalize(wc);  // the peer never answered our close frame
    return;
  }
  try {
    if (c->close) {
      // ngx_close_idle_connections(): the worker is shutting down.
      c->close = 0;
      start_close(wc, ps::close_code::going_away, "server shutting down");
    }
    for (int i = 0; rev->ready && !wc->peer_closed; i++) {
      if (i == kReadsPerPass) {
        ngx_post_event(rev, &ngx_posted_events);
        break;
      }
      ssize_t n = c->recv(c, read_buffer, sizeof(read_buffer));
      if (n == NGX_AGAIN) {
        break;
      }
      if (n == 0 || n == NGX_ERROR) {
        c->error = 1;
        finalize(wc);
        return;
      }
      wc->last_seen = ngx_current_msec;
      process_input(wc, std::string_view(reinterpret_cast<const char*>(read_buffer), std::size_t(n)));
    }
    if (wc->peer_closed && wc->closing && wc->out.empty()) {
      finalize(wc);
      return;
    }
    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
      finalize(wc);
      return;
    }
    flush(wc);
  } catch (...) {
    ngx_log_error(NGX_LOG_ERR, c->log, 0, "portfolio_stream: internal error, closing with 1011");
    wc->out.discard_unstarted();
    wc->closing = 0;
    start_close(wc, ps::close_code::internal_error, "internal error");
  }
}

void heartbeat(conn_t* wc);

void write_handler(ngx_event_t* wev) {
  ngx_connection_t* c = static_cast<ngx_connection_t*>(wev->data);
  auto* wc = static_cast<conn_t*>(c->data);
  if (wev->timedout) {
    wev->timedout = 0;
    try {
      heartbeat(wc);
    } catch (...) {
      ngx_log_error(NGX_LOG_ERR, c->log, 0, "portfolio_stream: internal error in a heartbeat");
    }
  }
  flush(wc);
}

void heartbeat(conn_t* wc) {
  ngx_msec_t interval = wc->lcf->heartbeat;
  if (ngx_current_msec - wc->last_seen >= 2 * interval) {
    ngx_log_error(NGX_LOG_INFO, wc->connection->log, 0, "portfolio_stream: peer silent for %M ms, closing",
                  ngx_current_msec - wc->last_seen);
    wc->peer_closed = 1;  // a silent peer will not answer our close
    start_close(wc, ps::close_code::going_away, "heartbeat timeout");
    return;
  }
  wc->out.push_unlimited(ping_frame());
  ngx_ps_stat_add(ngx_ps_stat::frames_sent, 1);
  post_write(wc);
  ngx_add_timer(wc->connection->write, interval);
}

// A session that is gone (expired, logged out) or now names another user
// ends the connection with 4401; an unavailable store does not.
void recheck_done(void* data, ngx_ps_get_result rc, std::string_view value) {
  auto* wc = static_cast<conn_t*>(data);
  wc->recheck_lookup = nullptr;
  if (wc->closing) {
    return;
  }
  try {
    bool gone = rc == ngx_ps_get_result::missing;
    if (rc == ngx_ps_get_result::found) {
      auto user = ps::session_user_id(value, ngx_ps_sv(wc->lcf->session_user_field));
      gone = !user || *user != ngx_ps_user_id(wc);
    }
    if (gone) {
      ngx_log_error(NGX_LOG_INFO, wc->connection->log, 0,
                    "portfolio_stream: session ended, closing with 4401");
      start_close(wc, ps::close_code::session_expired, "session expired");
      return;
    }
  } catch (...) {
    ngx_log_error(NGX_LOG_ERR, wc->connection->log, 0,
                  "portfolio_stream: internal error in a session re-read");
  }
  ngx_add_timer(&wc->recheck, wc->lcf->session_recheck);
}

void recheck_handler(ngx_event_t* ev) {
  auto* wc = static_cast<conn_t*>(ev->data);
  if (wc->closing || wc->recheck_lookup != nullptr) {
    return;
  }
  wc->recheck_lookup = ngx_ps_redis_get(wc->session_key, recheck_done, wc);
  if (wc->recheck_lookup == nullptr) {
    ngx_add_timer(&wc->recheck, wc->lcf->session_recheck);
  }
}

}  // namespace

void ngx_ps_conn_send(conn_t* wc, const ps::SharedBytes& frame) {
  if (wc->closing) {
    return;
  }
  if (!wc->out.push(frame, wc->lcf->send_limit)) {
    ngx_log_error(NGX_LOG_WARN, wc->connection->log, 0,
                  "portfolio_stream: slow consumer, %uz bytes unsent, closing with 1008", wc->out.bytes());
    ngx_ps_stat_add(ngx_ps_stat::slow_consumer_drops, 1);
    wc->out.discard_unstarted();
    start_close(wc, ps::close_code::policy_violation, "slow consumer");
    return;
  }
  ngx_ps_stat_add(ngx_ps_stat::frames_sent, 1);
  post_write(wc);
}

void ngx_ps_conn_send_text(conn_t* wc, std::string_view json) {
  ngx_ps_conn_send(wc, ps::make_shared_frame(ps::Opcode::text, json));
}

void ngx_ps_conn_abort(conn_t* wc) { finalize(wc); }

ngx_int_t ngx_ps_conn_start(ngx_connection_t* c, ngx_http_portfolio_stream_loc_conf_t* lcf,
                            std::string_view user_id, std::string_view session_key,
                            std::string_view handshake_response, std::string_view early,
                            const ps::DeflateParams* deflate) {
  void* mem = ngx_alloc(sizeof(conn_t), c->log);
  if (mem == nullptr) {
    return NGX_ERROR;
  }
  auto* wc = ::new (mem) conn_t(c, lcf);
  if (deflate != nullptr) {
    // The handshake always agrees client_no_context_takeover: the shared
    // per-worker Inflater keeps nothing between messages.
    wc->deflate = 1;
    wc->deflate_window_bits = deflate->server_window_bits;
    wc->parser.set_permessage_deflate(true);
  }
  try {
    wc->out.push_unlimited(ps::SharedBytes::concat({handshake_response}));
    wc->session_key.assign(session_key);
  } catch (...) {
    wc->~conn_t();
    ngx_free(wc);
    return NGX_ERROR;
  }

  c->data = wc;
  c->read->handler = read_handler;
  c->write->handler = write_handler;
  c->log->action = const_cast<char*>("serving a WebSocket");
  c->idle = 1;  // so a graceful shutdown reaches read_handler with c->close
  ngx_reusable_connection(c, 0);
  (void)ngx_tcp_nodelay(c);

  c->write->cancelable = 1;  // the heartbeat must not hold a shutting-down worker
  wc->recheck.handler = recheck_handler;
  wc->recheck.data = wc;
  wc->recheck.log = c->log;
  wc->recheck.cancelable = 1;

  ngx_ps_stat_add(ngx_ps_stat::connections_accepted, 1);
  try {
    ngx_ps_hub_attach(wc, user_id);
    if (!early.empty()) {
      wc->last_seen = ngx_current_msec;
      process_input(wc, early);
    }
  } catch (...) {
    ngx_log_error(NGX_LOG_ERR, c->log, 0, "portfolio_stream: internal error, closing with 1011");
    if (wc->user == nullptr) {
      ngx_ps_limits_release(user_id);  // detach will not
    }
    start_close(wc, ps::close_code::internal_error, "internal error");
  }
  if (ngx_exiting) {
    start_close(wc, ps::close_code::going_away, "server shutting down");
  }
  if (lcf->heartbeat > 0 && !wc->closing) {
    ngx_add_timer(c->write, lcf->heartbeat);
  }
  if (lcf->session_recheck > 0 && !wc->closing) {
    // Staggered: connections opened together re-read at different times.
    ngx_msec_t half = lcf->session_recheck / 2;
    ngx_add_timer(&wc->recheck, half + ngx_msec_t(ngx_random()) % (lcf->session_recheck - half + 1));
  }
  if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
    finalize(wc);
    return NGX_OK;
  }
  if (c->read->ready) {
    ngx_post_event(c->read, &ngx_posted_events);
  }
  flush(wc);
  return NGX_OK;
}
