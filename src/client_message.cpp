#include "client_message.h"

#include <cstddef>
#include <optional>
#include <string>

#include "json_scan.h"

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

}  // namespace

ClientMessage parse_client_message(std::string_view text) {
  // Any JSON value parses: a scalar is "not an object", not "invalid JSON".
  // "\u0000" is valid JSON; such a name is just unknown.
  const json::Value root = json::parse(text);
  if (!root) return bad_request("message is not valid JSON");
  if (!root.is_object()) return bad_request("message must be a JSON object");

  // Of duplicate keys the last wins.
  json::Value type, channels;
  json::Value k, v;
  for (json::Members members(root); members.next(k, v);) {
    if (k.string_equals("type")) {
      type = v;
    } else if (k.string_equals("channels")) {
      channels = v;
    }
  }
  if (!type) return bad_request("message has no \"type\"");
  if (!type.is_string()) return bad_request("\"type\" must be a string");

  ClientMessage m;
  if (type.string_equals("ping")) {
    m.kind = ClientMessage::Kind::ping;
    return m;
  }
  if (type.string_equals("subscribe")) {
    m.kind = ClientMessage::Kind::subscribe;
  } else if (type.string_equals("unsubscribe")) {
    m.kind = ClientMessage::Kind::unsubscribe;
  } else {
    return bad_request("unknown message type \"" + echo(type.string()) + "\"");
  }

  if (!channels.is_array()) return bad_request("\"channels\" must be an array of strings");
  // Shape first (every element a string), then names: a message that is
  // malformed is a bad_request whatever names it also carries.
  json::Value e;
  for (json::Elements elements(channels); elements.next(e);) {
    if (!e.is_string()) return bad_request("\"channels\" must be an array of strings");
  }
  for (json::Elements elements(channels); elements.next(e);) {
    const std::optional<Channel> c =
        e.string_is_plain() ? channel_from_name(e.string_contents()) : channel_from_name(e.string());
    if (!c) return invalid("unknown_channel", "unknown channel \"" + echo(e.string()) + "\"");
    m.channels |= channel_bit(*c);
  }
  return m;
}

}  // namespace ps
