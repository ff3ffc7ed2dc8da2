#include "cluster_slot.h"

#include <string>

#include <gtest/gtest.h>

namespace ps {
namespace {

using namespace std::string_view_literals;

TEST(ClusterSlot, Crc16SpecVector) {
  // The Redis Cluster specification: CRC16 of "123456789" is 0x31C3.
  EXPECT_EQ(crc16_xmodem("123456789"), 0x31C3);
  EXPECT_EQ(crc16_xmodem(""), 0);
  // Single bytes are the table: 'A' (0x41) -> 0x58E5 (XMODEM).
  EXPECT_EQ(crc16_xmodem("A"), 0x58E5);
}

TEST(ClusterSlot, KnownSlots) {
  // Values from a real redis-server 7.0 (CLUSTER KEYSLOT).
  EXPECT_EQ(cluster_key_slot("foo"), 12182);
  EXPECT_EQ(cluster_key_slot("bar"), 5061);
  EXPECT_EQ(cluster_key_slot("hello"), 866);
  EXPECT_EQ(cluster_key_slot("123456789"), 12739);  // 0x31C3 mod 16384
  EXPECT_EQ(cluster_key_slot(""), 0);
  EXPECT_EQ(cluster_key_slot("portfolio:user:u1"), 15525);
  EXPECT_EQ(cluster_key_slot("abc\0def"sv), 5945);
  EXPECT_EQ(cluster_key_slot("\xff\xfe{\x80}"sv), 4488);
}

TEST(ClusterSlot, HashTags) {
  EXPECT_EQ(cluster_key_slot("{user1000}.following"), 3443);
  EXPECT_EQ(cluster_key_slot("{user1000}.followers"), 3443);
  EXPECT_EQ(cluster_hash_tag("{user1000}.following"), "user1000");
  // an empty tag: the whole key is hashed
  EXPECT_EQ(cluster_hash_tag("foo{}{bar}"), "foo{}{bar}");
  EXPECT_EQ(cluster_key_slot("foo{}{bar}"), 8363);
  // the first '{' and the first '}' after it
  EXPECT_EQ(cluster_hash_tag("foo{{bar}}zap"), "{bar");
  EXPECT_EQ(cluster_key_slot("foo{{bar}}zap"), cluster_key_slot("{bar"));
  EXPECT_EQ(cluster_key_slot("foo{{bar}}zap"), 4015);
  EXPECT_EQ(cluster_hash_tag("foo{bar}{zap}"), "bar");
  EXPECT_EQ(cluster_key_slot("foo{bar}{zap}"), cluster_key_slot("bar"));
  // no '}' after the '{', or a '}' only before it
  EXPECT_EQ(cluster_hash_tag("foo{bar"), "foo{bar");
  EXPECT_EQ(cluster_hash_tag("}{x}"), "x");
  EXPECT_EQ(cluster_hash_tag("a}b"), "a}b");
  EXPECT_EQ(cluster_hash_tag("{"), "{");
  EXPECT_EQ(cluster_hash_tag("{}"), "{}");
  EXPECT_EQ(cluster_hash_tag("{a}"), "a");
  EXPECT_TRUE(has_cluster_hash_tag("{a}"));
  EXPECT_TRUE(has_cluster_hash_tag("x{a}"));
  EXPECT_FALSE(has_cluster_hash_tag("{}"));
  EXPECT_FALSE(has_cluster_hash_tag("foo{}{bar}"));
  EXPECT_FALSE(has_cluster_hash_tag("plain"));
  EXPECT_FALSE(has_cluster_hash_tag(""));
  // a key that is exactly its tag plus braces hashes like the bare tag
  EXPECT_EQ(cluster_key_slot("{x}"), cluster_key_slot("x"));
}

TEST(ClusterSlot, AlwaysBelow16384) {
  std::string k;
  for (int i = 0; i < 20000; ++i) {
    k = "k" + std::to_string(i);
    EXPECT_LT(cluster_key_slot(k), kClusterSlots);
  }
}

TEST(ClusterSlot, SlotsSpreadOverTheRange) {
  // 16384 * 4 keys cover most slots (a sanity check of the table, not a spec;
  // a real redis-server covers 15616 with these keys).
  std::vector<bool> hit(kClusterSlots);
  int distinct = 0;
  for (int i = 0; i < 16384 * 4; ++i) {
    const auto s = cluster_key_slot("portfolio:user:" + std::to_string(i));
    if (!hit[s]) ++distinct, hit[s] = true;
  }
  EXPECT_EQ(distinct, 15616);
}

// Every form of channel the history library handles: its two keys hash to
// the channel's own slot, so FCALL with the channel as the key runs on the
// node that owns both keys and the shard channel.
TEST(ClusterSlot, HistoryKeysShareTheChannelSlot) {
  const std::string_view channels[] = {
      "portfolio:user:u1",
      "portfolio:user:",
      "portfolio:{u1}:orders",
      "{x}",
      "x",
      "a{b",
      "}{x}",
      "{",
      "{{x}}",
      "{a}{b}",
      "portfolio:user:caf\xc3\xa9",
      "portfolio:user:\xff{\x01}",
      "abc\0def"sv,
  };
  for (const bool cluster : {false, true}) {
    for (const std::string_view ch : channels) {
      const auto keys = history_keys_for_channel(ch, cluster);
      ASSERT_TRUE(keys) << ch;
      EXPECT_EQ(cluster_key_slot(keys->first), cluster_key_slot(ch)) << ch;
      EXPECT_EQ(cluster_key_slot(keys->second), cluster_key_slot(ch)) << ch;
      EXPECT_NE(keys->first, keys->second);
    }
  }
  // the two forms, as docs/history.md lists them
  auto k = history_keys_for_channel("portfolio:user:u1", true);
  EXPECT_EQ(k->first, "{portfolio:user:u1}:history");
  EXPECT_EQ(k->second, "{portfolio:user:u1}:epoch");
  k = history_keys_for_channel("portfolio:{u1}:orders", true);
  EXPECT_EQ(k->first, "ps:portfolio:{u1}:orders:history");
  EXPECT_EQ(k->second, "ps:portfolio:{u1}:orders:epoch");
  // "x" and "{x}" share a slot but not a history
  EXPECT_NE(history_keys_for_channel("x", true)->first, history_keys_for_channel("{x}", true)->first);
}

TEST(ClusterSlot, ChannelWithBraceButNoTag) {
  // The library refuses these in cluster mode (their {..} wrapping would
  // hash a different tag); outside a cluster they are fine.
  for (const std::string_view ch : {"we}ird"sv, "x{}y}"sv, "a{}b{c}"sv, "}"sv, "{}"sv, "a{}b"sv, ""sv}) {
    EXPECT_FALSE(history_keys_for_channel(ch, true)) << ch;
    const auto k = history_keys_for_channel(ch, false);
    ASSERT_TRUE(k) << ch;
    EXPECT_EQ(k->first, "{" + std::string(ch) + "}:history");
    // ...and indeed the wrapped key would not share the channel's slot
    EXPECT_NE(cluster_key_slot(k->first), cluster_key_slot(ch)) << ch;
  }
}

}  // namespace
}  // namespace ps
