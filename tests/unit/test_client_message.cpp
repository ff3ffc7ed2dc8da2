#include "client_message.h"

#include <string>

#include <gtest/gtest.h>

namespace ps {
namespace {

using Kind = ClientMessage::Kind;

void expect_bad_request(std::string_view text) {
  const ClientMessage m = parse_client_message(text);
  EXPECT_EQ(m.kind, Kind::invalid) << text;
  EXPECT_EQ(m.error_code, "bad_request") << text;
  EXPECT_FALSE(m.error_message.empty()) << text;
}

TEST(ClientMessage, Ping) {
  ClientMessage m = parse_client_message(R"({"type":"ping"})");
  EXPECT_EQ(m.kind, Kind::ping);
  EXPECT_EQ(m.error_code, "");
  m = parse_client_message(R"( {"id":7,"type":"ping","channels":"ignored"} )");
  EXPECT_EQ(m.kind, Kind::ping);
}

TEST(ClientMessage, Subscribe) {
  ClientMessage m = parse_client_message(R"({"type":"subscribe","channels":["positions","trades"]})");
  EXPECT_EQ(m.kind, Kind::subscribe);
  EXPECT_EQ(m.channels, channel_bit(Channel::positions) | channel_bit(Channel::trades));
  EXPECT_EQ(m.error_code, "");

  m = parse_client_message(R"({"channels":["orders","account","positions","trades"],"type":"subscribe"})");
  EXPECT_EQ(m.kind, Kind::subscribe);
  EXPECT_EQ(m.channels, kAllChannels);

  m = parse_client_message(R"({"type":"subscribe","channels":["orders","orders"]})");
  EXPECT_EQ(m.kind, Kind::subscribe);
  EXPECT_EQ(m.channels, channel_bit(Channel::orders));

  m = parse_client_message(R"({"type":"subscribe","channels":[]})");
  EXPECT_EQ(m.kind, Kind::subscribe);
  EXPECT_EQ(m.channels, 0);
}

TEST(ClientMessage, Unsubscribe) {
  const ClientMessage m = parse_client_message(R"({"type":"unsubscribe","channels":["account"]})");
  EXPECT_EQ(m.kind, Kind::unsubscribe);
  EXPECT_EQ(m.channels, channel_bit(Channel::account));
}

TEST(ClientMessage, UnknownChannel) {
  ClientMessage m = parse_client_message(R"({"type":"subscribe","channels":["positions","news"]})");
  EXPECT_EQ(m.kind, Kind::invalid);
  EXPECT_EQ(m.error_code, "unknown_channel");
  EXPECT_EQ(m.error_message, "unknown channel \"news\"");

  m = parse_client_message(R"({"type":"unsubscribe","channels":["Positions"]})");
  EXPECT_EQ(m.error_code, "unknown_channel");
  EXPECT_EQ(m.error_message, "unknown channel \"Positions\"");

  m = parse_client_message(R"({"type":"subscribe","channels":[""]})");
  EXPECT_EQ(m.error_code, "unknown_channel");
  EXPECT_EQ(m.error_message, "unknown channel \"\"");
}

TEST(ClientMessage, UnknownChannelNameIsTruncatedOnACodePoint) {
  // 63 ASCII bytes then a 3-byte euro sign that straddles the 64-byte cut.
  const std::string name = std::string(63, 'x') + "\xe2\x82\xac" + std::string(100, 'y');
  const ClientMessage m = parse_client_message(R"({"type":"subscribe","channels":[")" + name + "\"]}");
  EXPECT_EQ(m.error_code, "unknown_channel");
  EXPECT_EQ(m.error_message, "unknown channel \"" + std::string(63, 'x') + "...\"");

  const std::string name64(64, 'z');
  const ClientMessage m64 = parse_client_message(R"({"type":"subscribe","channels":[")" + name64 + "\"]}");
  EXPECT_EQ(m64.error_message, "unknown channel \"" + name64 + "\"");
}

