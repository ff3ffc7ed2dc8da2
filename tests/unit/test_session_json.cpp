#include "session_json.h"

#include <string>

#include <gtest/gtest.h>

namespace ps {
namespace {

constexpr const char* kCookie =
    R"("cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"})";

std::string session(const std::string& rest) { return std::string("{") + kCookie + "," + rest + "}"; }

TEST(SessionJson, ConnectRedisValue) {
  const std::string json =
      R"({"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"userId":"u123"})";
  EXPECT_EQ(session_user_id(json, "userId").value_or("<none>"), "u123");
  EXPECT_FALSE(session_user_id(json, "userid").has_value());  // keys are case-sensitive
  EXPECT_FALSE(session_user_id(json, "passport.user").has_value());
  EXPECT_FALSE(session_user_id(json, "cookie").has_value());         // an object is no id
  EXPECT_FALSE(session_user_id(json, "cookie.path.x").has_value());  // "/" is no object
  EXPECT_EQ(session_user_id(json, "cookie.path").value_or("<none>"), "/");
}

TEST(SessionJson, PassportPath) {
  const std::string json = session(R"("passport":{"user":"u123"})");
  EXPECT_EQ(session_user_id(json, "passport.user").value_or("<none>"), "u123");
  EXPECT_FALSE(session_user_id(json, "userId").has_value());
  EXPECT_FALSE(session_user_id(json, "passport").has_value());
  EXPECT_FALSE(session_user_id(json, "passport.user.id").has_value());
  EXPECT_EQ(session_user_id(R"({"a":{"b":{"c":{"d":"deep"}}}})", "a.b.c.d").value_or("<none>"), "deep");
}

TEST(SessionJson, BadPaths) {
  const std::string json = R"({"":{"":"x"},"a":{"":"y"},"a.b":"z"})";
  for (const char* path : {"", ".", "..", "a.", ".a", "a..b"}) {
    EXPECT_FALSE(session_user_id(json, path).has_value()) << path;
  }
  EXPECT_FALSE(session_user_id(json, "a.b").has_value());  // dots always split
}

TEST(SessionJson, IntegerIds) {
  EXPECT_EQ(session_user_id(session(R"("userId":42)"), "userId").value_or("<none>"), "42");
  EXPECT_EQ(session_user_id(session(R"("userId":0)"), "userId").value_or("<none>"), "0");
  EXPECT_EQ(session_user_id(session(R"("userId":-7)"), "userId").value_or("<none>"), "-7");
  EXPECT_EQ(session_user_id(session(R"("userId":9223372036854775807)"), "userId").value_or("<none>"),
            "9223372036854775807");
  EXPECT_EQ(session_user_id(R"({"passport":{"user":1001}})", "passport.user").value_or("<none>"), "1001");
  // Beyond int64 (jansson refused the whole document): the digits as written.
  EXPECT_EQ(session_user_id(session(R"("userId":9223372036854775808)"), "userId").value_or("<none>"),
            "9223372036854775808");
}

// Issue 14: a valid session is never dropped for its numbers, and an integer
// id keeps all its digits (up to 256 bytes, like a string id).
TEST(SessionJson, BigIntegerIdsKeepTheirDigits) {
  EXPECT_EQ(session_user_id(session(R"("userId":12345678901234567890)"), "userId").value_or("<none>"),
            "12345678901234567890");
  EXPECT_EQ(session_user_id(session(R"("userId":-12345678901234567890)"), "userId").value_or("<none>"),
            "-12345678901234567890");
  EXPECT_EQ(
      session_user_id(R"({"passport":{"user":1234567890123456789012345678901234567890}})", "passport.user")
          .value_or("<none>"),
      "1234567890123456789012345678901234567890");
  EXPECT_EQ(session_user_id(session(R"("userId":-0)"), "userId").value_or("<none>"), "0");
  // A fraction or an exponent is no integer id.
  for (const char* v : {"1e400", "-1e400", "1E+2", "1e2", "0.5e-10", "12345678901234567890.0", "-0.0"}) {
    EXPECT_FALSE(session_user_id(session(std::string(R"("userId":)") + v), "userId").has_value()) << v;
  }
}

