#include "server_messages.h"

#include <cstddef>

namespace ps {
namespace {

constexpr Channel kCanonicalOrder[] = {Channel::positions, Channel::orders, Channel::account,
                                       Channel::trades};

void append_int(std::string& out, std::int64_t v) { out += std::to_string(v); }

void append_channels(std::string& out, ChannelMask mask) {
  out.push_back('[');
  bool first = true;
  for (const Channel c : kCanonicalOrder) {
    if (!(mask & channel_bit(c))) continue;
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    out.append(channel_name(c));
    out.push_back('"');
  }
  out.push_back(']');
}

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlongs,
// no surrogates, nothing above U+10FFFF), or 0 when there is none.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  const std::size_t left = s.size() - i;
  const auto cont = [&](std::size_t k) { return (b(k) & 0xc0) == 0x80; };
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return left >= 2 && cont(i + 1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (left < 3 || !cont(i + 1) || !cont(i + 2)) return 0;
    if (c == 0xe0 && b(i + 1) < 0xa0) return 0;   // overlong
    if (c == 0xed && b(i + 1) >= 0xa0) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (left < 4 || !cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c == 0xf0 && b(i + 1) < 0x90) return 0;   // overlong
    if (c == 0xf4 && b(i + 1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (c < 0x20) {
      out.append("\\u00");
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
      ++i;
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (const std::size_t n = utf8_sequence(s, i)) {
      out.append(s.substr(i, n));  // valid UTF-8 is kept as is
      i += n;
    } else {
      // Every message goes out in a text frame, which must be valid UTF-8:
      // a stray byte becomes U+FFFD rather than a frame the browser rejects.
      out.append("\\ufffd");
      ++i;
    }
  }
  out.push_back('"');
}

std::string connected_message(std::string_view user_id, ChannelMask channels, std::int64_t batch_window_ms,
                              std::int64_t heartbeat_ms, std::int64_t server_time_ms,
                              const ConnectedHistory* history) {
  std::string out;
  out.reserve(160 + user_id.size());
  out.append(R"({"type":"connected","userId":)");
  append_json_string(out, user_id);
  out.append(R"(,"channels":)");
  append_channels(out, channels);
  out.append(R"(,"batchWindowMs":)");
  append_int(out, batch_window_ms);
  out.append(R"(,"heartbeatMs":)");
  append_int(out, heartbeat_ms);
  out.append(R"(,"serverTime":)");
  append_int(out, server_time_ms);
  if (history != nullptr) {
    out.append(R"(,"epoch":)");
    append_json_string(out, history->epoch);
    if (!history->offset.empty()) {
      out.append(R"(,"offset":)");
      append_json_string(out, history->offset);
    }
    if (history->resumed) out.append(history->recovered ? R"(,"recovered":true)" : R"(,"recovered":false)");
  }
  out.push_back('}');
  return out;
}

std::string status_live_not_recovered(std::string_view new_epoch) {
  std::string out(R"({"type":"status","state":"live","recovered":false)");
  if (!new_epoch.empty()) {
    out.append(R"(,"epoch":)");
    append_json_string(out, new_epoch);
  }
  out.push_back('}');
  return out;
}

std::string status_message(bool live) {
  return live ? R"({"type":"status","state":"live"})" : R"({"type":"status","state":"degraded"})";
}

std::string subscribed_message(ChannelMask channels) {
  std::string out(R"({"type":"subscribed","channels":)");
  append_channels(out, channels);
  out.push_back('}');
  return out;
}

std::string pong_message(std::int64_t server_time_ms) {
  std::string out(R"({"type":"pong","serverTime":)");
  append_int(out, server_time_ms);
  out.push_back('}');
  return out;
}

std::string error_message(std::string_view code, std::string_view message) {
  std::string out(R"({"type":"error","code":)");
  append_json_string(out, code);
  out.append(R"(,"message":)");
  append_json_string(out, message);
  out.push_back('}');
  return out;
}

}  // namespace ps
