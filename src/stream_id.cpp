#include "stream_id.h"

namespace ps {
namespace {

// 1-20 decimal digits, value <= 2^64-1.
bool parse_u64(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty() || s.size() > 20) return false;
  std::uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

std::size_t format_u64(std::uint64_t v, char* out) noexcept {
  char tmp[20];
  std::size_t n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (std::size_t i = 0; i < n; ++i) out[i] = tmp[n - 1 - i];
  return n;
}

}  // namespace

std::optional<StreamId> parse_stream_id(std::string_view s) noexcept {
  const std::size_t dash = s.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  StreamId id;
  if (!parse_u64(s.substr(0, dash), id.ms) || !parse_u64(s.substr(dash + 1), id.seq)) return std::nullopt;
  return id;
}

std::size_t format_stream_id(StreamId id, char* out) noexcept {
  std::size_t n = format_u64(id.ms, out);
  out[n++] = '-';
  return n + format_u64(id.seq, out + n);
}

std::string to_string(StreamId id) {
  char buf[kStreamIdMaxLen];
  return std::string(buf, format_stream_id(id, buf));
}

}  // namespace ps
