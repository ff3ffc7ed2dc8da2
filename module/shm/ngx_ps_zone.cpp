// The shared-memory zone "portfolio_stream" (portfolio_stream_zone SIZE):
// counters of all workers, the per-user and global connection limits, and
// the raw material of the stats endpoint.
//
// Layout (one slab pool, added like limit_conn's zone and reused on reload):
//
//   header (ngx_ps_sh_t, one slab allocation)
//     magic/version, start time, list of worker slots, global active count,
//     number of users, the per-user hash table, the counters of retired slots,
//     a 60-entry ring of per-second disconnect counts, and two one-minute
//     latency histograms.
//   worker slots (ngx_ps_slot_t, 256 bytes each, 64-byte aligned)
//     one per live worker process: owner pid, a slot id, the connections it
//     holds, its pub/sub state and subscription count, and the hot counters
//     of PS_STATS_COUNTERS in cache lines of their own. Only the owner writes
//     its counters (lock-free ngx_atomic_fetch_add), so workers never share
//     a written cache line on the hot path.
//   users (ngx_ps_user_node_t, chained in buckets by crc32 of the id; the
//     first 128 buckets follow the header in its allocation, then the array
//     doubles in the slab as users come: shm/ngx_ps_limits.cpp)
//     per user: the total across workers and a list of shares
//     (ngx_ps_share_t: slot id, count), i.e. how many of the user's
//     connections each worker slot holds. Entries exist only while the user
//     has a connection. Changed only under the slab mutex.
//
// Slot identity. A slot is claimed per PROCESS, not per worker number:
// ngx_worker is reused both by a respawned worker (after SIGKILL/crash) and
// by the new generation on reload while the old workers, with the same
// numbers, are still closing their connections. So every worker, in
// init_process, allocates a fresh slot with a new id and its pid. Slots are
// reclaimed ("retired") under the mutex when their owner is gone:
// kill(pid, 0) fails with ESRCH, or the pid is our own (a previous process
// had it). Retiring folds the slot's counters into the header's `retired`
// sums (counters stay monotonic), removes the slot's share from every user
// (the dead worker's connections), subtracts them from the global count and
// frees the slot. Reclaim runs at every worker start (so after a SIGKILL the
// master's respawn fixes the counts at once), on every stats request, and
// at most once a second before a limit would reject a handshake; a worker
// that exits normally retires its own slot in exit_process. An old
// worker still draining after a reload is alive, keeps its slot and its
// connections count until it releases them one by one. The
// nginx master force-unlocks the slab mutex of a worker that died holding it
// (ngx_unlock_mutexes). No fixed slot array: the number of slots is bounded
// only by the zone size, so any worker_processes and any number of reloads
// in flight are fine.
//
// Reload: same name, tag and size: nginx maps the same memory and init()
// keeps its contents (checked by magic and version). A size change gives a
// fresh zone: new workers count from zero while old workers keep using the
// old zone until they exit.
//
// Zone full (slab allocation fails): the handshake gets 503 with
// Retry-After, counted as rejected.globalLimit, and a log line at most once a
// second per worker; nothing crashes.
//
// Files: this one has the zone itself (creation, worker slots, counters, the
// snapshot for stats); shm/ngx_ps_limits.cpp has the per-user
// table and the connection limits (acquire/release). Both share the layout
// and this process's view of it (shm/ngx_ps_zone.h).

#include <cerrno>
#include <csignal>
#include <sys/types.h>

#include "ngx_ps_zone.h"

