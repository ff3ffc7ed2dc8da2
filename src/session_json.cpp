#include "session_json.h"

#include <string>

#include "json_scan.h"

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
  const json::Value root = json::parse(json);
  if (!root.is_object()) return std::nullopt;  // invalid JSON, or not an object
  const json::Value node = root.find_path(dotted_path);
  if (node.is_string()) {
    if (node.string_size() > kMaxUserId) return std::nullopt;  // before copying it
    std::string id = node.string();
    if (id.empty() || has_control_chars(id)) return std::nullopt;
    return id;
  }
  if (node.is_integer()) {
    // Bounded like a string id: it becomes a channel name, a key, log text.
    const std::string_view digits = node.integer_text();
    if (digits.size() > kMaxUserId) return std::nullopt;
    return std::string(digits);
  }
  return std::nullopt;  // number with fraction/exponent, boolean, null, object, array, missing
}

}  // namespace ps
