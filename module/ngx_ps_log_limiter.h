// At most one log line per interval for a recurring trouble (a flapping
// Redis, a broken publisher, a full zone), with the count of lines it
// swallowed, so a bad minute cannot flood the error log.
#pragma once

#include "ngx_ps_nginx.h"

struct ngx_ps_log_limiter {
  ngx_msec_t interval = 1000;
  ngx_msec_t last = 0;
  ngx_uint_t suppressed = 0;
  bool armed = false;

  explicit ngx_ps_log_limiter(ngx_msec_t every = 1000) : interval(every) {}

  // true: write the line now; *skipped is how many were swallowed before it.
  bool allow(ngx_uint_t* skipped) {
    if (armed && ngx_current_msec - last < interval) {
      suppressed++;
      return false;
    }
    armed = true;
    last = ngx_current_msec;
    *skipped = suppressed;
    suppressed = 0;
    return true;
  }
  void reset() {
    armed = false;
    suppressed = 0;
  }
};
