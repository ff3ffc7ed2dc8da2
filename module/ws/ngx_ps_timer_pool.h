// Timer events lent to whoever needs one for a while (the hub's batch
// groups): an idle group holds none (ngx_event_t is 96 bytes; most users
// are idle most of the time). The pool owns every event it made; there are
// at most as many as were lent at once.
#pragma once

#include <memory>
#include <vector>

#include "ngx_ps_module.h"

class ngx_ps_timer_pool {
 public:
  // A cleared, cancelable event with this handler, data and log. Throws
  // std::bad_alloc (nothing lent then).
  ngx_event_t* take(ngx_event_handler_pt handler, void* data, ngx_log_t* log);
  // Stops ev (timer, posted) and takes it back. Never fails.
  void give(ngx_event_t* ev) noexcept;

 private:
  std::vector<std::unique_ptr<ngx_event_t>> made_;
  std::vector<ngx_event_t*> free_;  // room for every event made: give() cannot throw
};
