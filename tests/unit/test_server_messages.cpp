#include "server_messages.h"

#include <limits>
#include <utility>
#include <string>

#include <gtest/gtest.h>
#include <jansson.h>

namespace ps {
namespace {

std::string json_quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST(ServerMessages, ConnectedExactlyAsSpec) {
  EXPECT_EQ(connected_message("u1", kAllChannels, 250, 15000, 1732400000000),
            R"({"type":"connected","userId":"u1","channels":["positions","orders","account","trades"],)"
            R"("batchWindowMs":250,"heartbeatMs":15000,"serverTime":1732400000000})");
}

TEST(ServerMessages, ConnectedEscapesUserIdAndFiltersChannels) {
  EXPECT_EQ(
      connected_message("a\"b\\c", channel_bit(Channel::trades) | channel_bit(Channel::positions), 0, 1, -5),
      R"({"type":"connected","userId":"a\"b\\c","channels":["positions","trades"],)"
      R"("batchWindowMs":0,"heartbeatMs":1,"serverTime":-5})");
  EXPECT_EQ(connected_message("", 0, std::numeric_limits<std::int64_t>::max(),
                              std::numeric_limits<std::int64_t>::min(), 0),
            R"({"type":"connected","userId":"","channels":[],"batchWindowMs":9223372036854775807,)"
            R"("heartbeatMs":-9223372036854775808,"serverTime":0})");
}

TEST(ServerMessages, ConnectedWithHistory) {
  ConnectedHistory h;
  h.epoch = "e1";
  h.offset = "5-1";
  EXPECT_EQ(connected_message("u1", kAllChannels, 250, 15000, 7, &h),
            R"({"type":"connected","userId":"u1","channels":["positions","orders","account","trades"],)"
            R"("batchWindowMs":250,"heartbeatMs":15000,"serverTime":7,"epoch":"e1","offset":"5-1"})");
  h.resumed = true;
  h.recovered = true;
  EXPECT_NE(connected_message("u1", 0, 0, 0, 0, &h).find(R"("offset":"5-1","recovered":true})"),
            std::string::npos);
  h.recovered = false;
  h.offset = "";
  h.epoch = "";  // the history could not be read
  EXPECT_NE(connected_message("u1", 0, 0, 0, 0, &h).find(R"("epoch":"","recovered":false})"),
            std::string::npos);
}

TEST(ServerMessages, LiveNotRecovered) {
  EXPECT_EQ(status_live_not_recovered(""), R"({"type":"status","state":"live","recovered":false})");
  EXPECT_EQ(status_live_not_recovered("abc"),
            R"({"type":"status","state":"live","recovered":false,"epoch":"abc"})");
}

TEST(ServerMessages, Status) {
  EXPECT_EQ(status_message(true), R"({"type":"status","state":"live"})");
  EXPECT_EQ(status_message(false), R"({"type":"status","state":"degraded"})");
}

TEST(ServerMessages, SubscribedCanonicalOrder) {
  EXPECT_EQ(subscribed_message(kAllChannels),
            R"({"type":"subscribed","channels":["positions","orders","account","trades"]})");
  EXPECT_EQ(subscribed_message(0), R"({"type":"subscribed","channels":[]})");
  EXPECT_EQ(subscribed_message(channel_bit(Channel::account)),
            R"({"type":"subscribed","channels":["account"]})");
  EXPECT_EQ(subscribed_message(channel_bit(Channel::trades) | channel_bit(Channel::orders)),
            R"({"type":"subscribed","channels":["orders","trades"]})");
  // Bits above the four channels are ignored.
  EXPECT_EQ(subscribed_message(0xf0 | channel_bit(Channel::positions)),
            R"({"type":"subscribed","channels":["positions"]})");
  // Every mask: names in canonical order.
  for (unsigned mask = 0; mask < 16; ++mask) {
    std::string expect = R"({"type":"subscribed","channels":[)";
    bool first = true;
    const std::pair<const char*, unsigned> names[] = {
        {"positions", 1}, {"orders", 2}, {"account", 4}, {"trades", 8}};
    for (const auto& [n, bit] : names) {
      if (!(mask & bit)) continue;
      if (!first) expect += ",";
      first = false;
      expect += "\"" + std::string(n) + "\"";
    }
    expect += "]}";
    EXPECT_EQ(subscribed_message(static_cast<ChannelMask>(mask)), expect) << mask;
  }
}

TEST(ServerMessages, Pong) {
  EXPECT_EQ(pong_message(1732400000123), R"({"type":"pong","serverTime":1732400000123})");
  EXPECT_EQ(pong_message(0), R"({"type":"pong","serverTime":0})");
}

TEST(ServerMessages, Error) {
  EXPECT_EQ(error_message("unknown_channel", "unknown channel \"news\""),
            R"({"type":"error","code":"unknown_channel","message":"unknown channel \"news\""})");
  EXPECT_EQ(error_message("bad_request", ""), R"({"type":"error","code":"bad_request","message":""})");
}

