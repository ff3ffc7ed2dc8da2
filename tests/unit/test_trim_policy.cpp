#include "trim_policy.h"

#include <gtest/gtest.h>

namespace ps {
namespace {

TEST(TrimPolicy, ChurnNeverTriggers) {
  TrimPolicy p;
  for (std::uint32_t i = 0; i + 1 < TrimPolicy::kMinHandshakes; ++i) p.on_handshake(i * 10'000);
  EXPECT_FALSE(p.deadline().has_value());
  EXPECT_FALSE(p.on_timer(1'000'000'000));
}

TEST(TrimPolicy, SlowChurnNeverAddsUpToAStorm) {
  // Thousands of handshakes, but each after a pause: never a storm.
  TrimPolicy p;
  for (std::int64_t i = 0; i < 10 * TrimPolicy::kMinHandshakes; ++i) {
    p.on_handshake(i * (TrimPolicy::kQuietMs + 1));
    EXPECT_FALSE(p.deadline().has_value()) << i;
  }
}

TEST(TrimPolicy, AStormIsTrimmedOnceItIsQuiet) {
  TrimPolicy p;
  for (std::uint32_t i = 0; i < TrimPolicy::kMinHandshakes; ++i) p.on_handshake(5000 + i % 7);
  ASSERT_TRUE(p.deadline().has_value());
  EXPECT_EQ(*p.deadline(), 5000 + (TrimPolicy::kMinHandshakes - 1) % 7 + TrimPolicy::kQuietMs);
  EXPECT_FALSE(p.on_timer(*p.deadline() - 1));  // not quiet yet
  EXPECT_TRUE(p.on_timer(*p.deadline()));
  EXPECT_FALSE(p.deadline().has_value());  // done: counts again from zero
  EXPECT_FALSE(p.on_timer(1'000'000));
}

TEST(TrimPolicy, AHandshakeDuringTheWaitPushesTheTrimBack) {
  TrimPolicy p;
  for (std::uint32_t i = 0; i < TrimPolicy::kMinHandshakes; ++i) p.on_handshake(1000);
  const std::int64_t first = *p.deadline();
  p.on_handshake(1500);
  EXPECT_FALSE(p.on_timer(first));  // the timer set for the first deadline is early now
  EXPECT_EQ(*p.deadline(), 1500 + TrimPolicy::kQuietMs);
  EXPECT_TRUE(p.on_timer(1500 + TrimPolicy::kQuietMs));
}

}  // namespace
}  // namespace ps
