#include "out_queue.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using ps::OutQueue;
using ps::SharedBytes;

SharedBytes bytes(std::string_view s) { return SharedBytes::concat({s}); }

TEST(OutQueue, EmptyQueue) {
  OutQueue q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.front(), "");
  q.consume(0);
  q.clear();
  EXPECT_TRUE(q.empty());
}

TEST(OutQueue, ReleaseFreesOnlyAnEmptyQueue) {
  OutQueue q;
  q.push_unlimited(bytes("abc"));
  q.push_unlimited(bytes("de"));
  ASSERT_GT(q.capacity(), 0u);
  q.release();  // not empty: kept
  EXPECT_EQ(q.bytes(), 5u);
  EXPECT_EQ(q.front(), "abc");
  q.consume(5);
  ASSERT_TRUE(q.empty());
  EXPECT_GT(q.capacity(), 0u);  // a drain alone keeps a small queue's storage
  q.release();
  EXPECT_EQ(q.capacity(), 0u);
  EXPECT_TRUE(q.push(bytes("f"), 10));  // usable again
  EXPECT_EQ(q.front(), "f");
}

TEST(OutQueue, FifoWithPartialWrites) {
  OutQueue q;
  ASSERT_TRUE(q.push(bytes("hello"), 100));
  ASSERT_TRUE(q.push(bytes("world!"), 100));
  EXPECT_EQ(q.bytes(), 11u);
  EXPECT_EQ(q.front(), "hello");
  q.consume(2);
  EXPECT_EQ(q.front(), "llo");
  EXPECT_EQ(q.bytes(), 9u);
  q.consume(3);
  EXPECT_EQ(q.front(), "world!");
  EXPECT_EQ(q.bytes(), 6u);
  q.consume(6);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(OutQueue, ConsumeAcrossFrames) {
  // A writev of several frames reports one count.
  OutQueue q;
  q.push_unlimited(bytes("abc"));
  q.push_unlimited(bytes("defg"));
  q.push_unlimited(bytes("hi"));
  q.consume(5);
  EXPECT_EQ(q.front(), "fg");
  EXPECT_EQ(q.bytes(), 4u);
  q.consume(4);
  EXPECT_TRUE(q.empty());
}

TEST(OutQueue, LimitIsInclusive) {
  OutQueue q;
  EXPECT_TRUE(q.push(bytes("12345"), 10));
  EXPECT_TRUE(q.push(bytes("67890"), 10));  // exactly at the limit
  EXPECT_FALSE(q.push(bytes("x"), 10));
  EXPECT_EQ(q.bytes(), 10u);
  q.consume(1);
  EXPECT_TRUE(q.push(bytes("x"), 10));
  EXPECT_EQ(q.bytes(), 10u);
}

TEST(OutQueue, FrameLargerThanLimitIsRefusedEvenWhenEmpty) {
  OutQueue q;
  EXPECT_FALSE(q.push(bytes("0123456789A"), 10));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(OutQueue, PushUnlimitedIgnoresAndOvershootsTheLimit) {
  OutQueue q;
  ASSERT_TRUE(q.push(bytes("12345678"), 10));
  q.push_unlimited(bytes("close-frame"));
  EXPECT_EQ(q.bytes(), 19u);
  // Over the limit now: nothing more fits, no underflow in the check.
  EXPECT_FALSE(q.push(bytes(""), 10));
  EXPECT_FALSE(q.push(bytes("x"), 10));
  EXPECT_EQ(q.bytes(), 19u);
  q.consume(8);
  EXPECT_EQ(q.front(), "close-frame");
}

TEST(OutQueue, EmptyFramesAreNotQueued) {
  OutQueue q;
  EXPECT_TRUE(q.push(SharedBytes(), 10));
  q.push_unlimited(bytes(""));
  EXPECT_TRUE(q.empty());
}

TEST(OutQueue, SharesBytesAndReleasesWhenSent) {
  SharedBytes frame = bytes("shared frame");
  OutQueue a, b;
  ASSERT_TRUE(a.push(frame, 100));
  ASSERT_TRUE(b.push(frame, 100));
  EXPECT_EQ(frame.use_count(), 3u);
  EXPECT_EQ(a.front().data(), frame.data());  // no copy
  a.consume(frame.size());
  EXPECT_EQ(frame.use_count(), 2u);
  b.clear();
  EXPECT_EQ(frame.use_count(), 1u);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.bytes(), 0u);
}

TEST(OutQueue, RefusedPushKeepsNoReference) {
  SharedBytes frame = bytes("0123456789");
  OutQueue q;
  EXPECT_FALSE(q.push(frame, 5));
  EXPECT_EQ(frame.use_count(), 1u);
}

TEST(OutQueue, LongRunningQueueStaysBounded) {
  // Never fully drained: one frame always left behind. The sent slots at the
  // front must be reclaimed, so the order and byte count stay right.
  OutQueue q;
  std::size_t next_push = 0, next_pop = 0;
  for (int round = 0; round < 10000; ++round) {
    q.push_unlimited(bytes(std::to_string(next_push++)));
    q.push_unlimited(bytes(std::to_string(next_push++)));
    ASSERT_EQ(q.front(), std::to_string(next_pop++));
    q.consume(q.front().size());
    ASSERT_EQ(q.front(), std::to_string(next_pop++));
    q.consume(q.front().size());
    q.push_unlimited(bytes(std::to_string(next_push++)));
    ASSERT_EQ(q.front(), std::to_string(next_pop++));
    q.consume(q.front().size());
    ASSERT_TRUE(q.empty());
    // Keep one in the queue for the next round half of the time.
    if (round % 2) {
      q.push_unlimited(bytes(std::to_string(next_push++)));
      ASSERT_EQ(q.bytes(), q.front().size());
      ASSERT_EQ(q.front(), std::to_string(next_pop++));
      q.consume(q.front().size());
    }
  }
  std::size_t expected_bytes = 0;
  for (int i = 0; i < 1000; ++i) {
    q.push_unlimited(bytes("abcd"));
    expected_bytes += 4;
    if (i % 3 == 0) {
      q.consume(4);
      expected_bytes -= 4;
    }
  }
  EXPECT_EQ(q.bytes(), expected_bytes);
  while (!q.empty()) q.consume(q.front().size());
  EXPECT_EQ(q.bytes(), 0u);
}

}  // namespace

