#include "stats_format.h"

#include <cmath>
#include <cstdio>

namespace ps::stats {

std::size_t latency_bucket(std::int64_t ms) noexcept {
  if (ms <= 0) {
    return 0;
  }
  std::uint64_t v = static_cast<std::uint64_t>(ms);
  if (v > kLatencyCapMs) {
    v = kLatencyCapMs;
  }
  if (v < kLatencySub) {
    return static_cast<std::size_t>(v);
  }
  unsigned e = 63u - static_cast<unsigned>(__builtin_clzll(v));  // >= kLatencySubBits
  std::uint64_t sub = (v >> (e - kLatencySubBits)) & (kLatencySub - 1);
  return static_cast<std::size_t>(kLatencySub + (e - kLatencySubBits) * kLatencySub + sub);
}

std::uint64_t latency_bucket_lower(std::size_t b) noexcept {
  if (b < kLatencySub) {
    return b;
  }
  std::uint64_t e = (b - kLatencySub) / kLatencySub + kLatencySubBits;
  std::uint64_t sub = (b - kLatencySub) % kLatencySub;
  return (kLatencySub + sub) << (e - kLatencySubBits);
}

std::uint64_t latency_bucket_upper(std::size_t b) noexcept {
  if (b < kLatencySub) {
    return b;
  }
  std::uint64_t e = (b - kLatencySub) / kLatencySub + kLatencySubBits;
  return latency_bucket_lower(b) + (std::uint64_t{1} << (e - kLatencySubBits)) - 1;
}

double latency_percentile(const std::uint64_t* counts, double q, std::uint64_t max_ms) noexcept {
  std::uint64_t total = 0;
  for (std::size_t b = 0; b < kLatencyBuckets; b++) {
    total += counts[b];
  }
  if (total == 0) {
    return 0.0;
  }
  if (q > 1.0) {
    q = 1.0;
  }
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
  if (rank < 1) {
    rank = 1;
  }
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < kLatencyBuckets; b++) {
    seen += counts[b];
    if (seen >= rank) {
      double mid =
          (static_cast<double>(latency_bucket_lower(b)) + static_cast<double>(latency_bucket_upper(b))) / 2;
      double max = static_cast<double>(max_ms);
      return mid < max ? mid : max;
    }
  }
  return static_cast<double>(max_ms);
}

std::uint64_t ring_bump(std::uint64_t entry, std::uint64_t sec, std::uint64_t n) noexcept {
  std::uint64_t count = 0;
  if ((entry >> kRingCountBits) < sec) {
    entry = sec << kRingCountBits;  // the entry counted an older second
  } else {
    // Same second, or an event from a worker whose cached time lags the
    // entry's: count it in the entry rather than lose the newer counts.
    count = entry & kRingCountMax;
  }
  count = n >= kRingCountMax - count ? kRingCountMax : count + n;  // saturating
  return (entry & ~kRingCountMax) | count;
}

std::uint64_t ring_sum(const std::uint64_t* ring, std::size_t n, std::uint64_t now,
                       std::uint64_t window) noexcept {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < n; i++) {
    std::uint64_t sec = ring[i] >> kRingCountBits;
    if (sec <= now && now - sec < window) {
      sum += ring[i] & kRingCountMax;
    }
  }
  return sum;
}

std::string batch_efficiency(std::uint64_t event_frames, std::uint64_t deliveries) {
  std::uint64_t tenths = 0;  // of a percent
  if (deliveries > 0 && event_frames < deliveries) {
    // round(1000 * saved / deliveries), in 128 bits: no overflow
    unsigned __int128 saved = deliveries - event_frames;
    unsigned __int128 d = deliveries;
    tenths = static_cast<std::uint64_t>((saved * 2000 + d) / (2 * d));
  }
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%llu.%llu%%", static_cast<unsigned long long>(tenths / 10),
                        static_cast<unsigned long long>(tenths % 10));
  return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
}

double batch_efficiency_ratio(std::uint64_t event_frames, std::uint64_t deliveries) noexcept {
  if (deliveries == 0 || event_frames >= deliveries) {
    return 0.0;
  }
  return static_cast<double>(deliveries - event_frames) / static_cast<double>(deliveries);
}

std::string fixed(double v, int decimals) {
  if (!(v >= 0) || std::isinf(v)) {
    v = 0;  // NaN, negative or infinite never reach the JSON
  }
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return std::string(buf, n > 0 && n < static_cast<int>(sizeof buf) ? static_cast<std::size_t>(n) : 0);
}

std::uint64_t average_seconds(std::uint64_t total_ms, std::uint64_t count) noexcept {
  if (count == 0) {
    return 0;
  }
  unsigned __int128 t = total_ms;
  unsigned __int128 d = static_cast<unsigned __int128>(count) * 1000;
  return static_cast<std::uint64_t>((t * 2 + d) / (2 * d));
}

void prom_family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

static void prom_name(std::string& out, std::string_view name, std::string_view labels) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
}

void prom_sample(std::string& out, std::string_view name, std::string_view labels, std::uint64_t value) {
  prom_name(out, name, labels);
  out += std::to_string(value);
  out += '\n';
}

void prom_sample(std::string& out, std::string_view name, std::string_view labels, double value) {
  prom_name(out, name, labels);
  if (std::isnan(value)) {
    out += "NaN";
  } else {
    char buf[64];
    int n = std::snprintf(buf, sizeof buf, "%.6g", value);
    out.append(buf, n > 0 && n < static_cast<int>(sizeof buf) ? static_cast<std::size_t>(n) : 0);
  }
  out += '\n';
}

}  // namespace ps::stats