namespace ngx_ps_zone {

namespace {

constexpr std::uint64_t kMagic = 0x70735f7a6f6e6531ULL;  // "ps_zone1"
// 3: three history counters in PS_STATS_COUNTERS (slot and header layout);
// 4: events.conflated; 5: the stage histograms; 6: users in a hash table.
constexpr std::uint32_t kLayoutVersion = 6;
constexpr std::uint64_t kLatencyWindow = 60;  // seconds per latency histogram

enum : ngx_atomic_uint_t { kRedisUnknown = 0, kRedisDown = 1, kRedisUp = 2 };

// Process-local view of the zone (per shm_zone, in the cycle's pool).
struct ngx_ps_zone_ctx_t {
  ngx_ps_sh_t* sh;
  ngx_slab_pool_t* shpool;
};

}  // namespace

// This process's zone and slot: set in a worker's init_process only.
ngx_ps_sh_t* ps_sh;
ngx_slab_pool_t* ps_shpool;
ngx_ps_slot_t* ps_slot;
std::uint32_t ps_slot_id;

ngx_str_t ps_zone_name = ngx_string("portfolio_stream");

void mark_exiting() {
  if (ps_slot != nullptr && !ps_slot->exiting && (ngx_exiting || ngx_quit || ngx_terminate)) {
    ps_slot->exiting = 1;
  }
}

// ---- worker slots ------------------------------------------------------------

namespace {

bool slot_owner_gone(const ngx_ps_slot_t* s) {
  if (s->pid == ngx_pid) {
    return true;  // not us (s != ps_slot): a previous process with our pid
  }
  return kill(s->pid, 0) == -1 && errno == ESRCH;
}

void disconnects_add(std::uint64_t sec, std::uint64_t n) {
  ngx_atomic_t& e = ps_sh->disconnects[sec % kRing];
  for (;;) {
    ngx_atomic_uint_t old = e;
    ngx_atomic_uint_t nv = ps::stats::ring_bump(old, sec, n);
    if (nv == old || ngx_atomic_cmp_set(&e, old, nv)) {
      break;
    }
  }
}

void retire_slot_locked(ngx_ps_slot_t* s, ngx_log_t* log) {
  for (std::size_t i = 0; i < kCounters; i++) {
    ps_sh->retired[i] += s->counters[i];
  }
  ps_sh->retired_closed_ms += s->closed_ms;
  // Always walk (O(users), rare): shares are the truth, not s->active.
  std::uint64_t removed = remove_slot_shares(s->id);
  ps_sh->active = ps_sh->active > removed ? ps_sh->active - removed : 0;
  // The dead worker never saw these end: they are closed (and disconnects)
  // now, without a duration (kept out of avgConnectionDurationSeconds).
  ps_sh->retired[static_cast<unsigned>(ngx_ps_stat::connections_closed)] += removed;
  ps_sh->reclaimed += removed;
  if (removed > 0) {
    disconnects_add(static_cast<std::uint64_t>(ngx_time()), removed);
  }
  if (removed > 0 && log != nullptr) {
    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "portfolio_stream: reclaimed %uL connection(s) of exited worker process %P (worker %ui)",
                  removed, s->pid, s->worker);
  }
  ngx_slab_free_locked(ps_shpool, s);
}

}  // namespace

// Retires the slots of processes that are gone; returns how many.
ngx_uint_t reclaim_locked(ngx_log_t* log) {
  ngx_uint_t n = 0;
  for (ngx_ps_slot_t** pp = &ps_sh->slots; *pp != nullptr;) {
    ngx_ps_slot_t* s = *pp;
    if (s != ps_slot && slot_owner_gone(s)) {
      *pp = s->next;
      retire_slot_locked(s, log);
      n++;
      continue;
    }
    pp = &s->next;
  }
  return n;
}

