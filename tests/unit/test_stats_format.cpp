#include "stats_format.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ps::stats {
namespace {

TEST(LatencyBuckets, SmallValuesAreExact) {
  for (std::int64_t v = 0; v < 16; v++) {
    std::size_t b = latency_bucket(v);
    EXPECT_EQ(latency_bucket_lower(b), std::uint64_t(v));
    EXPECT_EQ(latency_bucket_upper(b), std::uint64_t(v));
  }
}

TEST(LatencyBuckets, NegativeCountsAsZero) {
  EXPECT_EQ(latency_bucket(-5), 0u);
  EXPECT_EQ(latency_bucket(INT64_MIN), 0u);
}

TEST(LatencyBuckets, EveryValueLiesInItsBucketAndBucketsTile) {
  // contiguous, increasing, no gaps
  for (std::size_t b = 0; b + 1 < kLatencyBuckets; b++) {
    EXPECT_EQ(latency_bucket_upper(b) + 1, latency_bucket_lower(b + 1)) << b;
  }
  EXPECT_EQ(latency_bucket_upper(kLatencyBuckets - 1), kLatencyCapMs);
  for (std::uint64_t v = 0; v < 70000; v += (v < 2000 ? 1 : 97)) {
    std::size_t b = latency_bucket(std::int64_t(v));
    ASSERT_LT(b, kLatencyBuckets);
    EXPECT_LE(latency_bucket_lower(b), v);
    EXPECT_GE(latency_bucket_upper(b), v);
    // relative width at most 1/8
    EXPECT_LE(latency_bucket_upper(b) - latency_bucket_lower(b), v / 8 + 1) << v;
  }
}

TEST(LatencyBuckets, HugeValuesClampToTheLastBucket) {
  EXPECT_EQ(latency_bucket(std::int64_t(kLatencyCapMs)), kLatencyBuckets - 1);
  EXPECT_EQ(latency_bucket(std::int64_t(kLatencyCapMs) + 1), kLatencyBuckets - 1);
  EXPECT_EQ(latency_bucket(INT64_MAX), kLatencyBuckets - 1);
}

TEST(LatencyPercentile, EmptyIsZero) {
  std::vector<std::uint64_t> h(kLatencyBuckets, 0);
  EXPECT_EQ(latency_percentile(h.data(), 0.5, 0), 0.0);
  EXPECT_EQ(latency_percentile(h.data(), 0.99, 0), 0.0);
}

TEST(LatencyPercentile, ExactForSmallValues) {
  std::vector<std::uint64_t> h(kLatencyBuckets, 0);
  for (int v = 1; v <= 10; v++) {
    h[latency_bucket(v)] += 10;  // 100 samples: 1..10 ten times each
  }
  EXPECT_EQ(latency_percentile(h.data(), 0.5, 10), 5.0);
  EXPECT_EQ(latency_percentile(h.data(), 0.99, 10), 10.0);
  EXPECT_EQ(latency_percentile(h.data(), 1.0, 10), 10.0);
  EXPECT_EQ(latency_percentile(h.data(), 0.01, 10), 1.0);
}

TEST(LatencyPercentile, P99OfMostlyFastWithASlowTail) {
  std::vector<std::uint64_t> h(kLatencyBuckets, 0);
  h[latency_bucket(3)] += 985;
  h[latency_bucket(800)] += 15;  // 1.5% slow
  double p50 = latency_percentile(h.data(), 0.5, 812);
  double p99 = latency_percentile(h.data(), 0.99, 812);
  EXPECT_EQ(p50, 3.0);
  EXPECT_GE(p99, 800 * 0.9375);
  EXPECT_LE(p99, 800 * 1.0625);
}

TEST(LatencyPercentile, NeverAboveTheExactMax) {
  std::vector<std::uint64_t> h(kLatencyBuckets, 0);
  h[latency_bucket(960)] = 1;  // bucket 960..1023, midpoint 991.5
  EXPECT_EQ(latency_bucket_lower(latency_bucket(960)), 960u);
  EXPECT_EQ(latency_percentile(h.data(), 0.99, 960), 960.0);
}

TEST(Ring, BumpStartsOverOnANewSecondAndCounts) {
  std::uint64_t e = 0;
  e = ring_bump(e, 100);
  e = ring_bump(e, 100);
  e = ring_bump(e, 100);
  EXPECT_EQ(e >> kRingCountBits, 100u);
  EXPECT_EQ(e & kRingCountMax, 3u);
  e = ring_bump(e, 160);  // the same slot a minute later
  EXPECT_EQ(e >> kRingCountBits, 160u);
  EXPECT_EQ(e & kRingCountMax, 1u);
}

TEST(Ring, AnOlderSecondDoesNotEraseANewerEntry) {
  std::uint64_t e = ring_bump(ring_bump(0, 200), 200);
  e = ring_bump(e, 199);  // another worker's clock a tick behind
  EXPECT_EQ(e >> kRingCountBits, 200u);
  EXPECT_EQ(e & kRingCountMax, 3u);
}

TEST(Ring, Saturates) {
  std::uint64_t e = (std::uint64_t{5} << kRingCountBits) | kRingCountMax;
  EXPECT_EQ(ring_bump(e, 5), e);
  EXPECT_EQ(ring_bump(e, 5, 1000), e);
  EXPECT_EQ(ring_bump(0, 5, kRingCountMax + 7), e);
}

TEST(Ring, BumpByN) {
  std::uint64_t e = ring_bump(0, 300, 40);
  e = ring_bump(e, 300, 2);
  EXPECT_EQ(e >> kRingCountBits, 300u);
  EXPECT_EQ(e & kRingCountMax, 42u);
  e = ring_bump(e, 360, 5);
  EXPECT_EQ(e & kRingCountMax, 5u);
}

TEST(Ring, SumCountsTheLastWindowOnly) {
  std::uint64_t ring[60] = {};
  auto put = [&](std::uint64_t sec, std::uint64_t n) {
    for (std::uint64_t i = 0; i < n; i++) {
      ring[sec % 60] = ring_bump(ring[sec % 60], sec);
    }
  };
  put(1000, 2);
  put(1030, 3);
  put(1059, 4);
  EXPECT_EQ(ring_sum(ring, 60, 1059, 60), 9u);
  EXPECT_EQ(ring_sum(ring, 60, 1060, 60), 7u);  // 1000 is 60 s old: out
  EXPECT_EQ(ring_sum(ring, 60, 1089, 60), 7u);
  EXPECT_EQ(ring_sum(ring, 60, 1090, 60), 4u);
  EXPECT_EQ(ring_sum(ring, 60, 1119, 60), 0u);
  EXPECT_EQ(ring_sum(ring, 60, 999, 60), 0u);  // entries from the future do not count
  put(1060, 1);                                // overwrites second 1000's entry
  EXPECT_EQ(ring_sum(ring, 60, 1060, 60), 8u);
}

TEST(Derived, BatchEfficiency) {
  EXPECT_EQ(batch_efficiency(0, 0), "0.0%");
  EXPECT_EQ(batch_efficiency(10, 10), "0.0%");
  EXPECT_EQ(batch_efficiency(11, 10), "0.0%");
  EXPECT_EQ(batch_efficiency(0, 10), "100.0%");
  EXPECT_EQ(batch_efficiency(48, 1000), "95.2%");
  EXPECT_EQ(batch_efficiency(1, 3), "66.7%");
  EXPECT_EQ(batch_efficiency(2, 3), "33.3%");
  EXPECT_EQ(batch_efficiency(1, 2000), "100.0%");  // 99.95 rounds half up
  EXPECT_EQ(batch_efficiency(3, 2000), "99.9%");
  EXPECT_EQ(batch_efficiency(UINT64_MAX / 2, UINT64_MAX), "50.0%");
  EXPECT_DOUBLE_EQ(batch_efficiency_ratio(48, 1000), 0.952);
  EXPECT_EQ(batch_efficiency_ratio(0, 0), 0.0);
}

TEST(Derived, Fixed) {
  EXPECT_EQ(fixed(0.5, 2), "0.50");
  EXPECT_EQ(fixed(3, 2), "3.00");
  EXPECT_EQ(fixed(12.25, 1), "12.2");  // printf rounding of binary 12.25: to even
  EXPECT_EQ(fixed(0, 1), "0.0");
  EXPECT_EQ(fixed(-1, 1), "0.0");
  EXPECT_EQ(fixed(0.0 / 0.0, 1), "0.0");
}

TEST(Derived, AverageSeconds) {
  EXPECT_EQ(average_seconds(0, 0), 0u);
  EXPECT_EQ(average_seconds(1499, 1), 1u);
  EXPECT_EQ(average_seconds(1500, 1), 2u);
  EXPECT_EQ(average_seconds(3000, 2), 2u);
  EXPECT_EQ(average_seconds(1847000ULL * 1000, 1000), 1847u);
  EXPECT_EQ(average_seconds(UINT64_MAX, 1), UINT64_MAX / 1000 + 1);
}

TEST(Prometheus, FamilyAndSamples) {
  std::string out;
  prom_family(out, "x_total", "counter", "a \\ b\nc");
  prom_sample(out, "x_total", "", std::uint64_t{42});
  prom_sample(out, "y", "quantile=\"0.5\"", 1.5);
  prom_sample(out, "z", "", 0.0 / 0.0);
  EXPECT_EQ(out,
            "# HELP x_total a \\\\ b\\nc\n"
            "# TYPE x_total counter\n"
            "x_total 42\n"
            "y{quantile=\"0.5\"} 1.5\n"
            "z NaN\n");
}

}  // namespace
}  // namespace ps::stats
