// The worker gives the heap's free pages back after a storm of handshakes
// (ps::TrimPolicy, src/trim_policy.h): one cancelable timer per worker.
#pragma once

#include "ngx_ps_module.h"

// A connection was upgraded.
void ngx_ps_trim_note_handshake();
// Worker exit: the timer goes.
void ngx_ps_trim_exit();