namespace {

// ---- zone creation and reuse -------------------------------------------------

ngx_int_t zone_init(ngx_shm_zone_t* shm_zone, void* data) {
  auto* ctx = static_cast<ngx_ps_zone_ctx_t*>(shm_zone->data);
  auto* shpool = reinterpret_cast<ngx_slab_pool_t*>(shm_zone->shm.addr);
  ctx->shpool = shpool;

  if (data != nullptr || shm_zone->shm.exists) {
    // The old cycle's zone (same name, tag, size): keep its contents.
    auto* sh = static_cast<ngx_ps_sh_t*>(shpool->data);
    if (sh == nullptr || sh->magic != kMagic || sh->version != kLayoutVersion) {
      ngx_log_error(
          NGX_LOG_EMERG, shm_zone->shm.log, 0,
          "portfolio_stream_zone \"%V\" has an incompatible layout, restart nginx (or change its size)",
          &shm_zone->shm.name);
      return NGX_ERROR;
    }
    ctx->sh = sh;
    return NGX_OK;
  }

  // The first user buckets right after the header, in the same allocation;
  // the table grows with the users (shm/ngx_ps_limits.cpp).
  std::size_t size = sizeof(ngx_ps_sh_t) + kInlineUserBuckets * sizeof(ngx_ps_user_node_t*);
  auto* sh = static_cast<ngx_ps_sh_t*>(ngx_slab_alloc(shpool, size));
  if (sh == nullptr) {
    ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0, "portfolio_stream_zone \"%V\" is too small",
                  &shm_zone->shm.name);
    return NGX_ERROR;
  }
  ngx_memzero(sh, size);
  sh->magic = kMagic;
  sh->version = kLayoutVersion;
  sh->started = ngx_time();
  sh->user_buckets = inline_user_buckets(sh);
  sh->user_mask = kInlineUserBuckets - 1;
  shpool->data = sh;
  ctx->sh = sh;

  static const char fmt[] = " in portfolio_stream_zone \"%V\"%Z";
  std::size_t len = sizeof(fmt) + shm_zone->shm.name.len;
  shpool->log_ctx = static_cast<u_char*>(ngx_slab_alloc(shpool, len));
  if (shpool->log_ctx == nullptr) {
    return NGX_ERROR;
  }
  ngx_sprintf(shpool->log_ctx, fmt, &shm_zone->shm.name);
  shpool->log_nomem = 0;  // a full zone is logged by us, once a second
  return NGX_OK;
}

}  // namespace

}  // namespace ngx_ps_zone

// ---- the interface (shm/ngx_ps_stats.h) -------------------------

using namespace ngx_ps_zone;

char* ngx_ps_zone_add(ngx_conf_t* cf, ngx_http_portfolio_stream_main_conf_t* pmcf) {
  auto* ctx = static_cast<ngx_ps_zone_ctx_t*>(ngx_pcalloc(cf->pool, sizeof(ngx_ps_zone_ctx_t)));
  if (ctx == nullptr) {
    return static_cast<char*>(NGX_CONF_ERROR);
  }
  ngx_shm_zone_t* shm_zone = ngx_shared_memory_add(cf, &ps_zone_name, static_cast<size_t>(pmcf->zone_size),
                                                   &ngx_http_portfolio_stream_module);
  if (shm_zone == nullptr) {
    return static_cast<char*>(NGX_CONF_ERROR);
  }
  if (shm_zone->data != nullptr) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "portfolio_stream_zone \"%V\" is already defined",
                       &ps_zone_name);
    return static_cast<char*>(NGX_CONF_ERROR);
  }
  shm_zone->init = zone_init;
  shm_zone->data = ctx;
  return NGX_CONF_OK;
}

ngx_int_t ngx_ps_zone_init_process(ngx_cycle_t* cycle) {
  ps_sh = nullptr;
  ps_shpool = nullptr;
  ps_slot = nullptr;
  if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) {
    return NGX_OK;  // cache manager/loader: no connections, no slot
  }

  ngx_ps_zone_ctx_t* ctx = nullptr;
  ngx_list_part_t* part = &cycle->shared_memory.part;
  auto* zones = static_cast<ngx_shm_zone_t*>(part->elts);
  for (ngx_uint_t i = 0; /* void */; i++) {
    if (i >= part->nelts) {
      if (part->next == nullptr) {
        break;
      }
      part = part->next;
      zones = static_cast<ngx_shm_zone_t*>(part->elts);
      i = 0;
    }
    if (zones[i].tag == &ngx_http_portfolio_stream_module) {
      ctx = static_cast<ngx_ps_zone_ctx_t*>(zones[i].data);
      break;
    }
  }
  if (ctx == nullptr || ctx->sh == nullptr) {
    return NGX_OK;  // no http block with the module
  }

  ps_sh = ctx->sh;
  ps_shpool = ctx->shpool;
  ngx_shmtx_lock(&ps_shpool->mutex);
  reclaim_locked(cycle->log);
  auto* slot = static_cast<ngx_ps_slot_t*>(ngx_slab_alloc_locked(ps_shpool, sizeof(ngx_ps_slot_t)));
  if (slot != nullptr) {
    ngx_memzero(slot, sizeof(ngx_ps_slot_t));
    slot->pid = ngx_pid;
    slot->id = ++ps_sh->next_slot_id;
    slot->worker = ngx_worker;
    slot->next = ps_sh->slots;
    ps_sh->slots = slot;
    ps_slot = slot;
    ps_slot_id = slot->id;
  }
  ngx_shmtx_unlock(&ps_shpool->mutex);
  if (slot == nullptr) {
    // The worker still runs: its handshakes get 503, its counters are lost.
    ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                  "portfolio_stream_zone \"%V\" is full: no slot for worker process %P, "
                  "its WebSocket handshakes will get 503",
                  &ps_zone_name, ngx_pid);
  }
  return NGX_OK;
}

