// When a worker hands the heap's free pages back to the kernel
// (malloc_trim): once a storm of handshakes is over. Every handshake's
// request pool (4 KiB) and header buffer live while its session lookup is
// pending, then are freed in the middle of the heap, between the
// connections that stay; the allocator keeps those pages resident until it
// reuses them. After a storm (say every trader reconnecting after a deploy)
// that is up to ~150 bytes per connection held for nothing. Churn (a
// handshake now and then) never triggers it. Sans-I/O: times in ms.
#pragma once

#include <cstdint>
#include <optional>

namespace ps {

class TrimPolicy {
 public:
  static constexpr std::uint32_t kMinHandshakes = 256;  // since the last trim: a storm
  static constexpr std::int64_t kQuietMs = 1000;        // with no handshake since

  // A handshake was completed (the connection upgraded). A pause of
  // kQuietMs before the count is a storm ends it: slow churn starts over.
  void on_handshake(std::int64_t now_ms) {
    if (count_ < kMinHandshakes && now_ms - last_ >= kQuietMs) count_ = 0;
    if (count_ < UINT32_MAX) ++count_;
    last_ = now_ms;
  }

  // When to look again (arm a timer for then), or nullopt: nothing is due.
  std::optional<std::int64_t> deadline() const {
    if (count_ < kMinHandshakes) return std::nullopt;
    return last_ + kQuietMs;
  }

  // The timer fired: true when the trim is due now (it then counts as done).
  // False: look at deadline() again (a handshake came meanwhile).
  bool on_timer(std::int64_t now_ms) {
    if (count_ < kMinHandshakes || now_ms - last_ < kQuietMs) return false;
    count_ = 0;
    return true;
  }

 private:
  std::uint32_t count_ = 0;
  std::int64_t last_ = 0;
};

}  // namespace ps
