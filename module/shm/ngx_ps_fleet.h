// The fleet-wide per-user limit (SPEC section 9, portfolio_stream_limit_scope
// fleet): this worker's edge id, its connection ids, the lease renewals
// (src/fleet.h's FleetLeaseBook) and the Redis calls of the
// portfolio_stream_fleet library. A connection's fleet place is held by its
// ngx_ps_limit_slot, which gives it back.
#pragma once

#include <cstdint>
#include <string_view>

#include "ngx_ps_module.h"

// Worker start/exit (nothing when the scope is instance).
ngx_int_t ngx_ps_fleet_init_process(ngx_cycle_t* cycle);
void ngx_ps_fleet_exit_process();
bool ngx_ps_fleet_enabled();

// Asks Redis for a place of user_id among max_connections_per_user fleet-wide.
// The handler gets: granted (conn id > 0), refused (0, the user is at the
// limit) or Redis failing (ok = false). Never called from inside the call.
// Returns the pending call (cancel with ngx_ps_fleet_cancel) or nullptr
// when it cannot even start (answer 503).
typedef void (*ngx_ps_fleet_handler_pt)(void* data, bool ok, std::uint64_t conn_id);
struct ngx_ps_fleet_pending_t;
ngx_ps_fleet_pending_t* ngx_ps_fleet_acquire(std::string_view user_id, ngx_int_t limit,
                                             ngx_ps_fleet_handler_pt handler, void* data);
// The caller went away: its place, if granted after all, is given back.
void ngx_ps_fleet_cancel(ngx_ps_fleet_pending_t* p);
// Gives a granted place back (the connection ended).
void ngx_ps_fleet_release(std::string_view user_id, std::uint64_t conn_id);

// For the renewal's resync: visits this worker's held places (user, conn id).
typedef void (*ngx_ps_fleet_visit_pt)(void* ctx, std::string_view user_id, std::uint64_t conn_id);
void ngx_ps_fleet_for_each_held(ngx_ps_fleet_visit_pt visit, void* ctx);
