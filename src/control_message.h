// Messages an app publishes on the control channel
// (portfolio_stream_control_channel; issue 15's logout push path):
//   {"type":"logout","userId":"u123"}   every connection of that user
//   {"type":"logout","sid":"<sid>"}     the connections of that session
// Both may be given (either matches). Integers are accepted for userId, as
// session documents allow them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ps {

struct ControlMessage {
  enum class Kind { logout };
  Kind kind = Kind::logout;
  std::optional<std::string> user_id;
  std::optional<std::string> sid;
};

// nullopt when the bytes are not such a message (invalid JSON, another type,
// logout naming neither a user nor a session, empty or over 256-byte ids).
// Throws std::bad_alloc only.
std::optional<ControlMessage> parse_control_message(std::string_view json);

}  // namespace ps
