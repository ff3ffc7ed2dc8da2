#include "stream_id.h"

#include <string>

#include <gtest/gtest.h>

namespace ps {
namespace {

TEST(StreamId, ParsesMsSeq) {
  auto id = parse_stream_id("1732400000000-0");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->ms, 1732400000000u);
  EXPECT_EQ(id->seq, 0u);
  id = parse_stream_id("0-0");
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, (StreamId{0, 0}));
  id = parse_stream_id("5-17");
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, (StreamId{5, 17}));
  id = parse_stream_id("007-01");  // leading zeros: same number
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, (StreamId{7, 1}));
}

TEST(StreamId, Limits) {
  auto id = parse_stream_id("18446744073709551615-18446744073709551615");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->ms, UINT64_MAX);
  EXPECT_EQ(id->seq, UINT64_MAX);
  EXPECT_TRUE(parse_stream_id("00000000000000000001-1"));    // 20 digits
  EXPECT_FALSE(parse_stream_id("000000000000000000001-1"));  // 21 digits
  EXPECT_FALSE(parse_stream_id("1-000000000000000000001"));
  EXPECT_FALSE(parse_stream_id("18446744073709551616-0"));  // 2^64
  EXPECT_FALSE(parse_stream_id("0-18446744073709551616"));
  EXPECT_FALSE(parse_stream_id("99999999999999999999-0"));
  EXPECT_FALSE(parse_stream_id("0-99999999999999999999"));
  EXPECT_FALSE(parse_stream_id("28446744073709551615-0"));
}

TEST(StreamId, RejectsEverythingElse) {
  for (const char* s :
       {"",     "-",   "1",   "1-",    "-1",    "1--1", "1-1-1", "+1-1", "1-+1",  " 1-1", "1-1 ",
        "1 -1", "a-1", "1-a", "0x1-1", "1-1\n", "*",    "1-*",   "$",    "1.5-1", "-1-1", "1-\xff"}) {
    EXPECT_FALSE(parse_stream_id(s)) << '"' << s << '"';
  }
  EXPECT_FALSE(parse_stream_id(std::string_view("1-1\0", 4)));
  EXPECT_FALSE(parse_stream_id(std::string_view("1\0-1", 4)));
  EXPECT_FALSE(parse_stream_id(std::string(100000, '1')));
  EXPECT_FALSE(parse_stream_id(std::string(100000, '1') + "-1"));
}

TEST(StreamId, Formats) {
  EXPECT_EQ(to_string({0, 0}), "0-0");
  EXPECT_EQ(to_string({1732400000000, 12}), "1732400000000-12");
  EXPECT_EQ(to_string({UINT64_MAX, UINT64_MAX}), "18446744073709551615-18446744073709551615");
  char buf[kStreamIdMaxLen];
  EXPECT_EQ(format_stream_id({UINT64_MAX, UINT64_MAX}, buf), kStreamIdMaxLen);
  for (StreamId id : {StreamId{0, 0}, StreamId{9, 10}, StreamId{10, 9}, StreamId{UINT64_MAX, 0},
                      StreamId{123456789, UINT64_MAX}}) {
    const auto back = parse_stream_id(to_string(id));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, id);
  }
}

TEST(StreamId, Orders) {
  const StreamId a{1, 5}, b{1, 6}, c{2, 0}, d{2, 0};
  EXPECT_TRUE(a < b);
  EXPECT_TRUE(b < c);
  EXPECT_TRUE(a < c);
  EXPECT_FALSE(c < d);
  EXPECT_TRUE(c == d);
  EXPECT_TRUE(c <= d && c >= d);
  EXPECT_TRUE(a != b);
  EXPECT_TRUE(c > b);
  EXPECT_FALSE(b > c);
  // ms decides before seq
  EXPECT_TRUE((StreamId{1, UINT64_MAX}) < (StreamId{2, 0}));
  EXPECT_TRUE((StreamId{0, 0}) < (StreamId{0, 1}));
}

}  // namespace
}  // namespace ps
