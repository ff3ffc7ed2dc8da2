// The nginx side of one WebSocket connection: read everything readable into
// the session, let the app handle client messages, write what the session
// queued (once per pass), arm its deadline, and free the connection when the
// session is closed. Protocol rules live in src/ws_session.cpp.

#include <sys/socket.h>
#include <sys/uio.h>

#include "client_message.h"
#include "frame_writer.h"
#include "send_lowat.h"
#include "server_messages.h"
#include "session_json.h"

#include "ngx_ps_conn.h"
#include "ngx_ps_hub.h"
#include "ngx_ps_stats.h"
#include "ngx_ps_trim.h"

using conn_t = ngx_ps_conn_t;

namespace {

constexpr int kReadsPerPass = 8;  // then yield to other connections

u_char read_buffer[16384];  // one per worker: nothing is kept between reads

// Client messages compressed with permessage-deflate: one inflate stream per
// worker, reset after every message (client_no_context_takeover is always
// agreed), its output buffer trimmed after use.
ps::Inflater& inflater() {
  static ps::Inflater instance;
  return instance;
}

std::int64_t now() { return std::int64_t(ngx_current_msec); }

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
  try {
    ngx_ps_hub_detach(wc);
  } catch (...) {
    ngx_log_error(NGX_LOG_ALERT, c->log, 0, "portfolio_stream: internal error releasing a connection");
  }
  if (wc->recheck_lookup != nullptr) {
    ngx_ps_redis_cancel(wc->recheck_lookup);
    wc->recheck_lookup = nullptr;
  }
  if (wc->session.abortive() && c->fd != (ngx_socket_t)-1) {
    // Unsent bytes of ours: reset instead of leaving them to the kernel.
    struct linger l = {1, 0};
    (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  ngx_ps_stat_closed(ngx_current_msec - wc->started);
  wc->~conn_t();  // gives the limit slot back
  ngx_free(wc);
  c->data = nullptr;
  // c->read / c->write timers and posted events go with the connection.
  ngx_http_close_connection(c);
}

// Logs and counts how a close began, once.
void note_close(conn_t* wc) {
  if (wc->close_noted || wc->session.open()) {
    return;
  }
  wc->close_noted = 1;
  ngx_log_t* log = wc->connection->log;
  switch (wc->session.cause()) {
    case ps::CloseCause::slow_consumer:
      ngx_log_error(NGX_LOG_WARN, log, 0,
                    "portfolio_stream: slow consumer, over portfolio_stream_send_limit, closing with 1008");
      ngx_ps_stat_add(ngx_ps_stat::slow_consumer_drops, 1);
      break;
    case ps::CloseCause::heartbeat_timeout:
      ngx_log_error(NGX_LOG_INFO, log, 0, "portfolio_stream: peer silent for %M ms, closing",
                    ngx_msec_t(now() - wc->session.last_seen()));
      break;
    case ps::CloseCause::message_timeout:
      ngx_log_error(NGX_LOG_INFO, log, 0,
                    "portfolio_stream: client message not complete within portfolio_stream_message_timeout, "
                    "closing with 1008");
      break;
    case ps::CloseCause::protocol:
      ngx_log_error(NGX_LOG_INFO, log, 0, "portfolio_stream: client broke the protocol, closing with %d",
                    int(wc->session.close_code()));
      break;
    default:
      break;
  }
}

constexpr std::size_t kGatherFrames = 64;  // iovecs per writev (IOV_MAX is 1024)

// writev(2) with nginx's send() conventions: bytes written, NGX_AGAIN (the
// write event is no longer ready) or NGX_ERROR.
ssize_t write_gathered(ngx_connection_t* c, const std::string_view* views, std::size_t k) {
  struct iovec iov[kGatherFrames];
  for (std::size_t i = 0; i < k; i++) {
    iov[i].iov_base = const_cast<char*>(views[i].data());
    iov[i].iov_len = views[i].size();
  }
  for (;;) {
    ssize_t n = writev(c->fd, iov, int(k));
    if (n >= 0) {
      c->sent += n;
      return n;
    }
    ngx_err_t err = ngx_socket_errno;
    if (err == NGX_EINTR) {
      continue;
    }
    if (err == NGX_EAGAIN) {
      c->write->ready = 0;
      return NGX_AGAIN;
    }
    c->write->error = 1;
    ngx_connection_error(c, err, const_cast<char*>("writev() failed"));
    return NGX_ERROR;
  }
}

// portfolio_stream_send_lowat: at most `lowat` bytes of ours wait unsent in
// the kernel, so the backlog of a client that lags stays in the session's
// queue, where conflation can replace it (src/send_lowat.h). TCP only.
void set_send_lowat(ngx_connection_t* c, int lowat) {
#ifdef TCP_NOTSENT_LOWAT
  if (lowat <= 0 || (c->sockaddr->sa_family != AF_INET && c->sockaddr->sa_family != AF_INET6)) {
    return;
  }
  if (setsockopt(c->fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat)) == -1) {
    ngx_log_error(NGX_LOG_INFO, c->log, ngx_socket_errno,
                  "portfolio_stream: setsockopt(TCP_NOTSENT_LOWAT) failed");
  }
#else
  (void)c;
  (void)lowat;
#endif
}

// The session's one deadline (heartbeat, message, close and re-read
// deadlines) on c->read's timer: cancelable while open, so an idle
// connection never holds a shutting-down worker; not once closing, so a
// reload lets closes finish within close_timeout.
void arm_deadline(conn_t* wc) {
  ngx_event_t* rev = wc->connection->read;
  if (auto d = wc->session.deadline()) {
    std::int64_t delay = *d - now();
    rev->cancelable = wc->session.open();
    ngx_add_timer(rev, ngx_msec_t(delay > 0 ? delay : 1));
  } else if (rev->timer_set) {
    ngx_del_timer(rev);
  }
}

// The end of every handler: write what is queued, carry out the session's
// requests, re-arm its deadline, or free the connection. wc is gone after it
// when the session is closed.
void step(conn_t* wc) {
  ngx_connection_t* c = wc->connection;
  ps::WsSession& s = wc->session;
  for (;;) {
    ssize_t n;
    if (c->ssl == nullptr) {
      // Every queued frame in one writev (the kernel takes what fits).
      std::string_view views[kGatherFrames];
      std::size_t k = s.pending(views, kGatherFrames);
      if (k == 0) {
        break;
      }
      n = write_gathered(c, views, k);
    } else {
      std::string_view p = s.pending();
      if (p.empty()) {
        break;
      }
      n = c->send(c, (u_char*)p.data(), p.size());
    }
    if (n == NGX_AGAIN) {
      s.write_blocked();  // the client lags: conflation may start
      if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        s.write_failed();
      }
      break;
    }
    if (n < 0) {
      c->error = 1;
      s.write_failed();
      break;
    }
    if (std::int64_t queued_us = s.written(std::size_t(n), now())) {
      ngx_ps_stat_stage(ps::stats::stage_write, ngx_ps_now_us() - queued_us);
    }
    ngx_ps_stat_add(ngx_ps_stat::bytes_sent, n);
  }
  if (std::uint32_t frames = s.take_control_frames()) {
    ngx_ps_stat_add(ngx_ps_stat::frames_sent, frames);
  }
  note_close(wc);
  if (s.wants_shutdown_write()) {
    // Our close frame is out: a FIN (plain TCP; TLS would need a close_notify
    // nginx does not send half-way), then read until the peer's close or EOF.
    if (c->ssl == nullptr) {
      (void)ngx_shutdown_socket(c->fd, NGX_WRITE_SHUTDOWN);
    }
    s.shutdown_write_done();
  }
  if (s.state() == ps::WsSession::State::closed) {
    finalize(wc);
    return;
  }
  arm_deadline(wc);
}

