#include "fleet.h"

#include <algorithm>

#include "cluster_slot.h"

namespace ps {

namespace {

// The k of each bucket's tag "psf:<b>:<k>" (see fleet_bucket_tag();
// tests/unit/test_fleet.cpp recomputes every one).
constexpr std::uint16_t kTagSuffix[kFleetBuckets] = {
    73, 3,   22, 140, 28,  373, 79,  50, 168, 9,  70, 59,  18, 31, 163, 352, 100, 12, 39, 10, 73, 142,
    22, 160, 51, 78,  139, 29,  148, 12, 71,  58, 63, 170, 50, 79, 38,  11,  118, 13, 78, 51, 29, 332,
    23, 101, 72, 123, 31,  18,  173, 52, 13,  9,  20, 153, 31, 8,  33,  179, 79,  50, 28, 0,
};

void append_hex(std::string& out, std::uint64_t v, bool pad) {
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[16];
  int n = 0;
  do {
    buf[n++] = kHex[v & 15];
    v >>= 4;
  } while (v != 0);
  if (pad) {
    while (n < 16) buf[n++] = '0';
  }
  while (n > 0) out += buf[--n];
}

}  // namespace

unsigned fleet_bucket(std::string_view user_id) noexcept { return crc16_xmodem(user_id) % kFleetBuckets; }

std::string fleet_bucket_tag(unsigned bucket) {
  if (bucket >= kFleetBuckets) return std::string();
  return "{psf:" + std::to_string(bucket) + ":" + std::to_string(kTagSuffix[bucket]) + "}";
}

std::string fleet_edges_key(unsigned bucket) {
  if (bucket >= kFleetBuckets) return std::string();
  return fleet_bucket_tag(bucket) + ":edges";
}

FleetKeys fleet_keys(std::string_view user_id) {
  FleetKeys k;
  k.bucket = fleet_bucket(user_id);
  const std::string tag = fleet_bucket_tag(k.bucket);
  k.user.reserve(tag.size() + 3 + user_id.size());
  k.user = tag;
  k.user += ":u:";
  k.user.append(user_id.data(), user_id.size());
  k.edges = tag + ":edges";
  return k;
}

bool valid_fleet_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > kFleetIdMaxLen) return false;
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == ':' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string fleet_edge_id(std::uint64_t random_hi, std::uint64_t random_lo) {
  std::string out;
  out.reserve(32);
  append_hex(out, random_hi, true);
  append_hex(out, random_lo, true);
  return out;
}

std::string fleet_conn_id(std::uint64_t counter) {
  std::string out;
  append_hex(out, counter, false);
  return out;
}

// --- FleetLeaseBook ---------------------------------------------------------------

FleetLeaseBook::FleetLeaseBook(std::uint64_t lease_ms, std::uint64_t retry_ms) noexcept
    : lease_(lease_ms == 0 ? 1 : lease_ms),
      interval_(std::max<std::uint64_t>(1, lease_ms / 3)),
      retry_(retry_ms) {}

void FleetLeaseBook::acquired(unsigned bucket, std::uint64_t sent_ms) noexcept {
  if (bucket >= kFleetBuckets) return;
  Bucket& b = buckets_[bucket];
  // the acquire renewed the lease in this bucket (ZADD GT) as of sent_ms
  b.last_ok = std::max(b.last_ok, sent_ms);
  ++b.held;
}

void FleetLeaseBook::released(unsigned bucket) noexcept {
  if (bucket >= kFleetBuckets) return;
  Bucket& b = buckets_[bucket];
  if (b.held > 0) --b.held;
}

unsigned FleetLeaseBook::held(unsigned bucket) const noexcept {
  return bucket < kFleetBuckets ? buckets_[bucket].held : 0;
}

std::uint64_t FleetLeaseBook::total_held() const noexcept {
  std::uint64_t n = 0;
  for (const Bucket& b : buckets_) n += b.held;
  return n;
}

std::uint64_t FleetLeaseBook::due_at(const Bucket& b) const noexcept {
  const std::uint64_t next = b.last_ok > UINT64_MAX - interval_ ? UINT64_MAX : b.last_ok + interval_;
  return std::max(next, b.retry_at);
}

std::vector<unsigned> FleetLeaseBook::take_due(std::uint64_t now_ms) {
  std::vector<unsigned> out;
  for (unsigned i = 0; i < kFleetBuckets; ++i) {
    Bucket& b = buckets_[i];
    if (b.held == 0 || b.in_flight || due_at(b) > now_ms) continue;
    b.in_flight = true;
    out.push_back(i);
  }
  return out;
}

bool FleetLeaseBook::renewed(unsigned bucket, std::uint64_t sent_ms, long long redis_count) noexcept {
  if (bucket >= kFleetBuckets) return false;
  Bucket& b = buckets_[bucket];
  b.last_ok = std::max(b.last_ok, sent_ms);
  b.retry_at = 0;
  const bool mismatch = redis_count < 0 || static_cast<unsigned long long>(redis_count) != b.held;
  b.in_flight = mismatch;  // a sync follows; its reply comes back here
  return mismatch;
}

void FleetLeaseBook::renew_failed(unsigned bucket, std::uint64_t now_ms) noexcept {
  if (bucket >= kFleetBuckets) return;
  Bucket& b = buckets_[bucket];
  b.in_flight = false;
  b.retry_at = now_ms > UINT64_MAX - retry_ ? UINT64_MAX : now_ms + retry_;
}

std::uint64_t FleetLeaseBook::next_due(std::uint64_t now_ms) const noexcept {
  std::uint64_t best = UINT64_MAX;
  for (const Bucket& b : buckets_) {
    if (b.held == 0 || b.in_flight) continue;
    best = std::min(best, std::max(now_ms, due_at(b)));
  }
  return best;
}

bool FleetLeaseBook::lapsed(unsigned bucket, std::uint64_t now_ms) const noexcept {
  if (bucket >= kFleetBuckets) return false;
  const Bucket& b = buckets_[bucket];
  return b.held > 0 && now_ms >= b.last_ok && now_ms - b.last_ok >= lease_;
}

}  // namespace ps
