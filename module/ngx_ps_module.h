// Declarations shared by the module's glue files: configuration, the
// per-connection state after the upgrade, and the per-worker hub.
#pragma once

#include "frame_parser.h"
#include "out_queue.h"
#include "channels.h"
#include "event.h"
#include "permessage_deflate.h"
#include "ngx_ps_redis.h"

extern "C" {
extern ngx_module_t ngx_http_portfolio_stream_module;
}

struct ngx_http_portfolio_stream_main_conf_t {
  ngx_ps_redis_addr_t redis;
  ngx_flag_t redis_set;
  ssize_t zone_size;
  ngx_int_t max_connections;
  size_t max_event_size;
  ngx_uint_t stream_locations;  // locations with portfolio_stream on
};

struct ngx_http_portfolio_stream_loc_conf_t {
  ngx_flag_t enable;  // portfolio_stream on|off (location only)
  ngx_flag_t stats;   // portfolio_stream_stats
  ngx_int_t max_connections_per_user;
  ngx_str_t session_cookie;
  ngx_array_t* session_secrets;  // of ngx_str_t
  ngx_str_t session_prefix;
  ngx_str_t session_user_field;
  ngx_msec_t session_recheck;
  ngx_str_t channel_prefix;
  ngx_str_t broadcast_channel;
  ngx_msec_t batch_window;
  ngx_msec_t heartbeat;
  ngx_array_t* allowed_origins;  // of ngx_str_t; NULL: same host as Host
  ngx_flag_t any_origin;         // "*"
  size_t max_message_size;
  size_t send_limit;
};

struct ngx_ps_user_t;
struct ngx_ps_group_t;
struct ngx_ps_conn_t;

// A list link that knows its connection (conn_t is not standard-layout, so
// no offsetof tricks).
struct ngx_ps_link_t {
  ngx_queue_t queue;
  ngx_ps_conn_t* conn;
};

// One upgraded WebSocket connection. Listed by the worker's hub; freed only
// by finalize() in ws/ngx_ps_conn.cpp.
struct ngx_ps_conn_t {
  ngx_connection_t* connection;
  ngx_http_portfolio_stream_loc_conf_t* lcf;
  ngx_ps_user_t* user;           // the user's channel entry (hub)
  ngx_ps_group_t* group;         // connections of this user sharing frames
  ngx_ps_user_t* broadcast;      // the broadcast channel's entry, if any
  ngx_ps_link_t group_link;      // in group->conns
  ngx_ps_link_t broadcast_link;  // in broadcast->conns
  ngx_ps_link_t worker_link;     // in the hub's list of every connection
  // Timers: the connection's own events carry the two that never overlap
  // (c->write: the heartbeat, cancelable; c->read: the wait for the peer's
  // close, not cancelable), so only the session re-read needs an event here.
  ngx_event_t recheck;           // session re-read timer; cancelable
  ngx_ps_get_t* recheck_lookup;  // pending re-read
  ngx_msec_t last_seen;          // ngx_current_msec of the last bytes read
  ngx_msec_t started;            // ngx_current_msec at the upgrade
  std::string session_key;       // prefix + sid, for the re-reads
  ps::FrameParser parser;
  ps::OutQueue out;
  ps::ChannelMask filter;
  unsigned connected_sent : 1;  // the "connected" frame is queued
  unsigned degraded : 1;        // told "degraded", owes "live"
  unsigned closing : 1;         // a close frame is queued; read no more data
  unsigned peer_closed : 1;     // peer's close frame received
  unsigned half_closed : 1;     // our write side is shut down
  unsigned finalized : 1;
  // permessage-deflate negotiated (always without context takeover in either
  // direction: no per-connection zlib state). Events go out compressed.
  unsigned deflate : 1;
  unsigned deflate_window_bits : 4;  // the server's LZ77 window, 9..15

  ngx_ps_conn_t(ngx_connection_t* c, ngx_http_portfolio_stream_loc_conf_t* conf)
      : connection(c),
        lcf(conf),
        user(nullptr),
        group(nullptr),
        broadcast(nullptr),
        group_link{{}, this},
        broadcast_link{{}, this},
        worker_link{{}, this},
        recheck(),
        recheck_lookup(nullptr),
        last_seen(ngx_current_msec),
        started(ngx_current_msec),
        parser(conf->max_message_size),
        filter(ps::kAllChannels),
        connected_sent(0),
        degraded(0),
        closing(0),
        peer_closed(0),
        half_closed(0),
        finalized(0),
        deflate(0),
        deflate_window_bits(15) {}
};

// ---- module-wide -----------------------------------------------------------
bool ngx_ps_disabled_by_env();
ngx_int_t ngx_http_portfolio_stream_handler(ngx_http_request_t* r);
std::int64_t ngx_ps_now_ms();  // wall clock, ms since epoch

// ---- connection loop (ws/ngx_ps_conn.cpp) -------------------
// Takes over c after the 101 was queued in `handshake_response`; `early` are
// bytes the client sent after its request (frames sent before the 101);
// `deflate`: the permessage-deflate agreement in that 101, or null.
ngx_int_t ngx_ps_conn_start(ngx_connection_t* c, ngx_http_portfolio_stream_loc_conf_t* lcf,
                            std::string_view user_id, std::string_view session_key,
                            std::string_view handshake_response, std::string_view early,
                            const ps::DeflateParams* deflate);
// Queue a frame (shared bytes) subject to send_limit; a connection over its
// limit is closed with 1008. The write is posted, not done here.
void ngx_ps_conn_send(ngx_ps_conn_t* wc, const ps::SharedBytes& frame);
void ngx_ps_conn_send_text(ngx_ps_conn_t* wc, std::string_view json);

// ---- the per-worker hub (ws/ngx_ps_hub.cpp) -----------------
ngx_int_t ngx_ps_hub_init(ngx_cycle_t* cycle);
void ngx_ps_hub_exit(ngx_cycle_t* cycle);
// Registers a connection for its user's channel (SUBSCRIBE when first);
// queues "connected" now or once the subscription is live. Throws bad_alloc.
void ngx_ps_hub_attach(ngx_ps_conn_t* wc, std::string_view user_id);
void ngx_ps_hub_detach(ngx_ps_conn_t* wc);
// The client changed its channel filter: move it to the matching group.
void ngx_ps_hub_set_filter(ngx_ps_conn_t* wc, ps::ChannelMask filter);
std::string_view ngx_ps_user_id(const ngx_ps_conn_t* wc);
// Closes every connection of this worker at once (worker exit).
void ngx_ps_conn_abort(ngx_ps_conn_t* wc);
