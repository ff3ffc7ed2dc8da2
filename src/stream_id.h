// Redis stream ids ("ms-seq"): the offsets of SPEC section 8.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ps {

struct StreamId {
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;
};

constexpr bool operator==(StreamId a, StreamId b) noexcept { return a.ms == b.ms && a.seq == b.seq; }
constexpr bool operator!=(StreamId a, StreamId b) noexcept { return !(a == b); }
constexpr bool operator<(StreamId a, StreamId b) noexcept {
  return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq);
}
constexpr bool operator>(StreamId a, StreamId b) noexcept { return b < a; }
constexpr bool operator<=(StreamId a, StreamId b) noexcept { return !(b < a); }
constexpr bool operator>=(StreamId a, StreamId b) noexcept { return !(a < b); }

// Longest formatted id: two 20-digit numbers and the '-'.
inline constexpr std::size_t kStreamIdMaxLen = 41;

// Strict: 1-20 decimal digits, '-', 1-20 decimal digits, nothing else (no
// sign, no space, no "ms" alone, no "*"); a part above 2^64-1 is invalid.
// Leading zeros are accepted ("007-1" is 7-1). nullopt when invalid.
std::optional<StreamId> parse_stream_id(std::string_view s) noexcept;

// "ms-seq" in decimal without leading zeros into out (at least
// kStreamIdMaxLen bytes, not NUL-terminated); returns the length written.
std::size_t format_stream_id(StreamId id, char* out) noexcept;

// The same as a string. Throws std::bad_alloc only.
std::string to_string(StreamId id);

}  // namespace ps
