// One upgraded WebSocket connection: the nginx side of a ps::WsSession
// (src/ws_session.h), which holds every protocol rule and deadline. This
// glue reads, writes, arms the one timer the session asks for, and frees
// the connection when the session says it is closed.
#pragma once

#include <cstddef>
#include <string_view>

#include "channels.h"
#include "permessage_deflate.h"
#include "ws_session.h"

#include "ngx_ps_history.h"
#include "ngx_ps_limit_slot.h"
#include "ngx_ps_module.h"

struct ngx_ps_user_t;
struct ngx_ps_group_t;
struct ngx_ps_conn_t;

// The lists a connection is in. Bare ngx_queue_t links in one
// standard-layout struct (conn_t itself is not), so that a link finds its
// connection with offsetof and one pointer: ngx_ps_link_conn(). Each is
// self-linked while in no list, so unlinking is always safe.
struct ngx_ps_conn_links_t {
  ngx_queue_t group;      // in group->conns
  ngx_queue_t broadcast;  // in broadcast->conns
  ngx_queue_t worker;     // in the hub's list of every connection
  ngx_ps_conn_t* conn;

  explicit ngx_ps_conn_links_t(ngx_ps_conn_t* c) : group(), broadcast(), worker(), conn(c) {
    ngx_queue_init(&group);
    ngx_queue_init(&broadcast);
    ngx_queue_init(&worker);
  }
};

// Which link of ngx_ps_conn_links_t a list holds.
enum class ngx_ps_list : std::size_t {
  group = offsetof(ngx_ps_conn_links_t, group),
  broadcast = offsetof(ngx_ps_conn_links_t, broadcast),
  worker = offsetof(ngx_ps_conn_links_t, worker),
};

inline ngx_ps_conn_t* ngx_ps_link_conn(ngx_queue_t* q, ngx_ps_list which) {
  return reinterpret_cast<ngx_ps_conn_links_t*>(reinterpret_cast<char*>(q) - std::size_t(which))->conn;
}

inline void ngx_ps_unlink(ngx_queue_t* q) {
  ngx_queue_remove(q);
  ngx_queue_init(q);
}

// Owned by itself: created by ngx_ps_conn_create(), freed only by the
// connection's finalize (as the last step of one of its handlers, or at
// worker exit). Everything it holds is released there: the hub's entries,
// the limit slot (by its destructor), the timers, a pending session re-read.
struct ngx_ps_conn_t {
  ngx_connection_t* connection;
  ngx_http_portfolio_stream_loc_conf_t* lcf;
  ngx_ps_user_t* user;       // the user's channel entry (hub)
  ngx_ps_group_t* group;     // connections of this user sharing frames
  ngx_ps_user_t* broadcast;  // the broadcast channel's entry, if any
  ngx_ps_conn_links_t links;
  // The session's deadline, the session re-read's included
  // (WsSession::schedule_recheck), rides on c->read's timer (cancelable while
  // open, so an idle heartbeat never holds a shutting-down worker; not once
  // closing, so a reload lets closes finish within close_timeout).
  ngx_ps_get_t* recheck_lookup;  // pending re-read
  ngx_msec_t started;            // ngx_current_msec at the upgrade
  // prefix + sid, for the re-reads; its bytes, and the user id the slot
  // names, are this connection's own: in c->pool, or in its allocation
  // after the struct (ngx_ps_conn_create).
  std::string_view session_key;
  ngx_ps_limit_slot slot;
  ngx_ps_history_ptr history;  // SPEC section 8, when the location has it on
  ps::WsSession session;
  ps::ChannelMask filter;
  unsigned connected_sent : 1;  // the "connected" frame is queued
  unsigned degraded : 1;        // told "degraded", owes "live"
  unsigned close_noted : 1;     // the close was logged and counted
  unsigned finalized : 1;
  // permessage-deflate negotiated (always without context takeover in either
  // direction, and the full window: offers of a smaller one are declined, so
  // one compressed frame serves every connection). Events go out compressed.
  unsigned deflate : 1;

  ngx_ps_conn_t(ngx_connection_t* c, ngx_http_portfolio_stream_loc_conf_t* conf, bool deflate,
                ngx_ps_limit_slot&& limit_slot)
      : connection(c),
        lcf(conf),
        user(nullptr),
        group(nullptr),
        broadcast(nullptr),
        links(this),
        recheck_lookup(nullptr),
        started(ngx_current_msec),
        slot(std::move(limit_slot)),
        history(),
        session(conf->session, std::int64_t(ngx_current_msec), deflate),
        filter(ps::kAllChannels),
        connected_sent(0),
        degraded(0),
        close_noted(0),
        finalized(0),
        deflate(0) {}
};

// Makes the connection while the HTTP request still lives: queues the 101
// (`handshake_response`) first, then registers with the hub (which may queue
// "connected"). nullptr on failure (out of memory): nothing of it is left,
// `slot` is released, and the caller answers 503. `deflate`: the
// permessage-deflate agreement in that 101, or null; `resume`: the history
// resume the query asked for, or null when the location has no history.
ngx_ps_conn_t* ngx_ps_conn_create(ngx_connection_t* c, ngx_http_portfolio_stream_loc_conf_t* lcf,
                                  std::string_view user_id, std::string_view session_key,
                                  std::string_view handshake_response, const ps::DeflateParams* deflate,
                                  ngx_ps_limit_slot&& slot, ps::ResumeRequest* resume);
// Takes the connection over once HTTP has let go of it; `early` are bytes
// the client sent after its request (frames sent before the 101).
void ngx_ps_conn_run(ngx_ps_conn_t* wc, std::string_view early);
// Queues a frame (shared bytes) under send_limit; over it the connection is
// closed with 1008. The write is posted, not done here; never frees wc.
void ngx_ps_conn_send(ngx_ps_conn_t* wc, const ps::SharedBytes& frame);
void ngx_ps_conn_send_text(ngx_ps_conn_t* wc, std::string_view json);
// ngx_ps_conn_send for a frame carrying the one event ev: may replace a
// queued update of the same key instead while the client lags (conflation).
void ngx_ps_conn_send_event(ngx_ps_conn_t* wc, const ps::SharedBytes& frame, const ps::EventPtr& ev);
// Begins a close (e.g. 4401); the connection ends within close_timeout.
void ngx_ps_conn_close(ngx_ps_conn_t* wc, std::uint16_t code, std::string_view reason);
// Worker exit: frees the connection now.
void ngx_ps_conn_abort(ngx_ps_conn_t* wc);
