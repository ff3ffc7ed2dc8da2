#include "envelope.h"

#include <cstdint>
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
        "{\"type\":\"order_update\",\"x\":\"\xff\"}", R"({"type":"order_update","x":NaN})"}) {
    EXPECT_EQ(parse_err(bytes), EventError::invalid_json) << bytes;
  }
  EXPECT_EQ(parse_err(std::string("{\"type\":\"order_update\"}\0", 24)), EventError::invalid_json);
}

TEST(Envelope, InvalidNumbersAreInvalidJson) {
  for (const char* n : {"01", "-01", "1.", ".5", "+1", "1e", "1e+", "-", "NaN", "Infinity", "-Infinity",
                        "0x10", "1.5.2", "--1"}) {
    EXPECT_EQ(parse_err(std::string(R"({"type":"order_update","n":)") + n + "}"), EventError::invalid_json)
        << n;
  }
}

// Issue 14: valid events were dropped because jansson refuses integers
// beyond int64 and reals beyond double. The event is forwarded as is, so
// the magnitude of its numbers does not matter.
TEST(Envelope, NumbersOfAnyMagnitudeAreValid) {
  for (const char* n : {"99999999999999999999", "12345678901234567890", "-12345678901234567890",
                        "1234567890123456789012345678901234567890", "1e400", "-1e400", "1e-400", "-0", "1E+2",
                        "0.5e-10", "18446744073709551616.5"}) {
    SCOPED_TRACE(n);
    const std::string ev = std::string(R"({"type":"account_update","big":)") + n + R"(,"data":{"v":[)" + n +
                           R"(],"w":{"x":)" + n + "}}}";
    EXPECT_EQ(parse_ok(ev).channel, Channel::account);
    const std::string pos =
        std::string(R"({"type":"position_update","qty":)") + n + R"(,"data":{"symbol":"AAPL"}})";
    EXPECT_EQ(parse_ok(pos).key, "AAPL");
  }
}

TEST(Envelope, BigIntegerKeysKeepTheirDigits) {
  EXPECT_EQ(parse_ok(R"({"type":"position_update","key":12345678901234567890})").key, "12345678901234567890");
  EXPECT_EQ(parse_ok(R"({"type":"position_update","key":-1234567890123456789012345678901234567890})").key,
            "-1234567890123456789012345678901234567890");
  EXPECT_EQ(parse_ok(R"({"type":"position_update","key":9223372036854775807})").key, "9223372036854775807");
  EXPECT_EQ(parse_ok(R"({"type":"position_update","key":9223372036854775808})").key, "9223372036854775808");
  EXPECT_EQ(parse_ok(R"({"type":"position_update","key":0})").key, "0");
  EXPECT_EQ(parse_ok(R"({"type":"position_update","key":-0})").key, "0");  // as jansson rendered it
  // A fraction or an exponent is no integer, whatever its value: data.symbol.
  for (const char* n : {"1e400", "1E+2", "1e2", "1.0", "0.5e-10", "-0.0"}) {
    EXPECT_EQ(
        parse_ok(std::string(R"({"type":"position_update","key":)") + n + R"(,"data":{"symbol":"S"}})").key,
        "S")
        << n;
  }
}

TEST(Envelope, TimestampBeyondInt64IsNoTimestamp) {
  EXPECT_EQ(parse_ok(R"({"type":"order_update","ts":9223372036854775807})").ts,
            std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(parse_ok(R"({"type":"order_update","ts":-9223372036854775808})").ts,
            std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(parse_ok(R"({"type":"order_update","ts":-0})").ts, 0);
  for (const char* n : {"9223372036854775808", "-9223372036854775809", "12345678901234567890", "1e400",
                        "1.7324e12", "1732400000000.0", "1E3"}) {
    EXPECT_FALSE(parse_ok(std::string(R"({"type":"order_update","ts":)") + n + "}").ts.has_value()) << n;
  }
}

TEST(Envelope, DuplicateKeysLastWins) {
  EXPECT_EQ(parse_ok(R"({"type":"nope","type":"order_update"})").channel, Channel::orders);
  EXPECT_EQ(parse_err(R"({"type":"order_update","type":1})"), EventError::unknown_type);
  EXPECT_EQ(parse_err(R"({"type":"order_update","type":"nope"})"), EventError::unknown_type);
  EXPECT_EQ(parse_ok(R"({"type":"position_update","key":"a","key":"b"})").key, "b");
  EXPECT_EQ(parse_ok(R"({"type":"position_update","key":"a","key":null,"data":{"symbol":"S"}})").key, "S");
  EXPECT_EQ(parse_ok(R"({"type":"position_update","data":{"symbol":"A","symbol":"B"}})").key, "B");
  EXPECT_EQ(parse_ok(R"({"type":"position_update","data":{"symbol":"A"},"data":{}})").key, "");
  EXPECT_EQ(parse_ok(R"({"type":"order_update","ts":1,"ts":2})").ts, 2);
  EXPECT_FALSE(parse_ok(R"({"type":"order_update","ts":1,"ts":"2"})").ts.has_value());
}

TEST(Envelope, NamesAndTypeCompareUnescaped) {
  EXPECT_EQ(parse_ok(R"({"type":"order\u005fupdate"})").channel, Channel::orders);
  EXPECT_EQ(parse_ok(R"({"\u0074ype":"trade_executed"})").channel, Channel::trades);
  EXPECT_EQ(parse_ok(R"({"type":"position_update","k\u0065y":"x\ty"})").key, "x\ty");
  EXPECT_EQ(parse_ok(R"({"type":"position_update","d\u0061ta":{"symbol":"\ud83d\ude00"}})").key,
            "\xf0\x9f\x98\x80");
  EXPECT_EQ(parse_err(R"({"type":"order_\u0055pdate"})"), EventError::unknown_type);
}

TEST(Envelope, DepthLimit) {
  // The event object is the first level: 255 more are fine, 256 more are not.
  const auto event = [](std::size_t depth) {
    return R"({"type":"order_update","x":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  };
  EXPECT_EQ(parse_ok(event(255)).channel, Channel::orders);
  EXPECT_EQ(parse_err(event(256)), EventError::invalid_json);
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
