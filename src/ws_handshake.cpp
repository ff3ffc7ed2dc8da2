#include "ws_handshake.h"
#include "ascii.h"

#include <openssl/sha.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace ps {

namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Whether a comma-separated list (e.g. "keep-alive, Upgrade") holds `token`.
bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    if (iequals(trim_ows(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

bool is_b64(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// 16 bytes in base64 are 22 symbols and "==" (RFC 6455 4.1: a random 16-byte
// nonce). Like most servers we ignore the 4 unused bits of the last symbol.
bool valid_key(std::string_view key) {
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (std::size_t i = 0; i < 22; ++i)
    if (!is_b64(key[i])) return false;
  return true;
}

}  // namespace

void collect_upgrade_header(UpgradeHeaders& h, std::string_view name, std::string_view value) {
  if (iequals(name, "upgrade")) {
    if (has_token(value, "websocket")) h.upgrade_websocket = true;
  } else if (iequals(name, "connection")) {
    if (has_token(value, "upgrade")) h.connection_upgrade = true;
  } else if (iequals(name, "sec-websocket-key")) {
    if (h.key_count++ == 0) h.key = trim_ows(value);
  } else if (iequals(name, "sec-websocket-version")) {
    if (h.version_count++ == 0) h.version = trim_ows(value);
  }
}

UpgradeCheck check_upgrade(std::string_view method, unsigned http_version, const UpgradeHeaders& h) {
  // Methods are case-sensitive (RFC 7231 4.1).
  if (method != "GET" || http_version < 1001) return UpgradeCheck::bad_request;
  if (!h.upgrade_websocket || !h.connection_upgrade) return UpgradeCheck::bad_request;
  if (h.key_count != 1 || !valid_key(h.key)) return UpgradeCheck::bad_request;
  if (h.version_count != 1 || h.version != "13") return UpgradeCheck::bad_version;
  return UpgradeCheck::ok;
}

std::array<char, 28> websocket_accept(std::string_view key) {
  // Hash key+GUID in one call: on the stack for any sane key (a valid one is
  // 24 bytes), on the heap otherwise.
  unsigned char md[SHA_DIGEST_LENGTH + 1] = {};  // one zero byte pads the last group
  if (key.size() <= 64) {
    unsigned char in[64 + kGuid.size()];
    // memcpy from a null pointer is undefined even for 0 bytes, and an
    // empty string_view may hold one (found by fuzz_ws_handshake).
    if (!key.empty()) std::memcpy(in, key.data(), key.size());
    std::memcpy(in + key.size(), kGuid.data(), kGuid.size());
    SHA1(in, key.size() + kGuid.size(), md);
  } else {
    std::string in;
    in.reserve(key.size() + kGuid.size());
    in.append(key).append(kGuid);
    SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), md);
  }

  std::array<char, 28> out{};
  std::size_t o = 0;
  for (std::size_t i = 0; i < 21; i += 3) {
    const std::uint32_t v = std::uint32_t{md[i]} << 16 | std::uint32_t{md[i + 1]} << 8 | md[i + 2];
    out[o++] = kB64[(v >> 18) & 63];
    out[o++] = kB64[(v >> 12) & 63];
    out[o++] = kB64[(v >> 6) & 63];
    out[o++] = kB64[v & 63];
  }
  out[27] = '=';  // 20 bytes: the last group carries 2 bytes
  return out;
}

}  // namespace ps
