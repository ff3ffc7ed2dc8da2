// Cookie header parsing, the way node's `cookie` module (used by
// express-session) reads it: pairs split on ';', name and value trimmed of
// spaces and tabs, pairs without '=' skipped, the first pair with the name
// decides, optional double quotes removed, then percent-decoding. Unlike
// decodeURIComponent's fallback to the raw value, a bad escape is refused.
#include "cookie.h"
#include "ascii.h"

#include <cstddef>

namespace ps {
namespace {

constexpr std::size_t kMaxCookieValue = 4096;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX -> byte; '+' stays '+' (this is not form encoding). A '%' not followed
// by two hex digits -> nullopt.
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (s.size() - i < 3) return std::nullopt;
    const int hi = hex_value(s[i + 1]);
    const int lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

}  // namespace

std::optional<std::string> find_cookie(std::string_view header, std::string_view name) {
  if (name.empty()) return std::nullopt;
  std::size_t pos = 0;
  while (pos <= header.size()) {
    std::size_t end = header.find(';', pos);
    if (end == std::string_view::npos) end = header.size();
    const std::string_view pair = header.substr(pos, end - pos);
    pos = end + 1;

    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;  // "flag" without '=': not a cookie
    if (trim_ows(pair.substr(0, eq)) != name) continue;

    // The first cookie with this name decides, valid or not: browsers send
    // the most specific path first, and node's parser keeps the first too.
    std::string_view value = trim_ows(pair.substr(eq + 1));
    if (value.size() > kMaxCookieValue) return std::nullopt;
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return percent_decode(value);
  }
  return std::nullopt;
}

}  // namespace ps
