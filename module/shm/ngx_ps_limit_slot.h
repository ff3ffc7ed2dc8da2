// One connection's place under max_connections and max_connections_per_user
// (all workers, in the zone) and, with portfolio_stream_limit_scope fleet,
// its place in the fleet-wide count (Redis). Its one owner gives both back:
// the handshake while the request lives, then the WebSocket connection; the
// destructor releases, so no path releases twice or never.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "ngx_ps_fleet.h"
#include "ngx_ps_stats.h"

class ngx_ps_limit_slot {
 public:
  ngx_ps_limit_slot() = default;
  ngx_ps_limit_slot(ngx_ps_limit_slot&& other) noexcept
      : user_(std::move(other.user_)), fleet_conn_(other.fleet_conn_), held_(other.held_) {
    other.held_ = false;
    other.fleet_conn_ = 0;
  }
  ngx_ps_limit_slot(const ngx_ps_limit_slot&) = delete;
  ngx_ps_limit_slot& operator=(const ngx_ps_limit_slot&) = delete;
  ngx_ps_limit_slot& operator=(ngx_ps_limit_slot&&) = delete;
  ~ngx_ps_limit_slot() { release(); }

  // Takes the fleet place granted to this connection (conn id from
  // ngx_ps_fleet_acquire), before acquire(). Throws std::bad_alloc before
  // taking anything.
  void adopt_fleet(std::string_view user_id, std::uint64_t conn_id) {
    user_.assign(user_id);
    fleet_conn_ = conn_id;
  }

  // NGX_OK (now held), or the HTTP status to answer (429; 503 with
  // Retry-After), already counted. Throws std::bad_alloc before taking
  // anything.
  ngx_int_t acquire(ngx_http_request_t* r, std::string_view user_id,
                    ngx_http_portfolio_stream_loc_conf_t* lcf) {
    if (held_) {
      held_ = false;
      ngx_ps_limits_release(user_);
    }
    user_.assign(user_id);
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
  std::string user_;
  std::uint64_t fleet_conn_ = 0;  // the fleet place, 0: none
  bool held_ = false;
};
