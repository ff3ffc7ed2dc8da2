// The per-worker hub (ws/ngx_ps_hub.cpp): the users with connections in
// this worker, their Redis subscriptions on the worker's one pub/sub
// connection, and the dispatch of published events to connections.
#pragma once

#include "channels.h"
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
