#include "envelope.h"

#include <limits>
#include <string>

#include <gtest/gtest.h>

namespace ps {
namespace {

constexpr std::size_t kMax = 256 * 1024;

EventInfo parse_ok(std::string_view bytes) {
  EventInfo info{EventType::trade_executed, Channel::trades, "sentinel", 99};
  const EventError err = parse_event(bytes, kMax, info);
  EXPECT_EQ(err, EventError::none) << bytes;
  return info;
}

EventError parse_err(std::string_view bytes, std::size_t max = kMax) {
  EventInfo info{EventType::trade_executed, Channel::trades, "sentinel", 99};
  const EventError err = parse_event(bytes, max, info);
  // A failed parse leaves out alone.
  EXPECT_EQ(info.key, "sentinel");
  EXPECT_EQ(info.ts, 99);
  return err;
}

TEST(Envelope, TypesAndChannels) {
  EventInfo i = parse_ok(R"({"type":"position_update","data":{"symbol":"AAPL","qty":10}})");
  EXPECT_EQ(i.type, EventType::position_update);
  EXPECT_EQ(i.channel, Channel::positions);
  EXPECT_EQ(i.key, "AAPL");
  EXPECT_FALSE(i.ts.has_value());

  i = parse_ok(R"({"type":"account_update","data":{"cash":1000.5}})");
  EXPECT_EQ(i.type, EventType::account_update);
  EXPECT_EQ(i.channel, Channel::account);
  EXPECT_EQ(i.key, "");

  i = parse_ok(R"({"type":"order_update","key":"o1","data":{"symbol":"MSFT"}})");
  EXPECT_EQ(i.type, EventType::order_update);
  EXPECT_EQ(i.channel, Channel::orders);
  EXPECT_EQ(i.key, "");  // only position updates coalesce

  i = parse_ok(R"({"type":"trade_executed","data":{"symbol":"MSFT"}})");
  EXPECT_EQ(i.type, EventType::trade_executed);
  EXPECT_EQ(i.channel, Channel::trades);
  EXPECT_EQ(i.key, "");
}

TEST(Envelope, PositionKey) {
  EXPECT_EQ(parse_ok(R"({"type":"position_update","key":"acct1:AAPL","data":{"symbol":"AAPL"}})").key,
            "acct1:AAPL");
  EXPECT_EQ(parse_ok(R"({"type":"position_update","key":12345,"data":{"symbol":"AAPL"}})").key, "12345");
  EXPECT_EQ(parse_ok(R"({"type":"position_update","key":-3})").key, "-3");
  // A key that is neither string nor integer falls back to data.symbol.
  EXPECT_EQ(parse_ok(R"({"type":"position_update","key":1.5,"data":{"symbol":"TSLA"}})").key, "TSLA");
  EXPECT_EQ(parse_ok(R"({"type":"position_update","key":null,"data":{"symbol":"TSLA"}})").key, "TSLA");
  EXPECT_EQ(parse_ok(R"({"type":"position_update","key":{"a":1},"data":{"symbol":"TSLA"}})").key, "TSLA");
  EXPECT_EQ(parse_ok(R"({"type":"position_update","key":"","data":{"symbol":"TSLA"}})").key, "");
  // No usable symbol -> no key.
  EXPECT_EQ(parse_ok(R"({"type":"position_update","data":{"symbol":7}})").key, "");
  EXPECT_EQ(parse_ok(R"({"type":"position_update","data":"AAPL"})").key, "");
  EXPECT_EQ(parse_ok(R"({"type":"position_update","symbol":"AAPL"})").key, "");
  EXPECT_EQ(parse_ok(R"({"type":"position_update"})").key, "");
  // Keys keep their bytes, NUL and UTF-8 included.
  EXPECT_EQ(parse_ok(R"({"type":"position_update","key":"a\u0000b"})").key, std::string("a\0b", 3));
  EXPECT_EQ(parse_ok(R"({"type":"position_update","data":{"symbol":"\u20ac"}})").key, "\xe2\x82\xac");
}

TEST(Envelope, Timestamp) {
  EXPECT_EQ(parse_ok(R"({"type":"order_update","ts":1732400000000})").ts, 1732400000000);
  EXPECT_EQ(parse_ok(R"({"ts":0,"type":"order_update"})").ts, 0);
  EXPECT_EQ(parse_ok(R"({"type":"order_update","ts":-1})").ts, -1);
  EXPECT_FALSE(parse_ok(R"({"type":"order_update","ts":1732400000000.5})").ts.has_value());
  EXPECT_FALSE(parse_ok(R"({"type":"order_update","ts":"1732400000000"})").ts.has_value());
  EXPECT_FALSE(parse_ok(R"({"type":"order_update","ts":null})").ts.has_value());
  EXPECT_FALSE(parse_ok(R"({"type":"order_update","data":{"ts":5}})").ts.has_value());
}

TEST(Envelope, SizeCheckComesFirst) {
  const std::string ev = R"({"type":"order_update"})";
  EXPECT_EQ(parse_err(ev, ev.size() - 1), EventError::too_large);
  EventInfo info{};
  EXPECT_EQ(parse_event(ev, ev.size(), info), EventError::none);
  // Even garbage over the limit is "too large", not "invalid".
  EXPECT_EQ(parse_err(std::string(kMax + 1, 'x')), EventError::too_large);
  EXPECT_EQ(parse_err("x", 0), EventError::too_large);
}

TEST(Envelope, InvalidJson) {
  for (const char* bytes :
       {"", " ", "{", R"({"type":"order_update")", R"({"type":"order_update"} x)",
        R"({"type":"order_update"}{})", R"({"type":"order_update",})", "{'type':'x'}",
        "{\"type\":\"order_update\",\"x\":\"\xff\"}", R"({"type":"order_update","x":NaN})",
        R"({"type":"order_update","n":99999999999999999999})"}) {
    EXPECT_EQ(parse_err(bytes), EventError::invalid_json) << bytes;
  }
  EXPECT_EQ(parse_err(std::string("{\"type\":\"order_update\"}\0", 24)), EventError::invalid_json);
}

TEST(Envelope, NotObject) {
  for (const char* bytes : {"[]", R"([{"type":"order_update"}])", "\"order_update\"", "42", "null", "true"}) {
    EXPECT_EQ(parse_err(bytes), EventError::not_object) << bytes;
  }
}

TEST(Envelope, UnknownType) {
  for (const char* bytes : {"{}", R"({"type":null})", R"({"type":1})", R"({"type":["order_update"]})",
                            R"({"type":"Order_Update"})", R"({"type":"order_update "})", R"({"type":""})",
                            R"({"type":"connected"})", R"({"type":"batch","events":[]})",
                            R"({"type":"order_update\u0000"})", R"({"kind":"order_update"})"}) {
    EXPECT_EQ(parse_err(bytes), EventError::unknown_type) << bytes;
  }
}

TEST(Envelope, DeepNestingDoesNotCrash) {
  for (const std::size_t depth : {3000u, 100000u}) {
    const std::string nested =
        R"({"type":"order_update","x":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
    EXPECT_EQ(parse_err(nested, std::numeric_limits<std::size_t>::max()), EventError::invalid_json);
    EXPECT_EQ(parse_err(std::string(depth, '['), std::numeric_limits<std::size_t>::max()),
              EventError::invalid_json);
  }
  // 100 levels are fine.
  const std::string ok =
      R"({"type":"order_update","x":)" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_EQ(parse_ok(ok).channel, Channel::orders);
}

TEST(Envelope, WhitespaceAround) {
  EXPECT_EQ(parse_ok(" \r\n\t{\"type\":\"trade_executed\"}\n").channel, Channel::trades);
}

}  // namespace
}  // namespace ps
