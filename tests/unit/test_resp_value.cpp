#include "resp_value.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ps {
namespace {

using namespace std::string_view_literals;
using K = RespValue::Kind;

RespValue decode_ok(std::string_view in) {
  RespValue v;
  std::size_t used = 0;
  EXPECT_EQ(resp_decode(in, v, used), RespDecodeResult::ok) << in;
  EXPECT_EQ(used, in.size()) << in;
  return v;
}

RespDecodeResult decode(std::string_view in) {
  RespValue v;
  std::size_t used = 99;
  const RespDecodeResult r = resp_decode(in, v, used);
  if (r != RespDecodeResult::ok) {
    EXPECT_EQ(used, 0u);
  }
  return r;
}

TEST(RespValue, DecodesEveryType) {
  EXPECT_EQ(decode_ok("+OK\r\n"), RespValue::status_value("OK"));
  EXPECT_EQ(decode_ok("-MOVED 1 h:1\r\n"), RespValue::error_value("MOVED 1 h:1"));
  EXPECT_EQ(decode_ok(":-42\r\n"), RespValue::integer_value(-42));
  EXPECT_EQ(decode_ok(":9223372036854775807\r\n").integer, 9223372036854775807LL);
  EXPECT_EQ(decode_ok(":-9223372036854775808\r\n").integer, INT64_MIN);
  EXPECT_EQ(decode_ok("$5\r\na\r\nbc\r\n"), RespValue::string_value("a\r\nbc"));
  EXPECT_EQ(decode_ok("$0\r\n\r\n"), RespValue::string_value(""));
  EXPECT_TRUE(decode_ok("$-1\r\n").is_nil());
  EXPECT_TRUE(decode_ok("*-1\r\n").is_nil());
  EXPECT_EQ(decode_ok("*0\r\n"), RespValue::array_value({}));
  const RespValue a = decode_ok("*3\r\n:1\r\n*1\r\n$1\r\nx\r\n$-1\r\n");
  ASSERT_EQ(a.kind, K::array);
  ASSERT_EQ(a.elements.size(), 3u);
  EXPECT_EQ(a.elements[0].integer, 1);
  EXPECT_EQ(a.elements[1].elements[0].str, "x");
  EXPECT_TRUE(a.elements[2].is_nil());
  EXPECT_EQ(decode_ok("$3\r\n\0\xff\x01\r\n"sv).str, "\0\xff\x01"sv);
}

TEST(RespValue, UsedStopsAfterOneValue) {
  RespValue v;
  std::size_t used = 0;
  ASSERT_EQ(resp_decode(":1\r\n:2\r\n", v, used), RespDecodeResult::ok);
  EXPECT_EQ(used, 4u);
  EXPECT_EQ(v.integer, 1);
}

TEST(RespValue, IncompleteAtEveryPrefix) {
  const std::string whole = "*4\r\n+OK\r\n$3\r\nabc\r\n:12\r\n*2\r\n$-1\r\n-ERR x\r\n";
  for (std::size_t n = 0; n < whole.size(); ++n) {
    EXPECT_EQ(decode(std::string_view(whole).substr(0, n)), RespDecodeResult::incomplete) << n;
  }
  EXPECT_EQ(decode(whole), RespDecodeResult::ok);
}

TEST(RespValue, Malformed) {
  for (const std::string_view in : {
           "x\r\n"sv,
           "\r\n"sv,
           ":\r\n"sv,
           ":1a\r\n"sv,
           ": 1\r\n"sv,
           ":+1\r\n"sv,
           ":--1\r\n"sv,
           ":9223372036854775808\r\n"sv,
           ":-9223372036854775809\r\n"sv,
           ":12345678901234567890\r\n"sv,
           "$-2\r\n"sv,
           "$a\r\n"sv,
           "$3\r\nabcd\r\n"sv,
           "$3\r\nab\r\n\r\n"sv,
           "$1\r\nab"sv,
           "*-2\r\n"sv,
           "*1\r\n?\r\n"sv,
           "+O\rK\r\n"sv,
           "+O\nK\r\n"sv,
           "+OK\r\r"sv,
           ":1\r:"sv,
           "$99999999999\r\n"sv,
           "*99999999999\r\n"sv,
           "*2000000\r\n"sv,
           "$100000000\r\n"sv,
       }) {
    EXPECT_EQ(decode(in), RespDecodeResult::malformed) << '"' << in << '"';
  }
}

TEST(RespValue, DepthIsBounded) {
  std::string deep;
  for (std::size_t i = 0; i < kRespMaxDepth; ++i) deep += "*1\r\n";
  EXPECT_EQ(decode(deep + ":1\r\n"), RespDecodeResult::ok);
  EXPECT_EQ(decode("*1\r\n" + deep + ":1\r\n"), RespDecodeResult::malformed);
  // a million levels: no stack overflow
  std::string very;
  for (int i = 0; i < 1000000; ++i) very += "*1\r\n";
  EXPECT_EQ(decode(very), RespDecodeResult::malformed);
}

TEST(RespValue, EncodeRoundTrips) {
  const RespValue v = RespValue::array_value(
      {RespValue::status_value("OK"), RespValue::error_value("ERR x"), RespValue::integer_value(-7),
       RespValue::string_value("a\r\n\0b"sv), RespValue::nil_value(),
       RespValue::array_value({RespValue::array_value({}), RespValue::string_value("")})});
  const std::string wire = resp_encode(v);
  EXPECT_EQ(wire, "*6\r\n+OK\r\n-ERR x\r\n:-7\r\n$5\r\na\r\n\0b\r\n$-1\r\n*2\r\n*0\r\n$0\r\n\r\n"sv);
  EXPECT_EQ(decode_ok(wire), v);
}

TEST(RespValue, Equality) {
  EXPECT_NE(RespValue::string_value("1"), RespValue::status_value("1"));
  EXPECT_NE(RespValue::integer_value(1), RespValue::integer_value(2));
  EXPECT_NE(RespValue::array_value({RespValue::nil_value()}), RespValue::array_value({}));
  EXPECT_EQ(RespValue::nil_value(), RespValue::nil_value());
}

TEST(RespValue, Describe) {
  const RespValue v = RespValue::array_value({RespValue::integer_value(1), RespValue::string_value("a\"\n"),
                                              RespValue::nil_value(), RespValue::error_value("ERR e"),
                                              RespValue::status_value("OK")});
  EXPECT_EQ(resp_describe(v), "[1, \"a\\x22\\x0a\", nil, (error \"ERR e\"), (status \"OK\")]");
  std::vector<RespValue> many(1000, RespValue::integer_value(12345));
  const std::string d = resp_describe(RespValue::array_value(many), 60);
  EXPECT_LT(d.size(), 90u);
  EXPECT_NE(d.find("..."), std::string::npos);
  EXPECT_EQ(resp_describe(RespValue::string_value(std::string(1000, 'x'))).size(), 45u);
}

// A stand-in with redisReply's fields (hiredis 0.14 include/hiredis/hiredis.h).
struct FakeReply {
  int type;
  long long integer;
  std::size_t len;
  char* str;
  std::size_t elements;
  FakeReply** element;
};

TEST(RespValue, FromHiredis) {
  char s1[] = "127.0.0.1";
  char s2[] = "MOVED 1 h:2";
  FakeReply host{1, 0, 9, s1, 0, nullptr};
  FakeReply port{3, 6379, 0, nullptr, 0, nullptr};
  FakeReply nil{4, 0, 0, nullptr, 0, nullptr};
  FakeReply status{5, 0, 2, const_cast<char*>("OK"), 0, nullptr};
  FakeReply err{6, 0, 11, s2, 0, nullptr};
  FakeReply* kids[] = {&host, &port, &nil, &status, &err};
  FakeReply arr{2, 0, 0, nullptr, 5, kids};
  RespValue v;
  ASSERT_TRUE(resp_from_hiredis(&arr, v));
  EXPECT_EQ(v, RespValue::array_value({RespValue::string_value("127.0.0.1"), RespValue::integer_value(6379),
                                       RespValue::nil_value(), RespValue::status_value("OK"),
                                       RespValue::error_value("MOVED 1 h:2")}));
  EXPECT_FALSE(resp_from_hiredis<FakeReply>(nullptr, v));
  FakeReply dbl{7, 0, 3, const_cast<char*>("1.5"), 0, nullptr};  // RESP3 double (hiredis 1.x)
  EXPECT_FALSE(resp_from_hiredis(&dbl, v));
  FakeReply* holey[] = {&host, nullptr};
  FakeReply bad{2, 0, 0, nullptr, 2, holey};
  EXPECT_FALSE(resp_from_hiredis(&bad, v));
  // depth: a chain of single-element arrays
  std::vector<FakeReply> chain(kRespMaxDepth + 2);
  std::vector<FakeReply*> links(chain.size());
  for (std::size_t i = 0; i < chain.size(); ++i) links[i] = &chain[i];
  for (std::size_t i = 0; i + 1 < chain.size(); ++i) chain[i] = FakeReply{2, 0, 0, nullptr, 1, &links[i + 1]};
  chain.back() = FakeReply{3, 1, 0, nullptr, 0, nullptr};
  EXPECT_FALSE(resp_from_hiredis(&chain[0], v));
  EXPECT_TRUE(resp_from_hiredis(&chain[1], v));
}

}  // namespace
}  // namespace ps
