#include "fleet.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

#include "cluster_slot.h"

namespace ps {
namespace {

TEST(Fleet, BucketTagsSpreadOverTheSlotRanges) {
  std::set<std::string> tags;
  for (unsigned b = 0; b < kFleetBuckets; ++b) {
    const std::string tag = fleet_bucket_tag(b);
    ASSERT_GE(tag.size(), 3u);
    EXPECT_EQ(tag.front(), '{');
    EXPECT_EQ(tag.back(), '}');
    const std::string inner = tag.substr(1, tag.size() - 2);
    const std::uint16_t slot = cluster_key_slot(inner);
    EXPECT_GE(slot, b * 256) << tag;
    EXPECT_LT(slot, (b + 1) * 256) << tag;
    // the smallest such k
    const std::string prefix = "psf:" + std::to_string(b) + ":";
    ASSERT_EQ(inner.substr(0, prefix.size()), prefix);
    const int k = std::stoi(inner.substr(prefix.size()));
    for (int j = 0; j < k; ++j) {
      const std::uint16_t s = cluster_key_slot(prefix + std::to_string(j));
      EXPECT_FALSE(s >= b * 256 && s < (b + 1) * 256) << prefix << j;
    }
    tags.insert(tag);
  }
  EXPECT_EQ(tags.size(), kFleetBuckets);
  EXPECT_EQ(fleet_bucket_tag(0), "{psf:0:73}");
  EXPECT_EQ(fleet_bucket_tag(63), "{psf:63:0}");
  EXPECT_EQ(fleet_bucket_tag(64), "");
  EXPECT_EQ(fleet_edges_key(64), "");
}

TEST(Fleet, KeysOfAUserShareTheBucketSlot) {
  for (const std::string_view user :
       {"u123", "42", "", "{evil}", "a}b{c", "caf\xc3\xa9", "passport:user:7"}) {
    const FleetKeys k = fleet_keys(user);
    EXPECT_EQ(k.bucket, fleet_bucket(user));
    EXPECT_LT(k.bucket, kFleetBuckets);
    EXPECT_EQ(k.edges, fleet_edges_key(k.bucket));
    EXPECT_EQ(k.user, fleet_bucket_tag(k.bucket) + ":u:" + std::string(user));
    EXPECT_EQ(cluster_key_slot(k.user), cluster_key_slot(k.edges)) << user;
    EXPECT_EQ(cluster_key_slot(k.user) / 256, k.bucket) << user;
    // the index key the library derives ({T}:e:<edge>) too
    EXPECT_EQ(cluster_key_slot(fleet_bucket_tag(k.bucket) + ":e:0123abcd"), cluster_key_slot(k.edges));
  }
  // pinned: every edge of a fleet must make the same names
  EXPECT_EQ(fleet_bucket("u123"), 34u);
  EXPECT_EQ(fleet_keys("u123").user, "{psf:34:50}:u:u123");
  EXPECT_EQ(fleet_keys("u123").edges, "{psf:34:50}:edges");
}

TEST(Fleet, UsersSpreadOverBuckets) {
  unsigned count[kFleetBuckets] = {};
  for (int i = 0; i < 64000; ++i) ++count[fleet_bucket("u" + std::to_string(i))];
  for (unsigned b = 0; b < kFleetBuckets; ++b) {
    EXPECT_GT(count[b], 500u) << b;
    EXPECT_LT(count[b], 1500u) << b;
  }
}

TEST(Fleet, Ids) {
  EXPECT_EQ(fleet_edge_id(0, 0), "00000000000000000000000000000000");
  EXPECT_EQ(fleet_edge_id(0x0123456789abcdefULL, 0xfedcba9876543210ULL), "0123456789abcdeffedcba9876543210");
  EXPECT_EQ(fleet_conn_id(0), "0");
  EXPECT_EQ(fleet_conn_id(31), "1f");
  EXPECT_EQ(fleet_conn_id(UINT64_MAX), "ffffffffffffffff");
  EXPECT_TRUE(valid_fleet_id(fleet_edge_id(1, 2)));
  EXPECT_TRUE(valid_fleet_id(fleet_conn_id(12345)));
  EXPECT_TRUE(valid_fleet_id("edge-A.1:x_y"));
  EXPECT_TRUE(valid_fleet_id(std::string(64, 'a')));
  EXPECT_FALSE(valid_fleet_id(std::string(65, 'a')));
  for (const std::string_view bad : {"", "a/b", "a b", "a{b", "a}b", "\xc3\xa9", "a\nb"}) {
    EXPECT_FALSE(valid_fleet_id(bad)) << bad;
  }
}

TEST(FleetLeaseBook, RenewsEachHeldBucketEveryThirdOfTheLease) {
  FleetLeaseBook book(30000);
  EXPECT_EQ(book.renew_interval_ms(), 10000u);
  EXPECT_EQ(book.next_due(0), UINT64_MAX);
  EXPECT_TRUE(book.take_due(1000000).empty());  // nothing held: nothing to renew
  book.acquired(3, 1000);
  book.acquired(3, 1500);
  book.acquired(7, 2000);
  EXPECT_EQ(book.held(3), 2u);
  EXPECT_EQ(book.total_held(), 3u);
  EXPECT_EQ(book.next_due(5000), 11500u);  // bucket 3: the last acquire renewed it at 1500
  EXPECT_TRUE(book.take_due(11499).empty());
  EXPECT_EQ(book.take_due(11500), std::vector<unsigned>{3});
  EXPECT_TRUE(book.take_due(11600).empty());  // in flight
  EXPECT_EQ(book.next_due(11600), 12000u);    // bucket 7
  EXPECT_FALSE(book.renewed(3, 11500, 2));
  EXPECT_EQ(book.take_due(12000), std::vector<unsigned>{7});
  EXPECT_FALSE(book.renewed(7, 12000, 1));
  EXPECT_EQ(book.next_due(12000), 21500u);
  // 10,000 connections in all 64 buckets: 64 renewals per interval, not 10,000
  FleetLeaseBook big(30000);
  for (int i = 0; i < 10000; ++i) big.acquired(fleet_bucket("u" + std::to_string(i)), 0);
  std::size_t calls = 0;
  for (std::uint64_t t = 0; t <= 60000; t += 1000) {
    for (const unsigned b : big.take_due(t)) {
      ++calls;
      EXPECT_FALSE(big.renewed(b, t, big.held(b)));
    }
  }
  EXPECT_EQ(calls, 6u * kFleetBuckets);  // at 10, 20, 30, 40, 50, 60 s
}

TEST(FleetLeaseBook, MismatchAsksForASyncAndStaysInFlight) {
  FleetLeaseBook book(30000);
  book.acquired(1, 0);
  book.acquired(1, 0);
  ASSERT_EQ(book.take_due(10000), std::vector<unsigned>{1});
  EXPECT_TRUE(book.renewed(1, 10000, 0));  // Redis lost both: sync
  EXPECT_TRUE(book.take_due(20000).empty());
  EXPECT_EQ(book.next_due(20000), UINT64_MAX);
  EXPECT_FALSE(book.renewed(1, 10001, 2));  // the sync's reply
  EXPECT_EQ(book.next_due(10001), 20001u);
  ASSERT_EQ(book.take_due(20001), std::vector<unsigned>{1});
  EXPECT_TRUE(book.renewed(1, 20001, 3));  // a stale extra one: sync too
  EXPECT_TRUE(book.renewed(1, 20002, -1));
}

TEST(FleetLeaseBook, FailuresRetryAfterAPauseAndLapse) {
  FleetLeaseBook book(30000, 1000);
  book.acquired(5, 0);
  ASSERT_EQ(book.take_due(10000), std::vector<unsigned>{5});
  book.renew_failed(5, 10000);
  EXPECT_TRUE(book.take_due(10999).empty());
  EXPECT_EQ(book.next_due(10500), 11000u);
  ASSERT_EQ(book.take_due(11000), std::vector<unsigned>{5});
  book.renew_failed(5, 11000);
  EXPECT_FALSE(book.lapsed(5, 29999));
  EXPECT_TRUE(book.lapsed(5, 30000));
  ASSERT_EQ(book.take_due(31000), std::vector<unsigned>{5});
  EXPECT_TRUE(book.renewed(5, 31000, 0));  // it lapsed and another edge swept it
  EXPECT_FALSE(book.renewed(5, 31001, 1));
  EXPECT_FALSE(book.lapsed(5, 31001));
}

TEST(FleetLeaseBook, ReleaseToZeroStopsRenewals) {
  FleetLeaseBook book(3000);
  EXPECT_EQ(book.renew_interval_ms(), 1000u);
  book.acquired(0, 0);
  book.released(0);
  book.released(0);  // never below zero
  EXPECT_EQ(book.held(0), 0u);
  EXPECT_TRUE(book.take_due(5000).empty());
  EXPECT_FALSE(book.lapsed(0, 100000));
  // out-of-range buckets are ignored
  book.acquired(64, 0);
  book.released(999);
  EXPECT_EQ(book.total_held(), 0u);
  EXPECT_EQ(book.held(64), 0u);
  EXPECT_FALSE(book.renewed(64, 0, 0));
  // tiny leases still renew
  FleetLeaseBook tiny(1);
  EXPECT_EQ(tiny.renew_interval_ms(), 1u);
}

}  // namespace
}  // namespace ps