// Ends the connection after an internal error (called after the catch
// block, which only notes it: catch blocks do not allocate): 1011 while
// open, at once when already closing or when even that fails.
void internal_error(conn_t* wc, const char* where) {
  ngx_log_error(NGX_LOG_ERR, wc->connection->log, 0, "portfolio_stream: internal error %s, closing with 1011",
                where);
  bool failed = !wc->session.open();
  if (!failed) {
    try {
      wc->session.close(ps::close_code::internal_error, "internal error", now());
    } catch (...) {
      failed = true;
    }
  }
  if (failed) {
    wc->session.abort();
  }
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

// Feeds bytes to the session and hands each complete message to the app.
void feed(conn_t* wc, std::string_view in) {
  ps::Inflater* inf = wc->deflate ? &inflater() : nullptr;
  while (!in.empty()) {
    if (wc->session.feed(in, now(), inf) != ps::WsSession::Feed::text) {
      break;
    }
    handle_text(wc, wc->session.text());
  }
  if (inf != nullptr) {
    inf->trim();
  }
}

void start_recheck(conn_t* wc);

void read_handler(ngx_event_t* rev) {
  ngx_connection_t* c = static_cast<ngx_connection_t*>(rev->data);
  auto* wc = static_cast<conn_t*>(c->data);
  ps::WsSession& s = wc->session;
  bool failed = false;
  try {
    if (rev->timedout) {
      rev->timedout = 0;
      s.timer(now());
      if (s.take_recheck()) {
        start_recheck(wc);
      }
    }
    if (c->close) {
      // ngx_close_idle_connections(): the worker is shutting down.
      c->close = 0;
      s.close(ps::close_code::going_away, "server shutting down", now());
    }
    for (int i = 0; rev->ready && s.state() != ps::WsSession::State::closed; i++) {
      if (i == kReadsPerPass) {
        ngx_post_event(rev, &ngx_posted_events);
        break;
      }
      ssize_t n = c->recv(c, read_buffer, sizeof(read_buffer));
      if (n == NGX_AGAIN) {
        break;
      }
      if (n == 0 || n == NGX_ERROR) {
        c->error = n == NGX_ERROR;
        s.peer_eof();
        break;
      }
      feed(wc, std::string_view(reinterpret_cast<const char*>(read_buffer), std::size_t(n)));
    }
    if (s.state() != ps::WsSession::State::closed && ngx_handle_read_event(rev, 0) != NGX_OK) {
      s.abort();
    }
  } catch (...) {
    failed = true;
  }
  if (failed) {
    internal_error(wc, "reading");
  }
  step(wc);
}

void write_handler(ngx_event_t* wev) {
  ngx_connection_t* c = static_cast<ngx_connection_t*>(wev->data);
  step(static_cast<conn_t*>(c->data));
}

// A session that is gone (expired, logged out) or now names another user
// ends the connection with 4401; an unavailable store does not.
void recheck_done(void* data, ngx_ps_get_result rc, std::string_view value) {
  auto* wc = static_cast<conn_t*>(data);
  wc->recheck_lookup = nullptr;
  if (!wc->session.open()) {
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
      ngx_ps_conn_close(wc, ps::close_code::session_expired, "session expired");
      return;
    }
  } catch (...) {
    ngx_log_error(NGX_LOG_ERR, wc->connection->log, 0,
                  "portfolio_stream: internal error in a session re-read");
  }
  wc->session.schedule_recheck(now() + std::int64_t(wc->lcf->session_recheck));
  arm_deadline(wc);  // not from a connection handler: no step() follows
}