namespace {

ps::EventPtr tick(const std::string& key, const std::string& body,
                  ps::EventType type = ps::EventType::position_update) {
  ps::EventInfo info;
  info.type = type;
  info.channel = type == ps::EventType::position_update  ? ps::Channel::positions
                 : type == ps::EventType::account_update ? ps::Channel::account
                                                         : ps::Channel::orders;
  info.key = key;
  return ps::make_event(body, std::move(info));
}

std::string drain_all(ps::OutQueue& q) {
  std::string out;
  while (!q.empty()) {
    std::string_view f = q.front();
    out.append(f);
    q.consume(f.size());
  }
  return out;
}

}  // namespace

TEST(OutQueueConflate, ReplacesTheQueuedUpdateOfTheSameKeyInPlace) {
  ps::OutQueue q;
  auto a1 = tick("AAPL", "a1"), o = tick("", "order", ps::EventType::order_update), a2 = tick("AAPL", "a2");
  auto m1 = tick("MSFT", "m1");
  ASSERT_TRUE(q.push_event(a1->frame, a1, 1000));
  ASSERT_TRUE(q.push_event(o->frame, o, 1000));
  ASSERT_TRUE(q.push_event(m1->frame, m1, 1000));
  ps::SharedBytes f = a2->frame;
  EXPECT_TRUE(q.conflate(a2, f, 1000));
  // a2 took a1's place; the order and the other key are untouched.
  std::string out = drain_all(q);
  EXPECT_NE(out.find("a2"), std::string::npos);
  EXPECT_EQ(out.find("a1"), std::string::npos);
  EXPECT_LT(out.find("a2"), out.find("order"));
  EXPECT_LT(out.find("order"), out.find("m1"));
}

TEST(OutQueueConflate, NeverOrdersTradesAPartlyWrittenFrameOrAnotherKey) {
  ps::OutQueue q;
  auto o1 = tick("", "o1", ps::EventType::order_update), o2 = tick("", "o2", ps::EventType::order_update);
  ASSERT_TRUE(q.push_event(o1->frame, o1, 1000));
  ps::SharedBytes f = o2->frame;
  EXPECT_FALSE(q.conflate(o2, f, 1000));  // orders are never conflated
  auto a1 = tick("AAPL", "a1"), b = tick("IBM", "b1"), a2 = tick("AAPL", "a2");
  ps::OutQueue r;
  ASSERT_TRUE(r.push_event(a1->frame, a1, 1000));
  r.consume(1);  // the socket took a byte of it
  ps::SharedBytes g = a2->frame;
  EXPECT_FALSE(r.conflate(a2, g, 1000));
  ps::SharedBytes h = b->frame;
  EXPECT_FALSE(r.conflate(b, h, 1000));
  auto nokey = tick("", "p");
  ps::SharedBytes k = nokey->frame;
  EXPECT_FALSE(r.conflate(nokey, k, 1000));  // a position without a key never coalesces
}

TEST(OutQueueConflate, AccountUpdatesReplaceEachOtherAndBytesStayExact) {
  ps::OutQueue q;
  auto acc1 = tick("", "account-1", ps::EventType::account_update);
  auto acc2 = tick("", "account-two", ps::EventType::account_update);
  ASSERT_TRUE(q.push_event(acc1->frame, acc1, 1000));
  const std::size_t before = q.bytes();
  ps::SharedBytes f = acc2->frame;
  ASSERT_TRUE(q.conflate(acc2, f, 1000));
  EXPECT_EQ(q.bytes(), before + 2);
  EXPECT_EQ(drain_all(q).find("account-1"), std::string::npos);
  EXPECT_EQ(q.bytes(), 0u);
  // A larger replacement that would pass the limit is refused.
  auto small = tick("K", "s"), big = tick("K", std::string(100, 'b'));
  ASSERT_TRUE(q.push_event(small->frame, small, 50));
  ps::SharedBytes g = big->frame;
  EXPECT_FALSE(q.conflate(big, g, 50));
}
