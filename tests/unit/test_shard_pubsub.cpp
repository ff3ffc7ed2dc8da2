#include "shard_pubsub.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ps {
namespace {

using namespace std::string_view_literals;

// Frames a real redis-server 7.0.15 cluster node sent one subscriber
// connection: SSUBSCRIBE {t}a {t}b, SSUBSCRIBE foo bar (two slots), an
// SPUBLISH to {t}a, a PING, then a reshard moving the slot of {t}.
// clang-format off
constexpr std::string_view kSubscribed =
    "*3\r\n$10\r\nssubscribe\r\n$4\r\n{t}a\r\n:1\r\n*3\r\n$10\r\nssubscribe\r\n$4\r\n{t}b\r\n:2\r\n";
constexpr std::string_view kCrossSlot = "-CROSSSLOT Keys in request don't hash to the same slot\r\n";
constexpr std::string_view kMessage = "*3\r\n$8\r\nsmessage\r\n$4\r\n{t}a\r\n$8\r\nhe\"llo\r\n\r\n";
constexpr std::string_view kPong = "*2\r\n$4\r\npong\r\n$0\r\n\r\n";
constexpr std::string_view kMovedAway =
    "*3\r\n$12\r\nsunsubscribe\r\n$4\r\n{t}a\r\n:2\r\n*3\r\n$12\r\nsunsubscribe\r\n$4\r\n{t}b\r\n:1\r\n";
// clang-format on

std::vector<RespValue> frames(std::string_view wire) {
  std::vector<RespValue> out;
  while (!wire.empty()) {
    RespValue v;
    std::size_t used = 0;
    EXPECT_EQ(resp_decode(wire, v, used), RespDecodeResult::ok);
    if (used == 0) break;
    out.push_back(std::move(v));
    wire.remove_prefix(used);
  }
  return out;
}

TEST(ShardPubsub, RealFrames) {
  auto f = frames(kSubscribed);
  ASSERT_EQ(f.size(), 2u);
  ShardFrame s = classify_shard_frame(f[0]);
  EXPECT_EQ(s.kind, ShardFrameKind::subscribed);
  EXPECT_EQ(s.channel, "{t}a");
  EXPECT_EQ(s.count, 1);
  s = classify_shard_frame(f[1]);
  EXPECT_EQ(s.channel, "{t}b");
  EXPECT_EQ(s.count, 2);

  f = frames(kMessage);
  ASSERT_EQ(f.size(), 1u);
  s = classify_shard_frame(f[0]);
  EXPECT_EQ(s.kind, ShardFrameKind::message);
  EXPECT_EQ(s.channel, "{t}a");
  EXPECT_EQ(s.payload, "he\"llo\r\n");

  f = frames(kMovedAway);
  ASSERT_EQ(f.size(), 2u);
  s = classify_shard_frame(f[1]);
  EXPECT_EQ(s.kind, ShardFrameKind::unsubscribed);
  EXPECT_EQ(s.channel, "{t}b");
  EXPECT_EQ(s.count, 1);

  f = frames(kCrossSlot);
  s = classify_shard_frame(f[0]);
  EXPECT_EQ(s.kind, ShardFrameKind::error);
  EXPECT_EQ(s.payload.substr(0, 9), "CROSSSLOT");

  f = frames(kPong);
  EXPECT_EQ(classify_shard_frame(f[0]).kind, ShardFrameKind::other);
}

TEST(ShardPubsub, OtherShapesAreOther) {
  using V = RespValue;
  const V cases[] = {
      V::nil_value(),
      V::integer_value(1),
      V::string_value("smessage"),
      V::status_value("OK"),
      V::array_value({}),
      V::array_value({V::string_value("smessage"), V::string_value("ch")}),
      V::array_value({V::string_value("smessage"), V::string_value("ch"), V::integer_value(1)}),
      V::array_value({V::string_value("smessage"), V::integer_value(1), V::string_value("x")}),
      V::array_value({V::string_value("ssubscribe"), V::string_value("ch"), V::string_value("1")}),
      V::array_value({V::string_value("message"), V::string_value("ch"), V::string_value("x")}),
      V::array_value({V::integer_value(3), V::string_value("ch"), V::string_value("x")}),
      V::array_value(
          {V::string_value("smessage"), V::string_value("ch"), V::string_value("x"), V::nil_value()}),
  };
  for (const V& v : cases) EXPECT_EQ(classify_shard_frame(v).kind, ShardFrameKind::other) << resp_describe(v);
  // the kind word is case-insensitive (as hiredis treats "message")
  const V up = V::array_value({V::string_value("SMESSAGE"), V::string_value("c"), V::string_value("p")});
  EXPECT_EQ(classify_shard_frame(up).kind, ShardFrameKind::message);
  const V moved = V::error_value("MOVED 3443 127.0.0.1:7001");
  EXPECT_EQ(classify_shard_frame(moved).kind, ShardFrameKind::error);
  EXPECT_EQ(classify_shard_frame(moved).payload, "MOVED 3443 127.0.0.1:7001");
}

// redisReply's fields (hiredis 0.14).
struct FakeReply {
  int type;
  long long integer;
  std::size_t len;
  char* str;
  std::size_t elements;
  FakeReply** element;
};

FakeReply str(const char* s, int type = 1) {
  return FakeReply{type, 0, std::char_traits<char>::length(s), const_cast<char*>(s), 0, nullptr};
}

TEST(ShardPubsub, HiredisReplies) {
  FakeReply kind = str("smessage"), ch = str("portfolio:user:u1"), payload = str("{\"a\":1}");
  FakeReply* kids[] = {&kind, &ch, &payload};
  FakeReply msg{2, 0, 0, nullptr, 3, kids};
  ShardFrame f = classify_shard_frame(&msg);
  EXPECT_EQ(f.kind, ShardFrameKind::message);
  EXPECT_EQ(f.channel, "portfolio:user:u1");
  EXPECT_EQ(f.payload, "{\"a\":1}");
  EXPECT_EQ(f.payload.data(), payload.str);  // a view, no copy

  FakeReply k2 = str("sunsubscribe"), n{3, 0, 0, nullptr, 0, nullptr};
  FakeReply* kids2[] = {&k2, &ch, &n};
  FakeReply unsub{2, 0, 0, nullptr, 3, kids2};
  f = classify_shard_frame(&unsub);
  EXPECT_EQ(f.kind, ShardFrameKind::unsubscribed);
  EXPECT_EQ(f.count, 0);

  FakeReply err = str("CROSSSLOT Keys", 6);
  EXPECT_EQ(classify_shard_frame(&err).kind, ShardFrameKind::error);
  EXPECT_EQ(classify_shard_frame<FakeReply>(nullptr).kind, ShardFrameKind::other);
  FakeReply* holes[] = {&k2, nullptr, &n};
  FakeReply bad{2, 0, 0, nullptr, 3, holes};
  EXPECT_EQ(classify_shard_frame(&bad).kind, ShardFrameKind::other);
  FakeReply empty{2, 0, 0, nullptr, 0, nullptr};
  EXPECT_EQ(classify_shard_frame(&empty).kind, ShardFrameKind::other);
}

}  // namespace
}  // namespace ps