// The session said a re-read is due (from read_handler, whose step() arms
// the next deadline).
void start_recheck(conn_t* wc) {
  if (wc->recheck_lookup != nullptr) {
    return;
  }
  wc->recheck_lookup = ngx_ps_redis_get(wc->session_key, recheck_done, wc);
  if (wc->recheck_lookup == nullptr) {
    wc->session.schedule_recheck(now() + std::int64_t(wc->lcf->session_recheck));
  }
}

}  // namespace

void ngx_ps_conn_send(conn_t* wc, const ps::SharedBytes& frame) {
  switch (wc->session.send(frame, now())) {
    case ps::WsSession::Send::queued:
      ngx_ps_stat_add(ngx_ps_stat::frames_sent, 1);
      post_write(wc);
      break;
    case ps::WsSession::Send::slow_consumer:
      post_write(wc);  // the close frame
      break;
    case ps::WsSession::Send::conflated:
    case ps::WsSession::Send::not_open:
      break;
  }
}

void ngx_ps_conn_send_event(conn_t* wc, const ps::SharedBytes& frame, const ps::EventPtr& ev) {
  switch (wc->session.send_event(frame, ev, now(), ngx_ps_now_us())) {
    case ps::WsSession::Send::queued:
      ngx_ps_stat_add(ngx_ps_stat::frames_sent, 1);
      post_write(wc);
      break;
    case ps::WsSession::Send::conflated:
      ngx_ps_stat_add(ngx_ps_stat::events_conflated, 1);
      break;
    case ps::WsSession::Send::slow_consumer:
      post_write(wc);  // the close frame
      break;
    case ps::WsSession::Send::not_open:
      break;
  }
}

void ngx_ps_conn_send_text(conn_t* wc, std::string_view json) {
  if (wc->session.open()) {
    ngx_ps_conn_send(wc, ps::make_shared_frame(ps::Opcode::text, json));
  }
}

void ngx_ps_conn_close(conn_t* wc, std::uint16_t code, std::string_view reason) {
  wc->session.close(code, reason, now());
  post_write(wc);
}

void ngx_ps_conn_abort(conn_t* wc) {
  wc->session.abort();
  finalize(wc);
}

