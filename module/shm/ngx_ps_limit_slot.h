// One connection's place under max_connections and max_connections_per_user
// (all workers, in the zone) and, with portfolio_stream_limit_scope fleet,
// its place in the fleet-wide count (Redis). Its one owner gives both back:
// the handshake while the request lives, then the WebSocket connection; the
// destructor releases, so no path releases twice or never. It does not own
// the user id it names: whoever holds it keeps those bytes alive (the
// handshake's, then the connection's own copy, see rebind()).
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

#include "ngx_ps_fleet.h"
#include "ngx_ps_stats.h"

class ngx_ps_limit_slot {
 public:
  ngx_ps_limit_slot() = default;
  ngx_ps_limit_slot(ngx_ps_limit_slot&& other) noexcept
      : user_(other.user_), fleet_conn_(other.fleet_conn_), held_(other.held_) {
    other.held_ = false;
    other.fleet_conn_ = 0;
  }
  ngx_ps_limit_slot(const ngx_ps_limit_slot&) = delete;
  ngx_ps_limit_slot& operator=(const ngx_ps_limit_slot&) = delete;
  ngx_ps_limit_slot& operator=(ngx_ps_limit_slot&&) = delete;
  ~ngx_ps_limit_slot() { release(); }

  // Takes the fleet place granted to this connection (conn id from
  // ngx_ps_fleet_acquire), before acquire().
  void adopt_fleet(std::string_view user_id, std::uint64_t conn_id) noexcept {
    user_ = user_id;
    fleet_conn_ = conn_id;
  }

  // The same user id, now in bytes that live as long as the slot's new owner.
  void rebind(std::string_view same_user_id) noexcept { user_ = same_user_id; }

  // NGX_OK (now held), or the HTTP status to answer (429; 503 with
  // Retry-After), already counted.
  ngx_int_t acquire(ngx_http_request_t* r, std::string_view user_id,
                    ngx_http_portfolio_stream_loc_conf_t* lcf) {
    if (held_) {
      held_ = false;
      ngx_ps_limits_release(user_);
    }
    user_ = user_id;
    ngx_int_t rc = ngx_ps_limits_acquire(r, user_, lcf);
    held_ = rc == NGX_OK;
    return rc;
  }

  void release() noexcept {
    if (held_) {
      held_ = false;
      ngx_ps_limits_release(user_);
    }
    if (fleet_conn_ != 0) {
      ngx_ps_fleet_release(user_, fleet_conn_);
      fleet_conn_ = 0;
    }
  }

  bool held() const { return held_; }

 private:
  std::string_view user_;
  std::uint64_t fleet_conn_ = 0;  // the fleet place, 0: none
  bool held_ = false;
};
