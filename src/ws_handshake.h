// RFC 6455 section 4.2.1 upgrade validation and the Sec-WebSocket-Accept key.
#pragma once

#include <array>
#include <string_view>

namespace ps {

// Everything the upgrade check needs, gathered by feeding every request
// header to collect_upgrade_header(). Views point into the caller's headers.
struct UpgradeHeaders {
  bool upgrade_websocket = false;   // an Upgrade header lists the token "websocket"
  bool connection_upgrade = false;  // a Connection header lists the token "upgrade"
  int key_count = 0;                // Sec-WebSocket-Key headers seen
  std::string_view key;             // the first one, trimmed
  int version_count = 0;            // Sec-WebSocket-Version headers seen
  std::string_view version;         // the first one, trimmed
};

// Feed one request header (name compared case-insensitively, values are
// comma-separated token lists where RFC 7230 says so).
void collect_upgrade_header(UpgradeHeaders& h, std::string_view name, std::string_view value);

enum class UpgradeCheck {
  ok,
  bad_request,  // 400: method, HTTP version, Upgrade, Connection or key wrong
  bad_version,  // 426 with Sec-WebSocket-Version: 13
};

// http_version is major*1000+minor (nginx's NGX_HTTP_VERSION_11 == 1001).
// Order: method GET, version >= 1.1, Upgrade, Connection, exactly one key that
// base64-decodes to 16 bytes -> bad_request; then exactly one version "13"
// -> bad_version.
UpgradeCheck check_upgrade(std::string_view method, unsigned http_version, const UpgradeHeaders& h);

// base64(SHA-1(key + 258EAFA5-E914-47DA-95CA-C5AB0DC85B11)): always 28 chars.
std::array<char, 28> websocket_accept(std::string_view key);

}  // namespace ps
