// src/json_util.h: the jansson helpers (depth pre-scan, json_parse). No
// parser in src/ uses them any more (json_scan.h replaced jansson there);
// this file goes together with json_util.h when jansson is dropped.
#include "json_util.h"

#include <string>

#include <gtest/gtest.h>

namespace ps {
namespace {

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
