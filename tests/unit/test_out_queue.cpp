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