conn_t* ngx_ps_conn_create(ngx_connection_t* c, ngx_http_portfolio_stream_loc_conf_t* lcf,
                           std::string_view user_id, std::string_view session_key,
                           std::string_view handshake_response, const ps::DeflateParams* deflate,
                           ngx_ps_limit_slot&& slot, ps::ResumeRequest* resume) {
  // The session key and user id: in the free end of the connection's pool
  // when they fit (after the upgrade it holds only the log, addresses and
  // HTTP's connection state: ~130 of its 512 bytes are free without TLS),
  // else in the connection's own block after the struct. Both outlive
  // conn_t: the pool goes with the connection, after ~conn_t.
  const std::size_t tail_size = session_key.size() + user_id.size();
  ngx_pool_t* pool = c->pool->current;
  const bool in_pool = std::size_t(pool->d.end - pool->d.last) >= tail_size;
  void* mem = ngx_alloc(sizeof(conn_t) + (in_pool ? 0 : tail_size), c->log);
  if (mem == nullptr) {
    return nullptr;
  }
  char* tail = in_pool ? static_cast<char*>(ngx_pnalloc(c->pool, tail_size))
                       : static_cast<char*>(mem) + sizeof(conn_t);
  if (tail == nullptr) {
    ngx_free(mem);
    return nullptr;
  }
  if (!session_key.empty()) {
    ngx_memcpy(tail, session_key.data(), session_key.size());
  }
  if (!user_id.empty()) {
    ngx_memcpy(tail + session_key.size(), user_id.data(), user_id.size());
  }
  conn_t* wc = nullptr;
  try {
    wc = ::new (mem) conn_t(c, lcf, deflate != nullptr, std::move(slot));
  } catch (...) {
    ngx_free(mem);
    return nullptr;
  }
  wc->session_key = std::string_view(tail, session_key.size());
  wc->slot.rebind(std::string_view(tail + session_key.size(), user_id.size()));
  if (deflate != nullptr) {
    // The handshake always agrees client_no_context_takeover: the shared
    // per-worker Inflater keeps nothing between messages.
    wc->deflate = 1;
  }
  bool failed = false;
  try {
    wc->session.send_unlimited(ps::SharedBytes::concat({handshake_response}));
    if (resume != nullptr) {
      wc->history = ngx_ps_history_create(wc, std::move(*resume));
    }
    ngx_ps_hub_attach(wc, user_id);
  } catch (...) {
    failed = true;
  }
  if (failed) {
    ngx_log_error(NGX_LOG_ERR, c->log, 0, "portfolio_stream: out of memory setting up a connection");
    try {
      ngx_ps_hub_detach(wc);
    } catch (...) {
      ngx_log_error(NGX_LOG_ALERT, c->log, 0, "portfolio_stream: internal error releasing a connection");
    }
    wc->~conn_t();
    ngx_free(wc);
    return nullptr;
  }
  return wc;
}

void ngx_ps_conn_run(conn_t* wc, std::string_view early) {
  ngx_connection_t* c = wc->connection;
  ngx_http_portfolio_stream_loc_conf_t* lcf = wc->lcf;
  c->data = wc;
  c->read->handler = read_handler;
  c->write->handler = write_handler;
  c->log->action = const_cast<char*>("serving a WebSocket");
  c->idle = 1;  // so a graceful shutdown reaches read_handler with c->close
  ngx_reusable_connection(c, 0);
  (void)ngx_tcp_nodelay(c);
  set_send_lowat(c, ps::send_lowat_option(lcf->send_lowat));
  if (c->read->timer_set) {
    ngx_del_timer(c->read);  // HTTP's; the session's deadline takes it over
  }
  if (c->write->timer_set) {
    ngx_del_timer(c->write);
  }

  ngx_ps_stat_add(ngx_ps_stat::connections_accepted, 1);
  ngx_ps_trim_note_handshake();
  bool failed = false;
  try {
    if (!early.empty()) {
      feed(wc, early);
    }
  } catch (...) {
    failed = true;
  }
  if (failed) {
    internal_error(wc, "reading");
  }
  if (ngx_exiting) {
    wc->session.close(ps::close_code::going_away, "server shutting down", now());
  }
  if (lcf->session_recheck > 0 && wc->session.open()) {
    // Staggered: connections opened together re-read at different times.
    ngx_msec_t half = lcf->session_recheck / 2;
    wc->session.schedule_recheck(
        now() + std::int64_t(half + ngx_msec_t(ngx_random()) % (lcf->session_recheck - half + 1)));
  }
  if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
    wc->session.abort();
  } else if (c->read->ready) {
    ngx_post_event(c->read, &ngx_posted_events);
  }
  step(wc);
}
