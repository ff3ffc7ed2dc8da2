#include "client_message.h"

#include <cstddef>

#include "json_util.h"

namespace ps {
namespace {

constexpr std::size_t kMaxEchoedName = 64;  // bytes of a client's string quoted back in an error

ClientMessage invalid(std::string_view code, std::string message) {
  ClientMessage m;
  m.kind = ClientMessage::Kind::invalid;
  m.error_code = code;
  m.error_message = std::move(message);
  return m;
}

ClientMessage bad_request(std::string message) { return invalid("bad_request", std::move(message)); }

// At most kMaxEchoedName bytes of valid UTF-8 `s`, cut on a code point
// boundary (the result goes into a text frame), "..." marking a cut.
std::string echo(std::string_view s) {
  if (s.size() <= kMaxEchoedName) return std::string(s);
  std::size_t n = kMaxEchoedName;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;  // s[n] continues a sequence
  std::string out(s.substr(0, n));
  out += "...";
  return out;
}

std::string_view string_of(const json_t* j) { return {json_string_value(j), json_string_length(j)}; }

}  // namespace

ClientMessage parse_client_message(std::string_view text) {
  // JSON_DECODE_ANY: a scalar is "not an object", not "invalid JSON".
  // JSON_ALLOW_NUL: "\u0000" is valid JSON; such a name is just unknown.
  const detail::JsonPtr root = detail::json_parse(text, JSON_DECODE_ANY | JSON_ALLOW_NUL);
  if (!root) return bad_request("message is not valid JSON");
  if (!json_is_object(root.get())) return bad_request("message must be a JSON object");

  const json_t* type = json_object_get(root.get(), "type");
  if (type == nullptr) return bad_request("message has no \"type\"");
  if (!json_is_string(type)) return bad_request("\"type\" must be a string");
  const std::string_view type_name = string_of(type);

  ClientMessage m;
  if (type_name == "ping") {
    m.kind = ClientMessage::Kind::ping;
    return m;
  }
  if (type_name == "subscribe") {
    m.kind = ClientMessage::Kind::subscribe;
  } else if (type_name == "unsubscribe") {
    m.kind = ClientMessage::Kind::unsubscribe;
  } else {
    return bad_request("unknown message type \"" + echo(type_name) + "\"");
  }

  const json_t* channels = json_object_get(root.get(), "channels");
  if (!json_is_array(channels)) return bad_request("\"channels\" must be an array of strings");
  // Shape first (every element a string), then names: a message that is
  // malformed is a bad_request whatever names it also carries.
  const std::size_t count = json_array_size(channels);
  for (std::size_t i = 0; i < count; ++i) {
    if (!json_is_string(json_array_get(channels, i)))
      return bad_request("\"channels\" must be an array of strings");
  }
  for (std::size_t i = 0; i < count; ++i) {
    const std::string_view name = string_of(json_array_get(channels, i));
    const std::optional<Channel> c = channel_from_name(name);
    if (!c) return invalid("unknown_channel", "unknown channel \"" + echo(name) + "\"");
    m.channels |= channel_bit(*c);
  }
  return m;
}

}  // namespace ps