void ngx_ps_zone_exit_process(ngx_cycle_t* cycle) {
  if (ps_slot == nullptr) {
    return;
  }
  // Normally every connection was released already (the hub closes them
  // first); retiring the slot gives back whatever is left and keeps the
  // counters in the totals.
  ngx_shmtx_lock(&ps_shpool->mutex);
  for (ngx_ps_slot_t** pp = &ps_sh->slots; *pp != nullptr; pp = &(*pp)->next) {
    if (*pp == ps_slot) {
      *pp = ps_slot->next;
      retire_slot_locked(ps_slot, cycle->log);
      break;
    }
  }
  ngx_shmtx_unlock(&ps_shpool->mutex);
  ps_slot = nullptr;
  ps_sh = nullptr;
  ps_shpool = nullptr;
}

void ngx_ps_stat_add(ngx_ps_stat stat, ngx_atomic_int_t n) {
  if (ps_slot != nullptr) {
    (void)ngx_atomic_fetch_add(&ps_slot->counters[static_cast<unsigned>(stat)], n);
  }
}

namespace {

// One sample into a pair of minute windows (the current and the last).
void record(ngx_ps_latency_window_t* pair, std::int64_t age_ms) {
  ngx_atomic_uint_t epoch = static_cast<ngx_atomic_uint_t>(ngx_time()) / kLatencyWindow;
  ngx_ps_latency_window_t& w = pair[epoch & 1];
  if (w.epoch != epoch) {
    if (w.epoch > epoch) {
      return;  // this worker's cached time lags a rotation: drop the sample
    }
    // A new minute: the first writer clears the window (rare: the mutex).
    ngx_shmtx_lock(&ps_shpool->mutex);
    if (w.epoch < epoch) {
      for (auto& b : w.buckets) {
        b = 0;
      }
      w.max_ms = 0;
      ngx_memory_barrier();
      w.epoch = epoch;
    }
    ngx_shmtx_unlock(&ps_shpool->mutex);
    if (w.epoch != epoch) {
      return;
    }
  }
  (void)ngx_atomic_fetch_add(&w.buckets[ps::stats::latency_bucket(age_ms)], 1);
  ngx_atomic_uint_t v = age_ms <= 0 ? 0
                        : static_cast<std::uint64_t>(age_ms) > ps::stats::kLatencyCapMs
                            ? ps::stats::kLatencyCapMs
                            : static_cast<ngx_atomic_uint_t>(age_ms);
  for (;;) {
    ngx_atomic_uint_t old = w.max_ms;
    if (v <= old || ngx_atomic_cmp_set(&w.max_ms, old, v)) {
      break;
    }
  }
}

}  // namespace

void ngx_ps_stat_latency(std::int64_t age_ms) {
  if (ps_sh != nullptr) {
    record(ps_sh->latency, age_ms);
  }
}

void ngx_ps_stat_stage(ps::stats::Stage stage, std::int64_t us) {
  if (ps_sh != nullptr) {
    record(ps_sh->stages[stage], us);
  }
}

