// The per-worker hub (ws/ngx_ps_hub.cpp): the users with connections in
// this worker, their Redis subscriptions on the worker's one pub/sub
// connection, and the dispatch of published events to connections.
#pragma once

#include <vector>

#include "channels.h"
#include "envelope.h"
#include "event.h"
#include "server_messages.h"
#include "ngx_ps_module.h"

struct ngx_ps_conn_t;

ngx_int_t ngx_ps_hub_init(ngx_cycle_t* cycle);
// Worker exit: closes the connections still open, then Redis.
void ngx_ps_hub_exit(ngx_cycle_t* cycle);
// Registers a connection for its user's channel (SUBSCRIBE when first) and
// queues "connected" now or once the subscription is live. On failure
// (std::bad_alloc) nothing of it stays registered, and it rethrows.
void ngx_ps_hub_attach(ngx_ps_conn_t* wc, std::string_view user_id);
// Undoes whatever attach did (safe on a partly attached connection).
void ngx_ps_hub_detach(ngx_ps_conn_t* wc);
// The client changed its channel filter: move it to the matching group.
void ngx_ps_hub_set_filter(ngx_ps_conn_t* wc, ps::ChannelMask filter);
std::string_view ngx_ps_user_id(const ngx_ps_conn_t* wc);

// ---- for the history glue (ws/ngx_ps_history.cpp) ----------------------------
// The user's channel (Redis pub/sub name) of wc.
std::string_view ngx_ps_hub_channel(const ngx_ps_conn_t* wc);
// Whether wc's subscriptions (its user's and the broadcast channel's) are live.
bool ngx_ps_hub_user_live(const ngx_ps_conn_t* wc);
// Queues "connected" (with SPEC section 8's fields when history is given).
void ngx_ps_hub_send_connected(ngx_ps_conn_t* wc, const ps::ConnectedHistory* history);
// Queues {"type":"status","state":"live"} (the shared frame).
void ngx_ps_hub_send_status_live(ngx_ps_conn_t* wc);
// Queues events to wc alone, in order: a bare frame for one, batch frames
// for more (bounded like the batcher's); compressed for a deflate connection.
void ngx_ps_hub_send_events(ngx_ps_conn_t* wc, const std::vector<ps::EventPtr>& events);
std::size_t ngx_ps_hub_max_event_size();
// Counts (and, rate-limited, logs) an event that was dropped as invalid.
void ngx_ps_hub_count_invalid(ps::EventError err, std::string_view channel);
