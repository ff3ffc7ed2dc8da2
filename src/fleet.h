// The fleet-wide per-user limit (SPEC section 9, portfolio_stream_limit_scope
// fleet), the nginx-free half: key names, ids, and the per-worker schedule of
// lease renewals. The Redis side is the Functions library in
// fleet_function.h (redis/portfolio_stream_fleet.lua).
//
// Design: each nginx worker is an "edge" with its own lease in each of the 64
// buckets where it holds connections. A user's connections live in that
// user's bucket; one renewal per bucket keeps all of them, so a worker makes
// at most 64 Redis calls per renew interval (lease / 3) however many
// connections it holds, and none for a bucket where it holds none.
//
// How module/ uses it (one FleetLeaseBook per worker; the edge id made once
// at worker start from random bytes; conn ids from a worker counter):
//   handshake: k = fleet_keys(user_id);
//     FCALL portfolio_stream_fleet_acquire 2 k.user k.edges <edge> <conn> <limit> <lease_ms>
//     1: book.acquired(k.bucket, sent_ms); 0: 429; error/timeout: 503.
//   close: FCALL portfolio_stream_fleet_release 2 k.user k.edges <edge> <conn>;
//     book.released(k.bucket) (whatever the reply).
//   timer (every second, or at book.next_due()): for b in book.take_due(now):
//     FCALL portfolio_stream_fleet_renew 1 fleet_edges_key(b) <edge> <lease_ms>;
//     integer n: if book.renewed(b, sent_ms, n) then send
//       FCALL portfolio_stream_fleet_sync <1+m> fleet_edges_key(b) <user keys...> <edge> <lease_ms> replace
//       <conns...> with the worker's connections in bucket b (chunks of at most kFleetSyncChunk: the first
//       "replace", the rest "add") and feed its integer reply to book.renewed() again;
//     error/timeout: book.renew_failed(b, now).
//   worker exit: FCALL portfolio_stream_fleet_drop 1 fleet_edges_key(b) <edge>
//     for every b with book.held(b) > 0 (frees the slots at once instead of
//     after the lease).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ps {

// Buckets of the fleet keys. Fleet-wide: every edge sharing a Redis must use
// the same value (it decides where a user's connections are counted).
inline constexpr unsigned kFleetBuckets = 64;
// Most connections one portfolio_stream_fleet_sync call carries.
inline constexpr std::size_t kFleetSyncChunk = 1000;
// Longest edge or connection id the library accepts.
inline constexpr std::size_t kFleetIdMaxLen = 64;

// The bucket of a user id: crc16_xmodem(user_id) mod kFleetBuckets.
unsigned fleet_bucket(std::string_view user_id) noexcept;

// The hash tag of a bucket, braces included: "{psf:<b>:<k>}" with the
// smallest k whose cluster slot lies in [b * 256, b * 256 + 255], so the 64
// buckets spread evenly over masters that own equal contiguous ranges (what
// redis-cli --cluster create makes). bucket >= kFleetBuckets: "".
// Throws std::bad_alloc only.
std::string fleet_bucket_tag(unsigned bucket);

// "{T}:edges": the zset of the bucket's edge leases.
std::string fleet_edges_key(unsigned bucket);

struct FleetKeys {
  unsigned bucket = 0;
  std::string user;   // "{T}:u:<user_id>": the user's connections
  std::string edges;  // "{T}:edges"
};

// The keys of a user's connections. Throws std::bad_alloc only.
FleetKeys fleet_keys(std::string_view user_id);

// 1-64 bytes of [A-Za-z0-9._:-]: what the library accepts as an edge or
// connection id.
bool valid_fleet_id(std::string_view id) noexcept;

// An edge id: 32 lowercase hex digits of two random words (pass 128 bits of
// RAND_bytes or /dev/urandom; a restarted worker must not reuse its old id).
std::string fleet_edge_id(std::uint64_t random_hi, std::uint64_t random_lo);

// A connection id: the worker's counter in lowercase hex ("0", "1f", ...).
std::string fleet_conn_id(std::uint64_t counter);

// One worker's leases: how many connections it holds per bucket, and when
// each bucket's lease is next renewed. Renew interval = lease / 3 (at least
// 1 ms), so two renewals in a row may fail before the lease ends. Times are
// ms of the caller's monotonic clock; "sent" times are when the command was
// queued to Redis (the lease runs from Redis's execution, a little later).
class FleetLeaseBook {
 public:
  // retry_ms: pause before a failed renewal of a bucket is retried.
  explicit FleetLeaseBook(std::uint64_t lease_ms, std::uint64_t retry_ms = 1000) noexcept;

  std::uint64_t lease_ms() const noexcept { return lease_; }
  std::uint64_t renew_interval_ms() const noexcept { return interval_; }

  // An acquire sent at sent_ms answered 1: one more connection in bucket,
  // whose lease that acquire renewed.
  void acquired(unsigned bucket, std::uint64_t sent_ms) noexcept;
  // A release was sent (whatever it answers): one fewer.
  void released(unsigned bucket) noexcept;

  unsigned held(unsigned bucket) const noexcept;
  std::uint64_t total_held() const noexcept;

  // The buckets to renew now: held > 0, no renewal in flight, the interval
  // since the last successful renewal over (and, after a failure, the retry
  // pause). Marks them in flight. Throws std::bad_alloc only.
  std::vector<unsigned> take_due(std::uint64_t now_ms);

  // A renewal (or sync) of bucket sent at sent_ms answered redis_count (how
  // many of this edge's connections Redis holds there). True when that
  // differs from held(bucket) — Redis lost them (the lease ran out while
  // Redis was unreachable, or Redis lost data) or kept stale ones: send
  // portfolio_stream_fleet_sync for the bucket. The bucket stays in flight
  // until the sync's own reply comes back through renewed().
  bool renewed(unsigned bucket, std::uint64_t sent_ms, long long redis_count) noexcept;
  // A renewal or sync failed (error reply, timeout, lost connection).
  void renew_failed(unsigned bucket, std::uint64_t now_ms) noexcept;

  // When take_due() next has something (now_ms if it has now); UINT64_MAX
  // when no bucket holds a connection or every one is in flight.
  std::uint64_t next_due(std::uint64_t now_ms) const noexcept;

  // No successful renewal of a held bucket for a whole lease: other edges
  // may already have taken this worker's connections there out of the count.
  bool lapsed(unsigned bucket, std::uint64_t now_ms) const noexcept;

 private:
  struct Bucket {
    std::uint32_t held = 0;
    bool in_flight = false;
    std::uint64_t last_ok = 0;   // sent time of the last successful renewal (or acquire)
    std::uint64_t retry_at = 0;  // after a failure: not before this
  };
  std::uint64_t due_at(const Bucket& b) const noexcept;

  std::uint64_t lease_;
  std::uint64_t interval_;
  std::uint64_t retry_;
  std::array<Bucket, kFleetBuckets> buckets_{};
};

}  // namespace ps
