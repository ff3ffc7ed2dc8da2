// Sharded pub/sub frames (SSUBSCRIBE, Redis >= 7.0; SPEC section 9) as a
// subscriber receives them in RESP2, classified without copying:
//   ["smessage", channel, payload]        an event
//   ["ssubscribe", channel, count]        one per channel of an SSUBSCRIBE
//   ["sunsubscribe", channel, count]      one per channel of an SUNSUBSCRIBE,
//                                         or unasked: the channel's slot left
//                                         this node (reshard, failover) -> refresh
//                                         the slot map and resubscribe there
//   an error reply                        e.g. "MOVED <slot> <host:port>" or
//                                         "CROSSSLOT ..." to an SSUBSCRIBE
//
// hiredis 0.14's async API does not know these commands: an SSUBSCRIBE takes
// one callback for its first reply and every later frame is dropped (the
// context is not flagged subscribed) or, with no callback pending on a
// context that never sent SUBSCRIBE, trips its assert(). A shard pub/sub
// connection must therefore read its frames with hiredis's reader
// (redisReaderFeed/redisReaderGetReply) or resp_decode() and dispatch them
// here, not through redisAsyncCommand callbacks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "resp_value.h"

namespace ps {

enum class ShardFrameKind : std::uint8_t {
  message,       // channel, payload
  subscribed,    // channel, count (this connection's shard subscriptions now)
  unsubscribed,  // channel, count
  error,         // payload = the error text
  other,         // anything else (a reply to PING, a plain pub/sub frame, garbage)
};

struct ShardFrame {
  ShardFrameKind kind = ShardFrameKind::other;
  std::string_view channel;  // views into the reply: valid while it lives
  std::string_view payload;
  long long count = 0;
};

namespace shard_pubsub_detail {

inline bool iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// kind, element 1 as text (or an integer count in element 2) -> the frame
template <class Text, class Count>
ShardFrame classify(std::string_view word, std::size_t n, Text text, Count count) {
  ShardFrame f;
  if (n != 3) return f;
  std::string_view channel;
  if (!text(1, channel)) return f;
  if (iequal(word, "smessage")) {
    std::string_view payload;
    if (!text(2, payload)) return f;
    f.kind = ShardFrameKind::message;
    f.channel = channel;
    f.payload = payload;
    return f;
  }
  const bool sub = iequal(word, "ssubscribe");
  if (!sub && !iequal(word, "sunsubscribe")) return f;
  long long c = 0;
  if (!count(2, c)) return f;
  f.kind = sub ? ShardFrameKind::subscribed : ShardFrameKind::unsubscribed;
  f.channel = channel;
  f.count = c;
  return f;
}

}  // namespace shard_pubsub_detail

// A hiredis reply (redisReply: type, integer, len, str, elements, element).
// Never throws, never allocates.
template <class Reply>
ShardFrame classify_shard_frame(const Reply* r) noexcept {
  enum : int { kString = 1, kArray = 2, kInteger = 3, kStatus = 5, kError = 6 };
  ShardFrame f;
  if (r == nullptr) return f;
  if (r->type == kError) {
    f.kind = ShardFrameKind::error;
    f.payload = std::string_view(r->str, r->len);
    return f;
  }
  if (r->type != kArray || r->elements < 1 || r->element == nullptr) return f;
  const Reply* w = r->element[0];
  if (w == nullptr || (w->type != kString && w->type != kStatus)) return f;
  auto text = [r](std::size_t i, std::string_view& out) {
    const Reply* e = r->element[i];
    if (e == nullptr || e->type != kString) return false;
    out = std::string_view(e->str, e->len);
    return true;
  };
  auto count = [r](std::size_t i, long long& out) {
    const Reply* e = r->element[i];
    if (e == nullptr || e->type != kInteger) return false;
    out = e->integer;
    return true;
  };
  return shard_pubsub_detail::classify(std::string_view(w->str, w->len), r->elements, text, count);
}

// The same for a decoded RespValue (tests, resp_decode()).
inline ShardFrame classify_shard_frame(const RespValue& v) noexcept {
  ShardFrame f;
  if (v.is_error()) {
    f.kind = ShardFrameKind::error;
    f.payload = v.str;
    return f;
  }
  if (!v.is_array() || v.elements.empty() || !v.elements[0].is_text()) return f;
  auto text = [&v](std::size_t i, std::string_view& out) {
    if (v.elements[i].kind != RespValue::Kind::string) return false;
    out = v.elements[i].str;
    return true;
  };
  auto count = [&v](std::size_t i, long long& out) {
    if (!v.elements[i].is_integer()) return false;
    out = v.elements[i].integer;
    return true;
  };
  return shard_pubsub_detail::classify(v.elements[0].str, v.elements.size(), text, count);
}

}  // namespace ps
