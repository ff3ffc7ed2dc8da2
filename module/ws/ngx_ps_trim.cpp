// After a storm of handshakes the freed request pools stay resident in the
// middle of the heap; once the storm is over, malloc_trim() hands their
// pages back (glibc: madvise(MADV_DONTNEED) on free pages, not only the
// top). One heap walk per storm, from a cancelable timer: it never holds a
// shutting-down worker.

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "trim_policy.h"

#include "ngx_ps_trim.h"

namespace {

ps::TrimPolicy trim_policy;
ngx_event_t trim_timer;

std::int64_t now() { return std::int64_t(ngx_current_msec); }

void arm() {
  std::optional<std::int64_t> at = trim_policy.deadline();
  if (!at || trim_timer.timer_set) {
    return;
  }
  ngx_add_timer(&trim_timer, ngx_msec_t(*at > now() ? *at - now() : 1));
}

void on_trim_timer(ngx_event_t* ev) {
  if (trim_policy.on_timer(now())) {
#ifdef __GLIBC__
    ngx_time_update();
    ngx_msec_t t0 = ngx_current_msec;
    malloc_trim(0);
    ngx_time_update();
    ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                  "portfolio_stream: gave the heap's free pages back after a storm of handshakes (%M ms)",
                  ngx_current_msec - t0);
#endif
    return;
  }
  arm();
}

}  // namespace

void ngx_ps_trim_note_handshake() {
  if (trim_timer.handler == nullptr) {
    trim_timer.handler = on_trim_timer;
    trim_timer.log = ngx_cycle->log;
    trim_timer.data = &trim_timer;
    trim_timer.cancelable = 1;
  }
  trim_policy.on_handshake(now());
  arm();
}

void ngx_ps_trim_exit() {
  if (trim_timer.timer_set) {
    ngx_del_timer(&trim_timer);
  }
}
