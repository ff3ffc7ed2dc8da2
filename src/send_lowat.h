// portfolio_stream_send_lowat: how many bytes of ours may wait unsent in the
// kernel for one WebSocket connection (Linux TCP_NOTSENT_LOWAT).
//
// Without a mark the kernel takes whatever fits in an autotuned send buffer
// (up to tcp_wmem's max, 4 MiB by default), so a client that stalls soaks up
// megabytes of updates before a write ever fails, and conflation (which
// replaces updates still in our own queue, see ws_session.h) starts only
// after them. With the mark a write fails once that many bytes are unsent,
// the socket reports writable again only below it, and the backlog waits in
// our queue, where a newer update replaces an older one. Bytes already sent
// but unread (the client's receive window) are not counted: the kernel
// bounds them by the peer's window.
#pragma once

#include <cstddef>

namespace ps {

struct SendLowat {
  static constexpr std::size_t kDefault = 32 * 1024;
  static constexpr std::size_t kMin = 1024;                // 0 (off) aside
  static constexpr std::size_t kMax = 1024 * 1024 * 1024;  // setsockopt takes an int
};

// nullptr when `value` (bytes; 0 = off, the kernel's behaviour) can be set,
// else why not, for the directive's error ("must be ...").
const char* check_send_lowat(std::size_t value);

// The TCP_NOTSENT_LOWAT value to set for a configured (checked) `value`; 0:
// leave the socket as the kernel made it.
int send_lowat_option(std::size_t value);

}  // namespace ps
