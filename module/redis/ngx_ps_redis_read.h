// The read path of both Redis connections (ngx_ps_redis_read.cpp): the
// module reads the socket itself and passes the bytes through a reply guard
// (src/resp_guard.h) into hiredis' reader, instead of redisAsyncHandleRead.
// A bulk string over the connection's limit never reaches hiredis: the guard
// turns it into a null bulk and drops its payload as it streams in, so a
// connection buffers at most its limit plus one read.
//
// Limits (from portfolio_stream_max_event_size, M):
// - pub/sub: max(M, 64 KiB). A message whose payload is over it arrives at
//   sub_frame/shard_frame with a null payload (Redis never publishes one):
//   read_oversize_payload() stands in for it. Up to 64 KiB the hub checks M
//   itself, as before; the floor keeps channel names and the "message" kind,
//   which hiredis asserts are strings, out of the guard's reach.
// - command: max(1 MiB, M + 4 KiB) (a history read returns events of up to M
//   bytes with their offset added). A GET whose value is over it answers
//   missing (the handshake: 401; a session re-read: 4401), a history read with
//   such an element fails; either way one (rate-limited) log line says so.
#pragma once

#include <string_view>

#include "ngx_ps_redis_internal.h"

namespace ngx_ps_redis_internal {

// pc has a new context: a new reply stream, limits from the configuration.
// False: no memory for its guard.
bool read_start(ps_conn* pc);

enum class read_rc {
  more,     // read something: the socket may hold more
  drained,  // EAGAIN: wait for the next read event
  failed,   // the connection must be dropped: *why (static text)
};

// One read(2) of at most 16 KiB from pc's socket, through the guard into
// hiredis' reader, then hiredis' reply callbacks (which may free the context:
// check pc->ac afterwards). pc must have a connected context.
read_rc read_once(ps_conn* pc, const char** why);

// What the hub gets as the payload of a message the guard discarded: M + 1
// bytes of read-only zero pages (mapped once, never written, so no RSS), an
// event that ps::parse_event refuses as too_large without reading a byte, so
// the hub counts and logs it like any other oversize event. Empty (counted as
// invalid JSON) if the mapping could not be made.
std::string_view read_oversize_payload();

}  // namespace ngx_ps_redis_internal
