// SPEC section 8 for one connection (ws/ngx_ps_history.cpp): the history
// read once the user's subscription is live (first connect, resume, or
// catch-up after an outage), the live events held while it is in flight,
// the replay, and the connection's position (the highest offset it is past)
// that keeps every event exactly once. The rules are src/history.h's.
#pragma once

#include "batcher.h"
#include "history.h"

#include "ngx_ps_module.h"

struct ngx_ps_conn_t;
struct ngx_ps_history_t;

// Owns a connection's history state; destroying it cancels a pending read.
struct ngx_ps_history_deleter {
  void operator()(ngx_ps_history_t* h) const noexcept;
};
using ngx_ps_history_ptr = std::unique_ptr<ngx_ps_history_t, ngx_ps_history_deleter>;

// For a connection of a location with history on; `resume` is what the
// handshake's query asked for (present or not). Throws std::bad_alloc.
ngx_ps_history_ptr ngx_ps_history_create(ngx_ps_conn_t* wc, ps::ResumeRequest&& resume);

// The user's subscription is live for wc: the first time, "connected" goes
// out after the read; after an outage, the catch-up replay then "live".
void ngx_ps_history_live(ngx_ps_conn_t* wc);

// One output of wc's group batcher. true: taken care of here (held during a
// read, or sent without what wc already has); false: send out.frame as
// usual (wc's position has moved past it).
bool ngx_ps_history_deliver(ngx_ps_conn_t* wc, const ps::Batcher::Output& out);
