#include "control_message.h"

#include "json_scan.h"

namespace ps {
namespace {

constexpr std::size_t kMaxId = 256;

std::optional<std::string> id_of(const json::Value& v) {
  std::string s;
  if (v.is_string()) {
    s = v.string();
  } else if (v.is_integer()) {
    s = std::string(v.integer_text());
  } else {
    return std::nullopt;
  }
  if (s.empty() || s.size() > kMaxId) return std::nullopt;
  return s;
}

}  // namespace

std::optional<ControlMessage> parse_control_message(std::string_view bytes) {
  const json::Value root = json::parse(bytes);
  if (!root.is_object() || !root.find("type").string_equals("logout")) return std::nullopt;
  ControlMessage m;
  m.kind = ControlMessage::Kind::logout;
  if (json::Value u = root.find("userId")) m.user_id = id_of(u);
  if (json::Value s = root.find("sid")) m.sid = id_of(s);
  if (!m.user_id && !m.sid) return std::nullopt;
  return m;
}

}  // namespace ps
