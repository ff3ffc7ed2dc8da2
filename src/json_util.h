// Private helpers for the jansson-based parsers (session_json, envelope,
// client_message). Not part of the public interface.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include <jansson.h>

namespace ps::detail {

struct JsonDecref {
  void operator()(json_t* j) const noexcept { json_decref(j); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDecref>;

// Deepest nesting of arrays/objects we hand to jansson. jansson >= 2.11 has
// its own limit (JSON_PARSER_MAX_DEPTH, 2048) but older releases recurse
// without bound, so the bytes are pre-scanned: a stack overflow is never a
// peer's to cause. No real session, event or client message comes close.
inline constexpr std::size_t kJsonMaxDepth = 256;

// True when `bytes` opens more than `limit` nested arrays/objects at some
// point (brackets inside strings are skipped). Linear, no allocation. The
// scan is only a bound: malformed input is left for jansson to reject.
inline bool json_too_deep(std::string_view bytes, std::size_t limit = kJsonMaxDepth) noexcept {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // skip the escaped character (a \uXXXX's digits are harmless)
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > limit) return true;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return false;
}

// jansson's json_loadb with the depth pre-check. flags: JSON_DECODE_ANY to
// accept a scalar at top level, JSON_ALLOW_NUL to accept "\u0000" in strings.
// Trailing garbage is always an error (no JSON_DISABLE_EOF_CHECK).
// nullptr on any error, including allocation failure inside jansson.
inline JsonPtr json_parse(std::string_view bytes, std::size_t flags) noexcept {
  if (json_too_deep(bytes)) return nullptr;
  json_error_t err;
  return JsonPtr(json_loadb(bytes.data(), bytes.size(), flags & ~std::size_t(JSON_DISABLE_EOF_CHECK), &err));
}

}  // namespace ps::detail
