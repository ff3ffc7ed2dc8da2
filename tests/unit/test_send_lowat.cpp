#include "send_lowat.h"

#include <gtest/gtest.h>

namespace {

using ps::SendLowat;

TEST(SendLowat, OffAndSizesFromOneKiB) {
  EXPECT_EQ(ps::check_send_lowat(0), nullptr);  // off: the kernel's default
  EXPECT_EQ(ps::check_send_lowat(1024), nullptr);
  EXPECT_EQ(ps::check_send_lowat(SendLowat::kDefault), nullptr);
  EXPECT_EQ(ps::check_send_lowat(SendLowat::kMax), nullptr);
}

TEST(SendLowat, RejectsTinyAndHugeMarks) {
  EXPECT_STREQ(ps::check_send_lowat(1), "must be off, 0 or at least 1k");
  EXPECT_STREQ(ps::check_send_lowat(1023), "must be off, 0 or at least 1k");
  EXPECT_STREQ(ps::check_send_lowat(SendLowat::kMax + 1), "must be at most 1024m");
}

TEST(SendLowat, DefaultIsASmallMultipleOfAFrame) {
  // Far below the autotuned send buffer (MiBs) it replaces, above one
  // typical batch frame.
  EXPECT_GE(SendLowat::kDefault, 16u * 1024);
  EXPECT_LE(SendLowat::kDefault, 64u * 1024);
}

TEST(SendLowat, SocketOption) {
  EXPECT_EQ(ps::send_lowat_option(0), 0);  // nothing to set
  EXPECT_EQ(ps::send_lowat_option(32 * 1024), 32 * 1024);
  EXPECT_EQ(ps::send_lowat_option(SendLowat::kMax), int(SendLowat::kMax));
  // Values the directive refuses are never set.
  EXPECT_EQ(ps::send_lowat_option(512), 0);
  EXPECT_EQ(ps::send_lowat_option(SendLowat::kMax + 1), 0);
}

}  // namespace
