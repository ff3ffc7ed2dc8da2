// One connection's place under max_connections and max_connections_per_user
// (all workers, in the zone). Its one owner gives it back: the handshake
// while the request lives, then the WebSocket connection; the destructor
// releases, so no path releases twice or never.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "ngx_ps_stats.h"

class ngx_ps_limit_slot {
 public:
  ngx_ps_limit_slot() = default;
  ngx_ps_limit_slot(ngx_ps_limit_slot&& other) noexcept : user_(std::move(other.user_)), held_(other.held_) {
    other.held_ = false;
  }
  ngx_ps_limit_slot(const ngx_ps_limit_slot&) = delete;
  ngx_ps_limit_slot& operator=(const ngx_ps_limit_slot&) = delete;
  ngx_ps_limit_slot& operator=(ngx_ps_limit_slot&&) = delete;
  ~ngx_ps_limit_slot() { release(); }

  // NGX_OK (now held), or the HTTP status to answer (429; 503 with
  // Retry-After), already counted. Throws std::bad_alloc before taking
  // anything.
  ngx_int_t acquire(ngx_http_request_t* r, std::string_view user_id,
                    ngx_http_portfolio_stream_loc_conf_t* lcf) {
    release();
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
  }

  bool held() const { return held_; }

 private:
  std::string user_;
  bool held_ = false;
};
