#include "ngx_ps_timer_pool.h"

ngx_event_t* ngx_ps_timer_pool::take(ngx_event_handler_pt handler, void* data, ngx_log_t* log) {
  ngx_event_t* ev;
  if (!free_.empty()) {
    ev = free_.back();
    free_.pop_back();
  } else {
    // Room in free_ first, so give()'s push_back cannot throw.
    free_.reserve(made_.size() + 1);
    made_.push_back(std::make_unique<ngx_event_t>());
    ev = made_.back().get();
  }
  *ev = ngx_event_t();
  ev->handler = handler;
  ev->data = data;
  ev->log = log;
  ev->cancelable = 1;
  return ev;
}

void ngx_ps_timer_pool::give(ngx_event_t* ev) noexcept {
  if (ev->timer_set) {
    ngx_del_timer(ev);
  }
  if (ev->posted) {
    ngx_delete_posted_event(ev);
  }
  ev->data = nullptr;
  free_.push_back(ev);
}
