#include "event.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "test_support.h"

namespace ps {
namespace {

using test_support::parse_frame;
using test_support::ParsedFrame;

EventInfo info(EventType t, Channel c, std::string key = {}, std::optional<std::int64_t> ts = std::nullopt) {
  EventInfo i;
  i.type = t;
  i.channel = c;
  i.key = std::move(key);
  i.ts = ts;
  return i;
}

TEST(Event, BuildsTextFrameAroundPublishedBytes) {
  const std::string json =
      R"({"type":"position_update","key":"AAPL","data":{"symbol":"AAPL","qty":10},"ts":17})";
  EventPtr ev = make_event(json, info(EventType::position_update, Channel::positions, "AAPL", 17));
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->type, EventType::position_update);
  EXPECT_EQ(ev->channel, Channel::positions);
  EXPECT_EQ(ev->key, "AAPL");
  ASSERT_TRUE(ev->ts.has_value());
  EXPECT_EQ(*ev->ts, 17);
  EXPECT_EQ(ev->header_len, 2);
  EXPECT_EQ(ev->json(), json);
  EXPECT_EQ(ev->json_size(), json.size());

  ParsedFrame f = parse_frame(ev->frame.view());
  ASSERT_TRUE(f.ok);
  EXPECT_TRUE(f.fin);
  EXPECT_EQ(f.opcode, 0x1u);
  EXPECT_FALSE(f.masked);
  EXPECT_EQ(f.header, 2u);
  EXPECT_EQ(f.payload, json);
  EXPECT_EQ(static_cast<unsigned char>(ev->frame.data()[0]), 0x81);
  EXPECT_EQ(static_cast<unsigned char>(ev->frame.data()[1]), json.size());
}

TEST(Event, CopiesTheInputAndKeepsInfo) {
  std::string json = R"({"type":"account_update","data":{"cash":1}})";
  EventPtr ev = make_event(json, info(EventType::account_update, Channel::account));
  json.assign(json.size(), 'x');  // the event owns its bytes
  EXPECT_EQ(ev->json(), R"({"type":"account_update","data":{"cash":1}})");
  EXPECT_TRUE(ev->key.empty());
  EXPECT_FALSE(ev->ts.has_value());
  EXPECT_EQ(ev->channel, Channel::account);
}

TEST(Event, HeaderSizesAtLengthBoundaries) {
  struct Case {
    std::size_t len;
    std::size_t header;
  };
  for (Case c : {Case{0, 2}, Case{1, 2}, Case{125, 2}, Case{126, 4}, Case{65535, 4}, Case{65536, 10},
                 Case{300000, 10}}) {
    std::string json(c.len, 'a');
    EventPtr ev = make_event(json, info(EventType::trade_executed, Channel::trades));
    EXPECT_EQ(ev->header_len, c.header) << c.len;
    EXPECT_EQ(ev->frame.size(), c.header + c.len);
    ParsedFrame f = parse_frame(ev->frame.view());
    ASSERT_TRUE(f.ok) << c.len;
    EXPECT_EQ(f.header, c.header);
    EXPECT_EQ(f.opcode, 0x1u);
    EXPECT_TRUE(f.fin);
    EXPECT_EQ(ev->json(), json);
  }
}

TEST(Event, SharingTheEventSharesTheFrame) {
  EventPtr ev = make_event(R"({"type":"order_update"})", info(EventType::order_update, Channel::orders));
  EXPECT_EQ(ev->frame.use_count(), 1u);
  SharedBytes queued = ev->frame;  // what an out queue does
  EXPECT_EQ(queued.data(), ev->frame.data());
  EXPECT_EQ(ev->frame.use_count(), 2u);
  EventPtr other = ev;
  EXPECT_EQ(other->frame.data(), ev->frame.data());
}

}  // namespace
}  // namespace ps