TEST(ServerMessages, JsonStringEscapes) {
  EXPECT_EQ(json_quoted(""), R"("")");
  EXPECT_EQ(json_quoted("plain"), R"("plain")");
  EXPECT_EQ(json_quoted("\"\\"), R"("\"\\")");
  EXPECT_EQ(json_quoted("/"), R"("/")");  // no need to escape '/'
  EXPECT_EQ(json_quoted("\n\r\t\b\f"), R"("\u000a\u000d\u0009\u0008\u000c")");
  EXPECT_EQ(json_quoted(std::string("\0\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(json_quoted("\x20\x7e\x7f"), "\" ~\x7f\"");  // DEL needs no escape
  std::string out = "prefix:";
  append_json_string(out, "x");
  EXPECT_EQ(out, "prefix:\"x\"");
}

TEST(ServerMessages, JsonStringKeepsUtf8) {
  for (const char* s : {"caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x93\x88", "\xe2\x80\xa8", "\xef\xbf\xbf",
                        "\xf4\x8f\xbf\xbf", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80"}) {
    EXPECT_EQ(json_quoted(s), "\"" + std::string(s) + "\"") << s;
  }
}

TEST(ServerMessages, JsonStringReplacesInvalidUtf8) {
  EXPECT_EQ(json_quoted("a\xff"
                        "b"),
            R"("a\ufffdb")");
  EXPECT_EQ(json_quoted("\x80"), R"("\ufffd")");
  EXPECT_EQ(json_quoted("\xc3"), R"("\ufffd")");                                // truncated
  EXPECT_EQ(json_quoted("\xc3\x28"), R"("\ufffd(")");                           // bad continuation
  EXPECT_EQ(json_quoted("\xc0\xaf"), R"("\ufffd\ufffd")");                      // overlong
  EXPECT_EQ(json_quoted("\xe0\x80\xaf"), R"("\ufffd\ufffd\ufffd")");            // overlong
  EXPECT_EQ(json_quoted("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");            // surrogate
  EXPECT_EQ(json_quoted("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
  EXPECT_EQ(json_quoted("\xf8\x88\x80\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd\ufffd")");
  EXPECT_EQ(json_quoted("\xe2\x82"), R"("\ufffd\ufffd")");  // cut short at the end
}

TEST(ServerMessages, JsonStringRoundTripsThroughJansson) {
  // Every output is valid JSON (jansson also insists on valid UTF-8), and
  // valid input comes back unchanged.
  const auto decode = [](const std::string& literal) -> std::string {
    json_error_t err;
    json_t* j = json_loadb(literal.data(), literal.size(), JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!json_is_string(j)) {
      json_decref(j);
      return "<invalid: " + literal + ">";
    }
    std::string s(json_string_value(j), json_string_length(j));
    json_decref(j);
    return s;
  };
  std::string all_ascii;
  for (int c = 0; c < 0x80; ++c) all_ascii.push_back(static_cast<char>(c));
  EXPECT_EQ(decode(json_quoted(all_ascii)), all_ascii);
  for (int c = 0x80; c < 0x100; ++c) {
    EXPECT_EQ(decode(json_quoted(std::string(1, static_cast<char>(c)))), "\xef\xbf\xbd") << c;
  }
  const std::string mixed = "\"euro\xe2\x82\xac\n\xf0\x9f\x93\x88\\";
  EXPECT_EQ(decode(json_quoted(mixed)), mixed);
}

}  // namespace
}  // namespace ps
