#include "session_json.h"

#include <cinttypes>
#include <cstdio>
#include <string>

#include "json_util.h"

namespace ps {
namespace {

constexpr std::size_t kMaxUserId = 256;

bool has_control_chars(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

}  // namespace

std::optional<std::string> session_user_id(std::string_view json, std::string_view dotted_path) {
  if (dotted_path.empty()) return std::nullopt;
  // No JSON_DECODE_ANY (a session is an object), no JSON_ALLOW_NUL.
  const detail::JsonPtr root = detail::json_parse(json, 0);
  if (!root) return std::nullopt;

  const json_t* node = root.get();
  std::size_t pos = 0;
  while (true) {
    std::size_t dot = dotted_path.find('.', pos);
    if (dot == std::string_view::npos) dot = dotted_path.size();
    const std::string_view key = dotted_path.substr(pos, dot - pos);
    if (key.empty() || !json_is_object(node)) return std::nullopt;
    // json_object_get (not _getn, which needs jansson 2.14) wants a C string.
    node = json_object_get(node, std::string(key).c_str());
    if (node == nullptr) return std::nullopt;
    if (dot == dotted_path.size()) break;
    pos = dot + 1;
  }

  if (json_is_string(node)) {
    const std::string_view id(json_string_value(node), json_string_length(node));
    if (id.empty() || id.size() > kMaxUserId || has_control_chars(id)) return std::nullopt;
    return std::string(id);
  }
  if (json_is_integer(node)) {
    char buf[24];
    const int n =
        std::snprintf(buf, sizeof buf, "%" PRId64, static_cast<std::int64_t>(json_integer_value(node)));
    return std::string(buf, static_cast<std::size_t>(n));
  }
  return std::nullopt;  // real, boolean, null, object, array
}

}  // namespace ps
