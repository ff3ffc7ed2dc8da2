#include "channels.h"

#include <gtest/gtest.h>

namespace ps {
namespace {

TEST(Channels, NamesRoundTrip) {
  EXPECT_EQ(channel_name(Channel::positions), "positions");
  EXPECT_EQ(channel_name(Channel::orders), "orders");
  EXPECT_EQ(channel_name(Channel::account), "account");
  EXPECT_EQ(channel_name(Channel::trades), "trades");
  for (const Channel c : {Channel::positions, Channel::orders, Channel::account, Channel::trades}) {
    const auto back = channel_from_name(channel_name(c));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, c);
  }
}

TEST(Channels, BitsAndMask) {
  EXPECT_EQ(channel_bit(Channel::positions), 0x1);
  EXPECT_EQ(channel_bit(Channel::orders), 0x2);
  EXPECT_EQ(channel_bit(Channel::account), 0x4);
  EXPECT_EQ(channel_bit(Channel::trades), 0x8);
  EXPECT_EQ(channel_bit(Channel::positions) | channel_bit(Channel::orders) | channel_bit(Channel::account) |
                channel_bit(Channel::trades),
            kAllChannels);
}

TEST(Channels, UnknownNamesRejected) {
  for (const char* name :
       {"", "Positions", "POSITIONS", "position", "positions ", " orders", "trade", "accounts", "all", "*"}) {
    EXPECT_FALSE(channel_from_name(name).has_value()) << name;
  }
  EXPECT_FALSE(channel_from_name(std::string_view("orders\0", 7)).has_value());
}

TEST(Channels, OutOfRangeEnumHasNoName) { EXPECT_EQ(channel_name(static_cast<Channel>(7)), ""); }

}  // namespace
}  // namespace ps