void ngx_ps_stat_closed(ngx_msec_t duration_ms) {
  if (ps_slot == nullptr) {
    return;
  }
  mark_exiting();
  (void)ngx_atomic_fetch_add(&ps_slot->counters[static_cast<unsigned>(ngx_ps_stat::connections_closed)], 1);
  (void)ngx_atomic_fetch_add(&ps_slot->closed_ms, static_cast<ngx_atomic_int_t>(duration_ms));
  disconnects_add(static_cast<std::uint64_t>(ngx_time()), 1);
}

void ngx_ps_stat_redis(bool connected, ngx_uint_t subscriptions) {
  if (ps_slot == nullptr) {
    return;
  }
  mark_exiting();
  ps_slot->subscriptions = subscriptions;
  ps_slot->redis_state = connected ? kRedisUp : kRedisDown;
}

ngx_int_t ngx_ps_zone_snapshot(ngx_ps_snapshot_t* s, ngx_log_t* log) {
  ngx_memzero(s, sizeof(ngx_ps_snapshot_t));
  if (ps_sh == nullptr) {
    return NGX_DECLINED;
  }
  mark_exiting();
  auto now = static_cast<std::uint64_t>(ngx_time());
  std::uint64_t ring[kRing];

  ngx_shmtx_lock(&ps_shpool->mutex);
  reclaim_locked(log);
  for (std::size_t i = 0; i < kCounters; i++) {
    s->counters[i] = ps_sh->retired[i];
  }
  s->closed_ms = ps_sh->retired_closed_ms;
  s->reclaimed = ps_sh->reclaimed;
  for (ngx_ps_slot_t* sl = ps_sh->slots; sl != nullptr; sl = sl->next) {
    for (std::size_t i = 0; i < kCounters; i++) {
      s->counters[i] += sl->counters[i];
    }
    s->closed_ms += sl->closed_ms;
    if (sl->exiting) {
      continue;  // draining after a reload or stop: not part of the health
    }
    s->workers++;
    if (sl->redis_state == kRedisUp) {
      s->redis_up++;
    } else if (sl->redis_state == kRedisDown) {
      s->redis_down++;
    }
    s->subscriptions += sl->subscriptions;
  }
  s->active_connections = ps_sh->active;
  s->active_users = ps_sh->users;
  for (std::size_t i = 0; i < kRing; i++) {
    ring[i] = ps_sh->disconnects[i];
  }
  std::uint64_t epoch = now / kLatencyWindow;
  for (const ngx_ps_latency_window_t& w : ps_sh->latency) {
    // the current minute and the one before: 60 to 120 s of events
    if (w.epoch != epoch && w.epoch + 1 != epoch) {
      continue;
    }
    for (std::size_t b = 0; b < ps::stats::kLatencyBuckets; b++) {
      s->latency[b] += w.buckets[b];
    }
    if (w.max_ms > s->latency_max_ms) {
      s->latency_max_ms = w.max_ms;
    }
  }
  for (unsigned st = 0; st < ps::stats::kStages; st++) {
    for (const ngx_ps_latency_window_t& w : ps_sh->stages[st]) {
      if (w.epoch != epoch && w.epoch + 1 != epoch) {
        continue;
      }
      for (std::size_t b = 0; b < ps::stats::kLatencyBuckets; b++) {
        s->stage[st][b] += w.buckets[b];
      }
      if (w.max_ms > s->stage_max_us[st]) {
        s->stage_max_us[st] = w.max_ms;
      }
    }
  }
  s->uptime_seconds = now > static_cast<std::uint64_t>(ps_sh->started) ? now - ps_sh->started : 0;
  s->zone_size = static_cast<std::size_t>(ps_shpool->end - reinterpret_cast<u_char*>(ps_shpool));
  s->zone_free = ps_shpool->pfree * ngx_pagesize;
  ngx_shmtx_unlock(&ps_shpool->mutex);

  s->disconnects_last_60s = ps::stats::ring_sum(ring, kRing, now, kRing);
  return NGX_OK;
}
