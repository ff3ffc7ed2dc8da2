#include "namespaces.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ps {
namespace {

using Kind = NamespaceConflict::Kind;

std::optional<NamespaceConflict> check(const std::vector<NamespaceEntry>& v) {
  return find_namespace_conflict(v.data(), v.size());
}

TEST(Namespaces, NoEntriesNoConflict) {
  EXPECT_FALSE(find_namespace_conflict(nullptr, 0));
  EXPECT_FALSE(check({{"portfolio:user:", "", "a"}}));
}

TEST(Namespaces, DisjointAndIdenticalPrefixesAreFine) {
  EXPECT_FALSE(check({{"portfolio:user:", "portfolio:broadcast", "a"},
                      {"portfolio:user:", "portfolio:broadcast", "b"},
                      {"acct:", "", "c"},
                      {"t:u:", "", "d"},
                      {"t:v:", "t:all", "e"},
                      {"portfolio:user:", "", "f"}}));
  // A broadcast that is a prefix of user channels is not one of them: only
  // equality of full names shares a subscription.
  EXPECT_FALSE(check({{"portfolio:user:", "portfolio:", "a"}}));
  EXPECT_FALSE(check({{"portfolio:user:", "portfolio:user", "a"}}));  // no trailing ':'
  // Two broadcasts may be the same channel, or overlap: neither is a user's.
  EXPECT_FALSE(check({{"a:", "all", "x"}, {"b:", "all", "y"}, {"c:", "allx", "z"}}));
}

TEST(Namespaces, OverlappingPrefixes) {
  auto c = check({{"t:u:", "", "a"}, {"t:u:1", "", "b"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, Kind::prefixes_overlap);
  EXPECT_EQ(c->first, 0u);  // the shorter
  EXPECT_EQ(c->second, 1u);
  // Either order: the shorter one is always `first`.
  c = check({{"t:u:1", "", "a"}, {"t:u:", "", "b"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, Kind::prefixes_overlap);
  EXPECT_EQ(c->first, 1u);
  EXPECT_EQ(c->second, 0u);
  // Case matters to Redis: these do not overlap.
  EXPECT_FALSE(check({{"T:u:", "", "a"}, {"t:u:1", "", "b"}}));
}

TEST(Namespaces, EmptyPrefixOverlapsEveryOther) {
  // channel = user id: every other namespace is inside it.
  EXPECT_FALSE(check({{"", "", "a"}}));
  EXPECT_FALSE(check({{"", "", "a"}, {"", "", "b"}}));
  auto c = check({{"portfolio:user:", "", "a"}, {"", "", "b"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, Kind::prefixes_overlap);
  EXPECT_EQ(c->first, 1u);
  // ...and every broadcast channel is some user's.
  c = check({{"", "broadcast", "a"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, Kind::broadcast_in_namespace);
}

TEST(Namespaces, BroadcastInsideOwnNamespace) {
  auto c = check({{"portfolio:user:", "portfolio:user:all", "a"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, Kind::broadcast_in_namespace);
  EXPECT_EQ(c->first, 0u);
  EXPECT_EQ(c->second, 0u);
  // Equal to the prefix: the channel of an empty user id; refused too.
  c = check({{"portfolio:user:", "portfolio:user:", "a"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, Kind::broadcast_in_namespace);
}

TEST(Namespaces, BroadcastInsideAnotherLocationsNamespace) {
  // The broadcast's location comes first...
  auto c = check({{"a:", "b:all", "x"}, {"b:", "", "y"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, Kind::broadcast_in_namespace);
  EXPECT_EQ(c->first, 0u);
  EXPECT_EQ(c->second, 1u);
  // ...or second.
  c = check({{"b:", "", "y"}, {"a:", "b:all", "x"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, Kind::broadcast_in_namespace);
  EXPECT_EQ(c->first, 1u);
  EXPECT_EQ(c->second, 0u);
}

TEST(Namespaces, FirstConflictInEntryOrder) {
  // Entry 1 conflicts with entry 0 (prefixes); entry 2 with entry 0 (broadcast).
  auto c = check({{"p:", "", "x"}, {"p:1", "", "y"}, {"q:", "p:all", "z"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, Kind::prefixes_overlap);
  EXPECT_EQ(c->second, 1u);
  // Within one entry: its prefix before its broadcast.
  c = check({{"p:", "", "x"}, {"p:1", "p:all", "y"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, Kind::prefixes_overlap);
  // Many identical locations then one bad one.
  std::vector<NamespaceEntry> v(500, NamespaceEntry{"portfolio:user:", "portfolio:broadcast", "ok"});
  EXPECT_FALSE(check(v));
  v.push_back({"other:", "portfolio:user:all", "bad"});
  c = check(v);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, Kind::broadcast_in_namespace);
  EXPECT_EQ(c->first, 500u);
  EXPECT_EQ(c->second, 0u);
}

TEST(Namespaces, DescribeOverlap) {
  std::vector<NamespaceEntry> v{{"t:u:", "", "location \"/a\" at n.conf:3"},
                                {"t:u:1", "", "location \"/b\" at n.conf:9"}};
  auto c = check(v);
  ASSERT_TRUE(c);
  EXPECT_EQ(describe_conflict(*c, v.data()),
            "portfolio_stream_channel_prefix \"t:u:\" (location \"/a\" at n.conf:3) and \"t:u:1\" "
            "(location \"/b\" at n.conf:9) overlap: channel \"t:u:12\" would be user \"12\" of the first and "
            "user \"2\" of the second; give each location a prefix that does not start with the other's");
}

TEST(Namespaces, DescribeBroadcast) {
  std::vector<NamespaceEntry> v{{"portfolio:user:", "portfolio:user:all", "location \"/ws\" at n.conf:5"}};
  auto c = check(v);
  ASSERT_TRUE(c);
  EXPECT_EQ(
      describe_conflict(*c, v.data()),
      "portfolio_stream_broadcast_channel \"portfolio:user:all\" (location \"/ws\" at n.conf:5) starts "
      "with the portfolio_stream_channel_prefix \"portfolio:user:\" of the same location: it is also the "
      "channel of user \"all\", whose private events would go to every connection; use a broadcast "
      "channel outside every user namespace");
  v = {{"b:", "", "location \"/b\" at n.conf:2"}, {"a:", "b:", "location \"/a\" at n.conf:7"}};
  c = check(v);
  ASSERT_TRUE(c);
  EXPECT_EQ(describe_conflict(*c, v.data()),
            "portfolio_stream_broadcast_channel \"b:\" (location \"/a\" at n.conf:7) starts with the "
            "portfolio_stream_channel_prefix \"b:\" (location \"/b\" at n.conf:2): it is the channel of an "
            "empty user id; use a broadcast channel outside every user namespace");
}

}  // namespace
}  // namespace ps