// Found by fuzz_session_json: a 300-digit integer was a 300-byte user id,
// past the 256 bytes a string id may have.
TEST(SessionJson, IntegerIdsAreBoundedLikeStrings) {
  const std::string d256(256, '7');
  EXPECT_EQ(session_user_id(session(R"("userId":)" + d256), "userId").value_or("<none>"), d256);
  EXPECT_FALSE(session_user_id(session(R"("userId":)" + d256 + "7"), "userId").has_value());
  EXPECT_EQ(session_user_id(session(R"("userId":-)" + d256.substr(1)), "userId").value_or("<none>"),
            "-" + d256.substr(1));
  EXPECT_FALSE(session_user_id(session(R"("userId":-)" + d256), "userId").has_value());
  // The document itself stays valid: a long number elsewhere is fine.
  EXPECT_EQ(session_user_id(R"({"n":)" + d256 + d256 + R"(,"userId":"u1"})", "userId").value_or("<none>"), "u1");
}

TEST(SessionJson, BigNumbersElsewhereAreFine) {
  for (const char* n :
       {"12345678901234567890", "-12345678901234567890", "1234567890123456789012345678901234567890", "1e400",
        "-1e400", "1e-400", "-0", "1E+2", "0.5e-10"}) {
    const std::string json = std::string(R"({"cookie":{"originalMaxAge":)") + n +
                             R"(,"expires":null},"n":[)" + n +
                             R"(],"userId":"u1","passport":{"user":"u2","seen":)" + n + "}}";
    EXPECT_EQ(session_user_id(json, "userId").value_or("<none>"), "u1") << n;
    EXPECT_EQ(session_user_id(json, "passport.user").value_or("<none>"), "u2") << n;
  }
  // Invalid number forms still make the document invalid.
  for (const char* n : {"01", "1.", ".5", "+1", "1e", "-", "NaN", "Infinity", "0x1F"}) {
    EXPECT_FALSE(session_user_id(std::string(R"({"n":)") + n + R"(,"userId":"u1"})", "userId").has_value())
        << n;
  }
}

TEST(SessionJson, NulElsewhereIsValidJson) {
  // jansson (without JSON_ALLOW_NUL) refused "\u0000" anywhere in the
  // session; it is valid JSON, and only the id itself must be clean.
  EXPECT_EQ(session_user_id(R"({"flash":"a\u0000b","userId":"u1"})", "userId").value_or("<none>"), "u1");
  EXPECT_FALSE(session_user_id(R"({"userId":"u\u0000"})", "userId").has_value());
}

TEST(SessionJson, DepthLimit) {
  // The session object is the first level: 255 more are fine, 256 more are not.
  const auto doc = [](std::size_t depth) {
    return R"({"userId":"u1","x":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  };
  EXPECT_EQ(session_user_id(doc(255), "userId").value_or("<none>"), "u1");
  EXPECT_FALSE(session_user_id(doc(256), "userId").has_value());
}

TEST(SessionJson, RejectedValues) {
  for (const char* v : {"42.0", "4.2", "1e3", "-0.5", "true", "false", "null", "{}", R"({"id":"u1"})", "[]",
                        R"(["u1"])", R"("")", R"("a\u0001b")", R"("tab\there")", R"("del\u007f")"}) {
    EXPECT_FALSE(session_user_id(session(std::string(R"("userId":)") + v), "userId").has_value()) << v;
  }
  EXPECT_FALSE(session_user_id(session(R"("userId":"a\u0000b")"), "userId").has_value());
}

TEST(SessionJson, StringIdLimits) {
  const std::string id256(256, 'u');
  EXPECT_EQ(session_user_id(session("\"userId\":\"" + id256 + "\""), "userId").value_or("<none>"), id256);
  EXPECT_FALSE(session_user_id(session("\"userId\":\"" + id256 + "u\""), "userId").has_value());
  // Escapes are decoded and non-ASCII kept as UTF-8.
  EXPECT_EQ(session_user_id(R"({"userId":"caf\u00e9 \"x\""})", "userId").value_or("<none>"),
            "caf\xc3\xa9 \"x\"");
  EXPECT_EQ(session_user_id("{\"userId\":\"\xe2\x82\xac\"}", "userId").value_or("<none>"), "\xe2\x82\xac");
}

