// Private interface of the shared-memory zone (shm/ngx_ps_zone.cpp):
// - for the stats handler (http/ngx_ps_stats_handler.cpp), a consistent
//   copy of everything the stats endpoint reports, taken under the zone mutex;
// - for the connection limits (shm/ngx_ps_limits.cpp), the
//   zone's layout and this process's view of it (namespace ngx_ps_zone; the
//   layout is described in shm/ngx_ps_zone.cpp).
#pragma once

#include "stats_format.h"
#include "stats_render.h"

#include "ngx_ps_stats.h"

// Everything the stats endpoint reports from the zone (src/stats_render.h).
using ngx_ps_snapshot_t = ps::stats::Snapshot;

// Fills s; NGX_DECLINED when this process has no zone (s zeroed).
ngx_int_t ngx_ps_zone_snapshot(ngx_ps_snapshot_t* s, ngx_log_t* log);

namespace ngx_ps_zone {

constexpr std::size_t kCounters = static_cast<std::size_t>(ngx_ps_stat::count);
constexpr std::size_t kRing = 60;  // seconds of disconnect history

struct alignas(64) ngx_ps_slot_t {
  // Identity and gauges. next/pid/id/active change under the mutex.
  ngx_ps_slot_t* next;
  ngx_pid_t pid;
  std::uint32_t id;
  ngx_uint_t worker;           // ngx_worker of the owner (for logs)
  ngx_atomic_t active;         // connections this worker holds
  ngx_atomic_t redis_state;    // kRedis*, written by the owner
  ngx_atomic_t subscriptions;  // written by the owner
  ngx_atomic_t exiting;        // owner is shutting down (reload, stop)
  // Hot counters, written only by the owner.
  alignas(64) ngx_atomic_t counters[kCounters];
  ngx_atomic_t closed_ms;
};
static_assert(sizeof(ngx_ps_slot_t) % 64 == 0, "slots are whole cache lines");

struct alignas(64) ngx_ps_latency_window_t {
  ngx_atomic_t epoch;  // the minute (time / 60) it counts; changes under the mutex
  ngx_atomic_t max_ms;
  ngx_atomic_t buckets[ps::stats::kLatencyBuckets];
};

struct ngx_ps_sh_t {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t next_slot_id;
  time_t started;
  ngx_ps_slot_t* slots;
  std::uint64_t active;  // sum of slot->active
  std::uint64_t users;   // user nodes
  // The users, chained by crc32 of the id: a power of two of buckets, the
  // first kInlineUserBuckets after this header, then grown in the slab.
  struct ngx_ps_user_node_t** user_buckets;
  std::uint64_t user_mask;           // buckets - 1
  std::uint64_t retired[kCounters];  // counters of retired slots
  std::uint64_t retired_closed_ms;
  std::uint64_t reclaimed;                      // connections of dead workers (closed, no duration)
  alignas(64) ngx_atomic_t disconnects[kRing];  // ps::stats::ring_bump entries
  ngx_ps_latency_window_t latency[2];
  ngx_ps_latency_window_t stages[ps::stats::kStages][2];  // microseconds
};

struct ngx_ps_share_t {
  ngx_ps_share_t* next;
  std::uint32_t slot_id;
  std::uint32_t count;
};

// 26 bytes and the id: a slab chunk of 32 for an id of up to 6 bytes, of 64
// for a 36-character UUID (an rbtree node took 56 and the id).
struct ngx_ps_user_node_t {
  ngx_ps_user_node_t* next;  // in its bucket
  ngx_ps_share_t* shares;
  std::uint32_t hash;  // crc32 of the id
  std::uint32_t total;
  std::uint16_t len;
  u_char data[1];
};

// This process's zone and slot (shm/ngx_ps_zone.cpp): set in a
// worker's init_process only.
extern ngx_ps_sh_t* ps_sh;
extern ngx_slab_pool_t* ps_shpool;
extern ngx_ps_slot_t* ps_slot;
extern std::uint32_t ps_slot_id;
extern ngx_str_t ps_zone_name;

// ---- shm/ngx_ps_zone.cpp ------------------------------------

// Marks this worker's slot as exiting once nginx is shutting it down.
void mark_exiting();
// Under the slab mutex: retires the slots of processes that are gone; returns
// how many.
ngx_uint_t reclaim_locked(ngx_log_t* log);

// ---- shm/ngx_ps_limits.cpp ----------------------------------

// The user table starts with this many buckets, right after the header in
// its allocation, and doubles (a slab allocation) when the users are more
// than twice the buckets: 4-8 bytes per user, nothing fixed per zone size.
constexpr std::size_t kInlineUserBuckets = 128;
inline ngx_ps_user_node_t** inline_user_buckets(ngx_ps_sh_t* sh) {
  return reinterpret_cast<ngx_ps_user_node_t**>(sh + 1);
}
// Under the slab mutex: removes slot `id`'s share from every user; returns the
// connections removed.
std::uint64_t remove_slot_shares(std::uint32_t id);

}  // namespace ngx_ps_zone
