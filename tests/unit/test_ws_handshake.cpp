#include "ws_handshake.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace {

using ps::check_upgrade;
using ps::collect_upgrade_header;
using ps::UpgradeCheck;
using ps::UpgradeHeaders;

constexpr unsigned kHttp11 = 1001;
using Headers = std::vector<std::pair<std::string, std::string>>;

const Headers kGood = {
    {"Host", "server.example.com"},   {"Upgrade", "websocket"},
    {"Connection", "Upgrade"},        {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
    {"Origin", "http://example.com"}, {"Sec-WebSocket-Version", "13"},
};

UpgradeHeaders collect(const Headers& hs) {
  UpgradeHeaders h;
  for (const auto& [n, v] : hs) collect_upgrade_header(h, n, v);
  return h;
}

UpgradeCheck check(const Headers& hs, std::string_view method = "GET", unsigned version = kHttp11) {
  return check_upgrade(method, version, collect(hs));
}

Headers with(Headers hs, const std::string& name, const std::string& value) {
  for (auto& [n, v] : hs)
    if (n == name) {
      v = value;
      return hs;
    }
  hs.emplace_back(name, value);
  return hs;
}

Headers without(Headers hs, const std::string& name) {
  Headers out;
  for (auto& h : hs)
    if (h.first != name) out.push_back(h);
  return out;
}

TEST(WsHandshake, Rfc1_3AcceptVector) {
  const auto a = ps::websocket_accept("dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(std::string(a.data(), a.size()), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsHandshake, AcceptOtherKeys) {
  // Expected values from Python's hashlib.sha1 + base64.
  const auto a = ps::websocket_accept("x3JJHMbDL1EzLkh9GBhXDw==");
  EXPECT_EQ(std::string(a.data(), a.size()), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
  const auto b = ps::websocket_accept("AQIDBAUGBwgJCgsMDQ4PEC==");
  EXPECT_EQ(std::string(b.data(), b.size()), "OfS0wDaT5NoxF2gqm7Zj2YtetzM=");
  // Long keys are hashed whole (never accepted by check_upgrade, but defined).
  const std::string long_key(100, 'k');
  const auto c = ps::websocket_accept(long_key);
  EXPECT_EQ(std::string(c.data(), c.size()), "rWzVOVhJgr+k5nChyKqRW0+OIwk=");
}

TEST(WsHandshake, CollectsHeaders) {
  const UpgradeHeaders h = collect(kGood);
  EXPECT_TRUE(h.upgrade_websocket);
  EXPECT_TRUE(h.connection_upgrade);
  EXPECT_EQ(h.key_count, 1);
  EXPECT_EQ(h.key, "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(h.version_count, 1);
  EXPECT_EQ(h.version, "13");
  EXPECT_EQ(check(kGood), UpgradeCheck::ok);
}

TEST(WsHandshake, TokensAreCaseInsensitiveAndListed) {
  EXPECT_EQ(check(with(kGood, "Connection", "keep-alive, Upgrade")), UpgradeCheck::ok);
  EXPECT_EQ(check(with(kGood, "Connection", "keep-alive,upgrade")), UpgradeCheck::ok);
  EXPECT_EQ(check(with(kGood, "Connection", " UPGRADE ,\tkeep-alive")), UpgradeCheck::ok);
  EXPECT_EQ(check(with(kGood, "Upgrade", "WebSocket")), UpgradeCheck::ok);
  EXPECT_EQ(check(with(kGood, "Upgrade", "h2c, websocket")), UpgradeCheck::ok);
  // Header names are case-insensitive too.
  Headers lower;
  for (auto [n, v] : kGood) {
    for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    lower.emplace_back(n, v);
  }
  EXPECT_EQ(check(lower), UpgradeCheck::ok);
  // Tokens must match whole, not as substrings.
  EXPECT_EQ(check(with(kGood, "Connection", "upgraded")), UpgradeCheck::bad_request);
  EXPECT_EQ(check(with(kGood, "Connection", "keep-alive")), UpgradeCheck::bad_request);
  EXPECT_EQ(check(with(kGood, "Upgrade", "websocket2")), UpgradeCheck::bad_request);
  EXPECT_EQ(check(with(kGood, "Upgrade", "h2c")), UpgradeCheck::bad_request);
  // A second Connection header can carry the token.
  Headers two = with(kGood, "Connection", "keep-alive");
  two.emplace_back("Connection", "Upgrade");
  EXPECT_EQ(check(two), UpgradeCheck::ok);
}

TEST(WsHandshake, MethodAndHttpVersion) {
  EXPECT_EQ(check(kGood, "POST"), UpgradeCheck::bad_request);
  EXPECT_EQ(check(kGood, "get"), UpgradeCheck::bad_request);
  EXPECT_EQ(check(kGood, "HEAD"), UpgradeCheck::bad_request);
  EXPECT_EQ(check(kGood, "GET", 1000), UpgradeCheck::bad_request);
  EXPECT_EQ(check(kGood, "GET", 9), UpgradeCheck::bad_request);
  EXPECT_EQ(check(kGood, "GET", 2000), UpgradeCheck::ok);
}

TEST(WsHandshake, MissingUpgradeOrConnection) {
  EXPECT_EQ(check(without(kGood, "Upgrade")), UpgradeCheck::bad_request);
  EXPECT_EQ(check(without(kGood, "Connection")), UpgradeCheck::bad_request);
}

TEST(WsHandshake, KeyValidation) {
  EXPECT_EQ(check(without(kGood, "Sec-WebSocket-Key")), UpgradeCheck::bad_request);
  EXPECT_EQ(check(with(kGood, "Sec-WebSocket-Key", "")), UpgradeCheck::bad_request);
  EXPECT_EQ(check(with(kGood, "Sec-WebSocket-Key", "  dGhlIHNhbXBsZSBub25jZQ==  ")), UpgradeCheck::ok);
  EXPECT_EQ(check(with(kGood, "Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")), UpgradeCheck::ok);
  EXPECT_EQ(check(with(kGood, "Sec-WebSocket-Key", "+/+/+/+/+/+/+/+/+/+/+w==")), UpgradeCheck::ok);
  // 15 and 17 bytes.
  EXPECT_EQ(check(with(kGood, "Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA")), UpgradeCheck::bad_request);
  EXPECT_EQ(check(with(kGood, "Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAA=")), UpgradeCheck::bad_request);
  // Unpadded, wrong padding, bad alphabet (url-safe), embedded space.
  EXPECT_EQ(check(with(kGood, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ")), UpgradeCheck::bad_request);
  EXPECT_EQ(check(with(kGood, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=A")), UpgradeCheck::bad_request);
  EXPECT_EQ(check(with(kGood, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZ-_==")), UpgradeCheck::bad_request);
  EXPECT_EQ(check(with(kGood, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSB ub25jZQ==")), UpgradeCheck::bad_request);
  EXPECT_EQ(check(with(kGood, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ===")), UpgradeCheck::bad_request);
  // Two keys, even identical.
  Headers dup = kGood;
  dup.emplace_back("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(check(dup), UpgradeCheck::bad_request);
  EXPECT_EQ(collect(dup).key_count, 2);
}

TEST(WsHandshake, VersionValidation) {
  EXPECT_EQ(check(without(kGood, "Sec-WebSocket-Version")), UpgradeCheck::bad_version);
  EXPECT_EQ(check(with(kGood, "Sec-WebSocket-Version", "8")), UpgradeCheck::bad_version);
  EXPECT_EQ(check(with(kGood, "Sec-WebSocket-Version", "")), UpgradeCheck::bad_version);
  EXPECT_EQ(check(with(kGood, "Sec-WebSocket-Version", "13, 8")), UpgradeCheck::bad_version);
  EXPECT_EQ(check(with(kGood, "Sec-WebSocket-Version", "130")), UpgradeCheck::bad_version);
  EXPECT_EQ(check(with(kGood, "Sec-WebSocket-Version", " 13 ")), UpgradeCheck::ok);
  Headers dup = kGood;
  dup.emplace_back("Sec-WebSocket-Version", "13");
  EXPECT_EQ(check(dup), UpgradeCheck::bad_version);
}

TEST(WsHandshake, BadRequestWinsOverBadVersion) {
  // 400 checks come first: a bad key with a bad version is still 400.
  Headers h = with(with(kGood, "Sec-WebSocket-Key", "short"), "Sec-WebSocket-Version", "8");
  EXPECT_EQ(check(h), UpgradeCheck::bad_request);
  EXPECT_EQ(check(without(kGood, "Sec-WebSocket-Version"), "POST"), UpgradeCheck::bad_request);
}

}  // namespace