TEST(SessionJson, InvalidJson) {
  for (const char* json :
       {"", " ", "{", "}", "null", "\"u123\"", "42", "[]", R"({"userId":"u1"} x)", R"({"userId":"u1"}{})",
        R"({"userId":"u1",})", R"({'userId':'u1'})", R"({"userId":"u1")", R"({"userId":u1})",
        "{\"userId\":\"\xff\"}", "{\"userId\":\"\xc0\xaf\"}", R"({"userId":"\ud800"})"}) {
    EXPECT_FALSE(session_user_id(json, "userId").has_value()) << json;
  }
  EXPECT_FALSE(session_user_id(std::string("{\"userId\":\"u1\"}\0", 16), "userId").has_value());
  // Surrounding whitespace is fine JSON.
  EXPECT_EQ(session_user_id(" \n{\"userId\":\"u1\"}\n ", "userId").value_or("<none>"), "u1");
  // Top level must be an object.
  EXPECT_FALSE(session_user_id(R"([{"userId":"u1"}])", "userId").has_value());
}

TEST(SessionJson, DuplicateKeysLastWinsLikeJsonParse) {
  EXPECT_EQ(session_user_id(R"({"userId":"a","userId":"b"})", "userId").value_or("<none>"), "b");
  EXPECT_EQ(session_user_id(R"({"userId":"a","userI\u0064":"b"})", "userId").value_or("<none>"), "b");
  EXPECT_FALSE(session_user_id(R"({"userId":"a","userId":null})", "userId").has_value());
  EXPECT_EQ(session_user_id(R"({"passport":{"user":"a"},"passport":{"user":7}})", "passport.user")
                .value_or("<none>"),
            "7");
}

TEST(SessionJson, DeepNestingDoesNotCrash) {
  for (const std::size_t depth : {300u, 3000u, 100000u, 1000000u}) {
    const std::string arrays = std::string(depth, '[') + std::string(depth, ']');
    EXPECT_FALSE(session_user_id(arrays, "userId").has_value()) << depth;
    std::string objects;
    for (std::size_t i = 0; i < depth; ++i) objects += "{\"a\":";
    objects += "1";
    objects += std::string(depth, '}');
    EXPECT_FALSE(session_user_id(objects, "a").has_value()) << depth;
    // Unterminated, too.
    EXPECT_FALSE(session_user_id(std::string(depth, '['), "userId").has_value()) << depth;
    EXPECT_FALSE(session_user_id("{\"userId\":" + std::string(depth, '['), "userId").has_value()) << depth;
  }
  // Moderate nesting is still fine.
  std::string path = "a";
  std::string json = "\"u9\"";
  for (int i = 0; i < 50; ++i) {
    json = "{\"a\":" + json + "}";
    if (i > 0) path += ".a";
  }
  EXPECT_EQ(session_user_id(json, path).value_or("<none>"), "u9");
}

TEST(SessionJson, BracketsInsideStringsAreNotNesting) {
  const std::string brackets(100000, '[');
  EXPECT_EQ(session_user_id("{\"x\":\"" + brackets + "\",\"userId\":\"u1\"}", "userId").value_or("<none>"),
            "u1");
  EXPECT_EQ(session_user_id(R"({"x":"\"[[[[","userId":"u2"})", "userId").value_or("<none>"), "u2");
}

}  // namespace
}  // namespace ps
