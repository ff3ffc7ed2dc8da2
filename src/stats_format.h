// Number crunching for the stats endpoint (SPEC section 5), free of nginx:
// the latency histogram's bucket scheme and percentiles, the packed
// per-second disconnect ring, and the exact text of the derived fields
// (batchEfficiency "95.2%", disconnectRatePerMinute "0.50", one-decimal
// latencies), and the lines of the Prometheus text format. The shared-memory
// zone stores raw counts; everything here is a pure function of them (time
// is an argument, never read from a clock). stats_render.h puts the pieces
// together into the two bodies of the endpoint.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ps::stats {

// ---- latency histogram ------------------------------------------------------
// Log-linear buckets over whole milliseconds: 0..15 ms one bucket each, then
// 8 buckets per power of two (relative width 1/8, so a bucket's midpoint is
// within 6.25% of any value in it). Values above kLatencyCapMs (about 35
// minutes) land in the last bucket.
inline constexpr unsigned kLatencySubBits = 3;
inline constexpr std::uint64_t kLatencySub = 1u << kLatencySubBits;  // 8
inline constexpr unsigned kLatencyMaxExp = 20;                       // 2^21 - 1 ms cap
inline constexpr std::uint64_t kLatencyCapMs = (std::uint64_t{1} << (kLatencyMaxExp + 1)) - 1;
inline constexpr std::size_t kLatencyBuckets =
    kLatencySub + (kLatencyMaxExp - kLatencySubBits + 1) * kLatencySub;

// The bucket of a latency; negative ages (publisher clock ahead) count as 0.
std::size_t latency_bucket(std::int64_t ms) noexcept;
// Smallest and largest millisecond value of bucket b (inclusive).
std::uint64_t latency_bucket_lower(std::size_t b) noexcept;
std::uint64_t latency_bucket_upper(std::size_t b) noexcept;

// The q-quantile (0 < q <= 1) of a histogram of kLatencyBuckets counts: the
// midpoint of the bucket holding the ceil(q * total)-th smallest sample,
// never above `max_ms` (the exact maximum, kept aside). 0 without samples.
double latency_percentile(const std::uint64_t* counts, double q, std::uint64_t max_ms) noexcept;

// ---- per-second ring (disconnects in the last minute) ------------------------
// A ring entry packs the second it counts (high 40 bits) and its count (low
// 24 bits, saturating), so that one compare-and-swap both moves an entry to
// a new second and counts in it.
inline constexpr unsigned kRingCountBits = 24;
inline constexpr std::uint64_t kRingCountMax = (std::uint64_t{1} << kRingCountBits) - 1;

// The entry after n more events at `sec` given the entry's current value.
// An entry of an older second starts over at `sec`; one of a newer second
// (another worker's clock a tick ahead) just counts the event.
std::uint64_t ring_bump(std::uint64_t entry, std::uint64_t sec, std::uint64_t n = 1) noexcept;
// Events counted in the `window` seconds ending with `now` (now - window, now].
std::uint64_t ring_sum(const std::uint64_t* ring, std::size_t n, std::uint64_t now,
                       std::uint64_t window) noexcept;

// ---- derived fields, as their exact JSON text ------------------------------
// 1 - frames / deliveries with one decimal and a percent sign: "95.2%".
// "0.0%" when nothing was delivered (no batching happened) and when frames
// >= deliveries; rounded half up.
std::string batch_efficiency(std::uint64_t event_frames, std::uint64_t deliveries);
// Same value as a 0..1 ratio for Prometheus.
double batch_efficiency_ratio(std::uint64_t event_frames, std::uint64_t deliveries) noexcept;
// A non-negative number with exactly `decimals` decimals ("0.50", "12.0").
std::string fixed(double v, int decimals);
// total_ms / count in whole seconds, rounded half up; 0 without connections.
std::uint64_t average_seconds(std::uint64_t total_ms, std::uint64_t count) noexcept;

// ---- Prometheus text exposition 0.0.4 ---------------------------------------
// "# HELP name help\n# TYPE name type\n" (help escaped: \\ and \n).
void prom_family(std::string& out, std::string_view name, std::string_view type, std::string_view help);
// "name{labels} value\n"; labels is the inside of the braces, or empty.
void prom_sample(std::string& out, std::string_view name, std::string_view labels, std::uint64_t value);
void prom_sample(std::string& out, std::string_view name, std::string_view labels, double value);

}  // namespace ps::stats
