#include "session_json.h"

#include <string>

#include <gtest/gtest.h>

#include "json_util.h"

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
  // Beyond int64: jansson refuses the whole document.
  EXPECT_FALSE(session_user_id(session(R"("userId":9223372036854775808)"), "userId").has_value());
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

TEST(JsonUtil, DepthScan) {
  using detail::json_too_deep;
  EXPECT_FALSE(json_too_deep("", 2));
  EXPECT_FALSE(json_too_deep("[[]]", 2));
  EXPECT_TRUE(json_too_deep("[[[]]]", 2));
  EXPECT_FALSE(json_too_deep("[[]][[]][{}]", 2));  // depth, not count
  EXPECT_TRUE(json_too_deep("{\"a\":{\"b\":[", 2));
  EXPECT_FALSE(json_too_deep("[\"[[[[\"]", 2));      // inside a string
  EXPECT_FALSE(json_too_deep("[\"\\\"[[[[\"]", 2));  // escaped quote keeps the string open
  EXPECT_TRUE(json_too_deep("[\"\\\\\"[[[", 2));     // escaped backslash closes it
  EXPECT_FALSE(json_too_deep("]]]]]]]][[", 2));      // stray closers do not go below zero
  EXPECT_FALSE(json_too_deep(std::string(detail::kJsonMaxDepth, '[')));
  EXPECT_TRUE(json_too_deep(std::string(detail::kJsonMaxDepth + 1, '[')));
}

TEST(JsonUtil, JanssonLimitsDepthOnItsOwn) {
  // The pre-scan is a second line: jansson 2.11+ stops at JSON_PARSER_MAX_DEPTH by itself.
  const std::string nested = std::string(100000, '[') + std::string(100000, ']');
  json_error_t err;
  json_t* j = json_loadb(nested.data(), nested.size(), 0, &err);
  EXPECT_EQ(j, nullptr);
  json_decref(j);
  EXPECT_EQ(detail::json_parse(nested, JSON_DECODE_ANY), nullptr);
  EXPECT_NE(detail::json_parse("[[[1]]]", 0), nullptr);
  EXPECT_EQ(detail::json_parse("[1] x", 0), nullptr);
  EXPECT_EQ(detail::json_parse("[1] x", JSON_DISABLE_EOF_CHECK), nullptr);  // the flag is masked off
}

}  // namespace
}  // namespace ps