TEST(ClientMessage, BadRequests) {
  for (const char* text : {
           "",
           " ",
           "ping",
           "{",
           "}",
           "[]",
           "null",
           "42",
           "\"ping\"",
           R"(["type","ping"])",  // not objects / JSON
           R"({"type":"ping"} x)",
           R"({"type":"ping"}{})",
           R"({"type":"ping",})",
           "{'type':'ping'}",
           "{}",
           R"({"channels":["orders"]})",
           R"({"type":null})",
           R"({"type":1})",
           R"({"type":["ping"]})",
           R"({"type":"PING"})",
           R"({"type":"pong"})",
           R"({"type":""})",
           R"({"type":"ping\u0000"})",
           R"({"type":"subscribe"})",
           R"({"type":"subscribe","channels":"orders"})",
           R"({"type":"subscribe","channels":null})",
           R"({"type":"subscribe","channels":{"0":"orders"}})",
           R"({"type":"subscribe","channels":[1]})",
           R"({"type":"subscribe","channels":["orders",null]})",
           R"({"type":"unsubscribe","channels":[["orders"]]})",
           R"({"type":"unsubscribe","channels":[{}]})",
       }) {
    expect_bad_request(text);
  }
}

// Issue 14: valid JSON is never refused for its numbers.
TEST(ClientMessage, NumbersOfAnyMagnitudeAreValid) {
  const ClientMessage m = parse_client_message(
      R"({"id":12345678901234567890,"type":"subscribe","x":[1e400,-0,1E+2],"channels":["orders"]})");
  EXPECT_EQ(m.kind, Kind::subscribe);
  EXPECT_EQ(m.channels, channel_bit(Channel::orders));
  EXPECT_EQ(parse_client_message(R"({"type":"ping","n":-1234567890123456789012345678901234567890})").kind,
            Kind::ping);
  EXPECT_EQ(parse_client_message(R"({"type":"ping","n":01})").error_message, "message is not valid JSON");
}

TEST(ClientMessage, NamesCompareUnescapedAndTheLastDuplicateWins) {
  ClientMessage m = parse_client_message(R"({"t\u0079pe":"sub\u0073cribe","channels":["\u006frders"]})");
  EXPECT_EQ(m.kind, Kind::subscribe);
  EXPECT_EQ(m.channels, channel_bit(Channel::orders));
  m = parse_client_message(R"({"type":"subscribe","type":"ping"})");
  EXPECT_EQ(m.kind, Kind::ping);
  m = parse_client_message(R"({"type":"subscribe","channels":["orders"],"channels":["trades"]})");
  EXPECT_EQ(m.channels, channel_bit(Channel::trades));
  m = parse_client_message(R"({"type":"subscribe","channels":["n\u00e9ws"]})");
  EXPECT_EQ(m.error_code, "unknown_channel");
  EXPECT_EQ(m.error_message, "unknown channel \"n\xc3\xa9ws\"");
}

TEST(ClientMessage, ShapeIsCheckedBeforeNames) {
  const ClientMessage m = parse_client_message(R"({"type":"subscribe","channels":["news",1]})");
  EXPECT_EQ(m.error_code, "bad_request");
}

TEST(ClientMessage, ExactBadRequestMessages) {
  EXPECT_EQ(parse_client_message("{").error_message, "message is not valid JSON");
  EXPECT_EQ(parse_client_message("[]").error_message, "message must be a JSON object");
  EXPECT_EQ(parse_client_message("{}").error_message, "message has no \"type\"");
  EXPECT_EQ(parse_client_message(R"({"type":3})").error_message, "\"type\" must be a string");
  EXPECT_EQ(parse_client_message(R"({"type":"hello"})").error_message, "unknown message type \"hello\"");
  EXPECT_EQ(parse_client_message(R"({"type":"subscribe"})").error_message,
            "\"channels\" must be an array of strings");
}

TEST(ClientMessage, HostileInput) {
  for (const std::size_t depth : {1000u, 100000u}) {
    expect_bad_request(std::string(depth, '['));
    expect_bad_request(std::string(depth, '[') + std::string(depth, ']'));
    expect_bad_request(R"({"type":"subscribe","channels":)" + std::string(depth, '[') +
                       std::string(depth, ']') + "}");
  }
  // A big but flat message parses.
  std::string many = R"({"type":"subscribe","channels":[)";
  for (int i = 0; i < 5000; ++i) many += "\"orders\",";
  many += "\"trades\"]}";
  const ClientMessage m = parse_client_message(many);
  EXPECT_EQ(m.kind, Kind::subscribe);
  EXPECT_EQ(m.channels, channel_bit(Channel::orders) | channel_bit(Channel::trades));
  // Embedded NUL bytes in the text, outside strings.
  expect_bad_request(std::string("{\"type\":\"ping\"}\0", 16));
  expect_bad_request(std::string("{\"type\"\0:\"ping\"}", 16));
}

}  // namespace
}  // namespace ps
