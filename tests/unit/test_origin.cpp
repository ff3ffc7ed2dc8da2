#include "origin.h"

#include <string>

#include <gtest/gtest.h>

namespace ps {
namespace {

TEST(OriginSameHost, Basic) {
  EXPECT_TRUE(origin_same_host("https://app.example.com", "app.example.com"));
  EXPECT_TRUE(origin_same_host("http://localhost:8080", "localhost:8080"));
  EXPECT_FALSE(origin_same_host("https://evil.com", "app.example.com"));
  EXPECT_FALSE(origin_same_host("https://app.example.com.evil.com", "app.example.com"));
  EXPECT_FALSE(origin_same_host("https://example.com", "app.example.com"));
  EXPECT_FALSE(origin_same_host("http://localhost:8081", "localhost:8080"));
  EXPECT_FALSE(origin_same_host("http://localhost", "localhost:8080"));
  EXPECT_FALSE(origin_same_host("http://localhost:8080", "localhost"));
}

TEST(OriginSameHost, CaseInsensitive) {
  EXPECT_TRUE(origin_same_host("https://App.Example.COM", "app.example.com"));
  EXPECT_TRUE(origin_same_host("HTTPS://app.example.com", "APP.example.com"));
}

TEST(OriginSameHost, DefaultPorts) {
  EXPECT_TRUE(origin_same_host("http://a.com:80", "a.com"));
  EXPECT_TRUE(origin_same_host("http://a.com", "a.com:80"));
  EXPECT_TRUE(origin_same_host("http://a.com:80", "a.com:80"));
  EXPECT_TRUE(origin_same_host("https://a.com:443", "a.com"));
  EXPECT_TRUE(origin_same_host("https://a.com", "a.com:443"));
  EXPECT_TRUE(origin_same_host("ws://a.com", "a.com:80"));
  EXPECT_TRUE(origin_same_host("wss://a.com:443", "a.com"));
  // The default port belongs to the Origin's scheme.
  EXPECT_FALSE(origin_same_host("https://a.com", "a.com:80"));
  EXPECT_FALSE(origin_same_host("http://a.com", "a.com:443"));
  EXPECT_FALSE(origin_same_host("https://a.com:80", "a.com"));
  EXPECT_FALSE(origin_same_host("http://a.com:443", "a.com"));
  EXPECT_TRUE(origin_same_host("http://a.com:443", "a.com:443"));
  EXPECT_TRUE(origin_same_host("http://a.com:0080", "a.com"));  // ports compare as numbers
}

TEST(OriginSameHost, Ipv6AndIpv4) {
  EXPECT_TRUE(origin_same_host("http://[::1]:8080", "[::1]:8080"));
  EXPECT_TRUE(origin_same_host("http://[::1]", "[::1]"));
  EXPECT_TRUE(origin_same_host("http://[::1]:80", "[::1]"));
  EXPECT_TRUE(origin_same_host("https://[2001:DB8::1]", "[2001:db8::1]:443"));
  EXPECT_FALSE(origin_same_host("http://[::1]:8080", "[::1]:8081"));
  EXPECT_FALSE(origin_same_host("http://[::1]:8080", "[::2]:8080"));
  EXPECT_FALSE(origin_same_host("http://[::1]:8080", "::1:8080"));
  EXPECT_FALSE(origin_same_host("http://::1:8080", "[::1]:8080"));
  EXPECT_FALSE(origin_same_host("http://[::1", "[::1"));
  EXPECT_FALSE(origin_same_host("http://[::1]x", "[::1]x"));
  EXPECT_FALSE(origin_same_host("http://[]", "[]"));
  EXPECT_FALSE(origin_same_host("http://[::g]", "[::g]"));
  EXPECT_TRUE(origin_same_host("http://127.0.0.1:3000", "127.0.0.1:3000"));
  EXPECT_TRUE(origin_same_host("http://[::ffff:127.0.0.1]", "[::ffff:127.0.0.1]"));
}

TEST(OriginSameHost, NullAndMalformedNeverMatch) {
  for (const char* origin : {"null",
                             "",
                             "app.example.com",
                             "//app.example.com",
                             "://app.example.com",
                             "https://",
                             "https:/app.example.com",
                             "https:app.example.com",
                             "https://app.example.com/",
                             "https://app.example.com/path",
                             "https://app.example.com?x",
                             "https://app.example.com#x",
                             "https://user@app.example.com",
                             "https://user:pw@app.example.com",
                             "https://app.example.com:",
                             "https://app.example.com:x",
                             "https://app.example.com:65536",
                             "https://app.example.com:-1",
                             "https://app.example.com:443:443",
                             "https://app.example.com:123456",
                             " https://app.example.com",
                             "https://app.example.com ",
                             "https://app .example.com",
                             "file://app.example.com",
                             "chrome-extension://app.example.com",
                             "1http://app.example.com",
                             "https://app.example.com\r\n",
                             "https://app%2eexample.com"}) {
    EXPECT_FALSE(origin_same_host(origin, "app.example.com")) << origin;
  }
  EXPECT_FALSE(origin_same_host("null", "null"));
  EXPECT_FALSE(origin_same_host(std::string("https://a.com\0", 14), "a.com"));
}

TEST(OriginSameHost, MalformedHostHeader) {
  for (const char* host : {"", "a.com:", "a.com:x", "a.com:99999", " a.com", "a.com ", "a.com/", "user@a.com",
                           "a.com:80:80", "http://a.com", "[::1"}) {
    EXPECT_FALSE(origin_same_host("http://a.com", host)) << host;
  }
  EXPECT_TRUE(origin_same_host("http://a.com:65535", "a.com:65535"));
  EXPECT_TRUE(origin_same_host("http://a.com:0", "a.com:0"));
}

TEST(OriginEquals, Basic) {
  EXPECT_TRUE(origin_equals("https://app.example.com", "https://app.example.com"));
  EXPECT_TRUE(origin_equals("https://app.example.com", "HTTPS://APP.EXAMPLE.COM"));
  EXPECT_TRUE(origin_equals("https://app.example.com", "https://app.example.com/"));
  EXPECT_TRUE(origin_equals("https://app.example.com/", "https://app.example.com"));
  EXPECT_TRUE(origin_equals("https://app.example.com", "https://app.example.com:443"));
  EXPECT_TRUE(origin_equals("https://app.example.com:443", "https://app.example.com/"));
  EXPECT_TRUE(origin_equals("http://app.example.com:80", "http://app.example.com"));
  EXPECT_TRUE(origin_equals("http://localhost:3000", "http://localhost:3000/"));
  EXPECT_TRUE(origin_equals("http://[::1]:3000", "http://[::1]:3000"));
  EXPECT_TRUE(origin_equals("wss://a.com", "wss://a.com:443"));
  // An unknown scheme has no default port, but compares fine with explicit ones.
  EXPECT_TRUE(origin_equals("app://a.com", "APP://a.com"));
  EXPECT_TRUE(origin_equals("app://a.com:1", "app://a.com:1"));
}

TEST(OriginEquals, Mismatches) {
  EXPECT_FALSE(origin_equals("http://app.example.com", "https://app.example.com"));
  EXPECT_FALSE(origin_equals("ws://app.example.com", "http://app.example.com"));
  EXPECT_FALSE(origin_equals("https://app.example.com", "https://app.example.com:8443"));
  EXPECT_FALSE(origin_equals("https://app.example.com:80", "https://app.example.com"));
  EXPECT_FALSE(origin_equals("https://evil.app.example.com", "https://app.example.com"));
  EXPECT_FALSE(origin_equals("https://app.example.com.evil", "https://app.example.com"));
  EXPECT_FALSE(origin_equals("https://app.example.com//", "https://app.example.com"));
  EXPECT_FALSE(origin_equals("https://app.example.com/x", "https://app.example.com/x"));
  EXPECT_FALSE(origin_equals("app://a.com", "app://a.com:80"));
  EXPECT_FALSE(origin_equals("null", "null"));
  EXPECT_FALSE(origin_equals("null", "https://app.example.com"));
  EXPECT_FALSE(origin_equals("https://app.example.com", "*"));  // the wildcard is the caller's business
  EXPECT_FALSE(origin_equals("", ""));
  EXPECT_FALSE(origin_equals("https://user@a.com", "https://user@a.com"));
}

TEST(OriginScheme, AutoOnTlsNeedsHttps) {
  constexpr auto kAuto = OriginScheme::automatic;
  EXPECT_TRUE(origin_same_host("https://app.example.com", "app.example.com", kAuto, true));
  EXPECT_TRUE(origin_same_host("HTTPS://app.example.com:443", "app.example.com", kAuto, true));
  EXPECT_TRUE(origin_same_host("wss://app.example.com", "app.example.com", kAuto, true));
  EXPECT_TRUE(origin_same_host("https://app.example.com:8443", "app.example.com:8443", kAuto, true));
  // The attack of issue 15: a forged plain page of the same host.
  EXPECT_FALSE(origin_same_host("http://app.example.com:443", "app.example.com", kAuto, true));
  EXPECT_FALSE(origin_same_host("http://app.example.com", "app.example.com:80", kAuto, true));
  EXPECT_FALSE(origin_same_host("http://app.example.com:8443", "app.example.com:8443", kAuto, true));
  EXPECT_FALSE(origin_same_host("HTTP://app.example.com:8443", "app.example.com:8443", kAuto, true));
  EXPECT_FALSE(origin_same_host("ws://app.example.com:8443", "app.example.com:8443", kAuto, true));
  // Hosts still count.
  EXPECT_FALSE(origin_same_host("https://evil.example", "app.example.com", kAuto, true));
  EXPECT_FALSE(origin_same_host("null", "app.example.com", kAuto, true));
}

TEST(OriginScheme, AutoOnPlainTakesBoth) {
  constexpr auto kAuto = OriginScheme::automatic;
  EXPECT_TRUE(origin_same_host("http://localhost:8080", "localhost:8080", kAuto, false));
  // Behind a TLS-terminating proxy that does not say so.
  EXPECT_TRUE(origin_same_host("https://app.example.com", "app.example.com", kAuto, false));
  EXPECT_TRUE(origin_same_host("ws://a.com", "a.com", kAuto, false));
  EXPECT_FALSE(origin_same_host("https://evil.example", "app.example.com", kAuto, false));
  EXPECT_FALSE(origin_same_host("http://localhost", "localhost:8080", kAuto, false));
}

TEST(OriginScheme, HttpsAlways) {
  constexpr auto kHttps = OriginScheme::https;
  for (const bool tls : {false, true}) {
    EXPECT_TRUE(origin_same_host("https://app.example.com", "app.example.com", kHttps, tls));
    EXPECT_TRUE(origin_same_host("wss://app.example.com", "app.example.com", kHttps, tls));
    EXPECT_FALSE(origin_same_host("http://app.example.com:443", "app.example.com", kHttps, tls));
    EXPECT_FALSE(origin_same_host("http://app.example.com", "app.example.com", kHttps, tls));
    EXPECT_FALSE(origin_same_host("ws://app.example.com", "app.example.com", kHttps, tls));
    EXPECT_FALSE(origin_same_host("https://evil.example", "app.example.com", kHttps, tls));
  }
}

TEST(OriginScheme, AnyIsHostsOnly) {
  for (const bool tls : {false, true}) {
    EXPECT_TRUE(
        origin_same_host("http://app.example.com:443", "app.example.com:443", OriginScheme::any, tls));
    EXPECT_TRUE(origin_same_host("https://app.example.com", "app.example.com", OriginScheme::any, tls));
    EXPECT_FALSE(origin_same_host("https://evil.example", "app.example.com", OriginScheme::any, tls));
    EXPECT_FALSE(origin_same_host("null", "null", OriginScheme::any, tls));
  }
}

TEST(OriginScheme, MalformedNeverMatch) {
  for (const auto policy : {OriginScheme::automatic, OriginScheme::https, OriginScheme::any}) {
    for (const char* origin : {"https://", "https:/a.com", "httpsx://a.com", "https://a.com/", "file://a.com",
                               "https//a.com", ""}) {
      EXPECT_FALSE(origin_same_host(origin, "a.com", policy, true)) << origin;
      EXPECT_FALSE(origin_same_host(origin, "a.com", policy, false)) << origin;
    }
  }
}

TEST(OriginEquals, EntriesCarryTheirScheme) {
  // An explicit entry is matched exactly, scheme included, on any connection.
  EXPECT_TRUE(origin_equals("https://app.example.com", "https://app.example.com"));
  EXPECT_FALSE(origin_equals("http://app.example.com", "https://app.example.com"));
  EXPECT_FALSE(origin_equals("https://app.example.com", "http://app.example.com"));
  EXPECT_FALSE(origin_equals("http://app.example.com:443", "https://app.example.com"));
  EXPECT_FALSE(origin_equals("https://app.example.com:80", "http://app.example.com"));
}

TEST(Origin, HostileLengths) {
  const std::string long_host(100000, 'a');
  EXPECT_TRUE(origin_same_host("http://" + long_host, long_host));
  EXPECT_FALSE(origin_same_host("http://" + long_host + "b", long_host));
  EXPECT_FALSE(origin_same_host("http://[" + std::string(100000, ':'), "x"));
  EXPECT_FALSE(origin_equals(std::string(100000, '/'), std::string(100000, ':')));
}

}  // namespace
}  // namespace ps
