// The connection limits (portfolio_stream_max_connections_per_user and
// portfolio_stream_max_connections): the per-user hash table in the shared-memory
// zone, and acquire/release of a connection. The zone's layout, slot identity
// and reclaim are described in shm/ngx_ps_zone.cpp.

#include "ngx_ps_log_limiter.h"
#include "ngx_ps_zone.h"

namespace ngx_ps_zone {

namespace {

constexpr std::size_t kMaxUserIdLen = 0xffff;  // ngx_ps_user_node_t::len

time_t ps_last_reclaim;
ngx_ps_log_limiter ps_full_log;  // one line a second while the zone is full

ngx_log_t* any_log() { return ngx_cycle != nullptr ? ngx_cycle->log : nullptr; }

}  // namespace

// ---- the per-user hash table ---------------------------------------------------

namespace {

ngx_ps_user_node_t** user_bucket(std::uint32_t hash) { return &ps_sh->user_buckets[hash & ps_sh->user_mask]; }

// Under the mutex, before a user is added: doubles the buckets when the
// users are more than twice as many. A zone too full for the bigger array
// keeps the old one (longer chains, same answers).
void user_table_grow_locked() {
  std::uint64_t n = ps_sh->user_mask + 1;
  if (ps_sh->users < 2 * n) {
    return;
  }
  auto** bigger = static_cast<ngx_ps_user_node_t**>(
      ngx_slab_calloc_locked(ps_shpool, static_cast<size_t>(2 * n) * sizeof(ngx_ps_user_node_t*)));
  if (bigger == nullptr) {
    return;
  }
  std::uint64_t mask = 2 * n - 1;
  for (std::uint64_t b = 0; b < n; b++) {
    for (ngx_ps_user_node_t* u = ps_sh->user_buckets[b]; u != nullptr;) {
      ngx_ps_user_node_t* next = u->next;
      ngx_ps_user_node_t** head = &bigger[u->hash & mask];
      u->next = *head;
      *head = u;
      u = next;
    }
  }
  if (ps_sh->user_buckets != inline_user_buckets(ps_sh)) {
    ngx_slab_free_locked(ps_shpool, ps_sh->user_buckets);
  }
  ps_sh->user_buckets = bigger;
  ps_sh->user_mask = mask;
}

// The link (a bucket head or a node's next) that holds the user, or nullptr:
// deleting it then needs no second walk.
ngx_ps_user_node_t** user_lookup(std::string_view id, std::uint32_t hash) {
  for (ngx_ps_user_node_t** pp = user_bucket(hash); *pp != nullptr; pp = &(*pp)->next) {
    ngx_ps_user_node_t* u = *pp;
    if (u->hash == hash && u->len == id.size() && ngx_memcmp(u->data, id.data(), id.size()) == 0) {
      return pp;
    }
  }
  return nullptr;
}

// Unlinks *pp (a user's link in its bucket) and frees it.
void user_delete(ngx_ps_user_node_t** pp) {
  ngx_ps_user_node_t* u = *pp;
  *pp = u->next;
  ngx_slab_free_locked(ps_shpool, u);
  if (ps_sh->users > 0) {
    ps_sh->users--;
  }
}

}  // namespace

// Removes slot `id`'s share from every user; returns the connections removed.
std::uint64_t remove_slot_shares(std::uint32_t id) {
  std::uint64_t removed = 0;
  for (std::uint64_t b = 0; b <= ps_sh->user_mask; b++) {
    for (ngx_ps_user_node_t** up = &ps_sh->user_buckets[b]; *up != nullptr;) {
      ngx_ps_user_node_t* u = *up;
      for (ngx_ps_share_t** pp = &u->shares; *pp != nullptr;) {
        ngx_ps_share_t* s = *pp;
        if (s->slot_id != id) {
          pp = &s->next;
          continue;
        }
        removed += s->count;
        u->total = u->total > s->count ? u->total - s->count : 0;
        *pp = s->next;
        ngx_slab_free_locked(ps_shpool, s);
      }
      if (u->total == 0) {
        user_delete(up);  // *up is now the next one
      } else {
        up = &u->next;
      }
    }
  }
  return removed;
}

namespace {

void zone_full_log(ngx_log_t* log, const char* what) {
  ngx_uint_t skipped;
  if (ps_full_log.allow(&skipped)) {
    ngx_log_error(NGX_LOG_ERR, log, 0, "portfolio_stream_zone \"%V\" is full%s, rejecting with 503",
                  &ps_zone_name, what);
  }
}

void retry_after(ngx_http_request_t* r) {
  auto* h = static_cast<ngx_table_elt_t*>(ngx_list_push(&r->headers_out.headers));
  if (h == nullptr) {
    return;
  }
  h->hash = 1;
  ngx_str_set(&h->key, "Retry-After");
  ngx_str_set(&h->value, "5");
}

ngx_int_t reject_unavailable(ngx_http_request_t* r) {
  ngx_ps_stat_add(ngx_ps_stat::rejected_global_limit, 1);
  retry_after(r);
  return NGX_HTTP_SERVICE_UNAVAILABLE;
}

}  // namespace

}  // namespace ngx_ps_zone

// ---- the interface (shm/ngx_ps_stats.h) -------------------------

using namespace ngx_ps_zone;

ngx_int_t ngx_ps_limits_acquire(ngx_http_request_t* r, std::string_view user_id,
                                ngx_http_portfolio_stream_loc_conf_t* lcf) {
  ngx_log_t* log = r->connection->log;
  if (ps_slot == nullptr) {
    zone_full_log(log, " (no worker slot)");
    return reject_unavailable(r);
  }
  if (user_id.size() > kMaxUserIdLen) {
    ngx_log_error(NGX_LOG_ERR, log, 0, "portfolio_stream: user id of %uz bytes is too long", user_id.size());
    return reject_unavailable(r);
  }
  auto* pmcf = static_cast<ngx_http_portfolio_stream_main_conf_t*>(
      ngx_http_get_module_main_conf(r, ngx_http_portfolio_stream_module));
  auto* id = reinterpret_cast<u_char*>(const_cast<char*>(user_id.data()));
  std::uint32_t hash = ngx_crc32_short(id, user_id.size());
  auto per_user_max = static_cast<std::uint64_t>(lcf->max_connections_per_user);
  auto global_max = static_cast<std::uint64_t>(pmcf->max_connections);

  ngx_shmtx_lock(&ps_shpool->mutex);
  ngx_ps_user_node_t** link;  // the user's, while no node is added or deleted
  ngx_ps_user_node_t* u;
  for (bool reclaimed = false;; reclaimed = true) {
    link = user_lookup(user_id, hash);
    u = link != nullptr ? *link : nullptr;
    // SPEC section 2 order: the per-user limit (429) before the global one (503).
    bool per_user = u != nullptr && u->total >= per_user_max;
    bool global = !per_user && ps_sh->active >= global_max;
    if (!per_user && !global) {
      break;
    }
    // A dead worker's leftovers must not cause a rejection: look for them
    // (at most once a second: kill(2) per slot, under the mutex).
    if (!reclaimed && ps_last_reclaim != ngx_time()) {
      ps_last_reclaim = ngx_time();
      if (reclaim_locked(log) > 0) {
        continue;
      }
    }
    ngx_shmtx_unlock(&ps_shpool->mutex);
    if (per_user) {
      ngx_log_error(NGX_LOG_INFO, log, 0, "portfolio_stream: user has %uL connections, the limit (429)",
                    per_user_max);
      ngx_ps_stat_add(ngx_ps_stat::rejected_per_user_limit, 1);
      return NGX_HTTP_TOO_MANY_REQUESTS;
    }
    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "portfolio_stream: %uL connections, portfolio_stream_max_connections (503)", global_max);
    return reject_unavailable(r);
  }

  bool created = false;
  if (u == nullptr) {
    std::size_t n = offsetof(ngx_ps_user_node_t, data) + user_id.size();
    user_table_grow_locked();
    u = static_cast<ngx_ps_user_node_t*>(ngx_slab_alloc_locked(ps_shpool, n));
    if (u == nullptr) {
      ngx_shmtx_unlock(&ps_shpool->mutex);
      zone_full_log(log, "");
      return reject_unavailable(r);
    }
    u->hash = hash;
    u->shares = nullptr;
    u->total = 0;
    u->len = static_cast<std::uint16_t>(user_id.size());
    ngx_memcpy(u->data, id, user_id.size());
    link = user_bucket(hash);
    u->next = *link;
    *link = u;
    ps_sh->users++;
    created = true;
  }
  ngx_ps_share_t* s = u->shares;
  while (s != nullptr && s->slot_id != ps_slot_id) {
    s = s->next;
  }
  if (s == nullptr) {
    s = static_cast<ngx_ps_share_t*>(ngx_slab_alloc_locked(ps_shpool, sizeof(ngx_ps_share_t)));
    if (s == nullptr) {
      if (created) {
        user_delete(link);
      }
      ngx_shmtx_unlock(&ps_shpool->mutex);
      zone_full_log(log, "");
      return reject_unavailable(r);
    }
    s->slot_id = ps_slot_id;
    s->count = 0;
    s->next = u->shares;
    u->shares = s;
  }
  s->count++;
  u->total++;
  ps_slot->active++;
  ps_sh->active++;
  ngx_shmtx_unlock(&ps_shpool->mutex);
  return NGX_OK;
}

void ngx_ps_limits_release(std::string_view user_id) {
  if (ps_slot == nullptr) {
    return;
  }
  mark_exiting();
  auto* id = reinterpret_cast<u_char*>(const_cast<char*>(user_id.data()));
  std::uint32_t hash = ngx_crc32_short(id, user_id.size());
  ngx_shmtx_lock(&ps_shpool->mutex);
  ngx_ps_user_node_t** link = user_lookup(user_id, hash);
  ngx_ps_user_node_t* u = link != nullptr ? *link : nullptr;
  ngx_ps_share_t** pp = u != nullptr ? &u->shares : nullptr;
  while (pp != nullptr && *pp != nullptr && (*pp)->slot_id != ps_slot_id) {
    pp = &(*pp)->next;
  }
  if (pp == nullptr || *pp == nullptr) {
    ngx_shmtx_unlock(&ps_shpool->mutex);
    ngx_log_error(NGX_LOG_ALERT, any_log(), 0,
                  "portfolio_stream: released a connection this worker did not hold");
    return;
  }
  ngx_ps_share_t* s = *pp;
  s->count--;
  u->total--;
  if (s->count == 0) {
    *pp = s->next;
    ngx_slab_free_locked(ps_shpool, s);
  }
  if (u->total == 0) {
    user_delete(link);
  }
  if (ps_slot->active > 0) {
    ps_slot->active--;
  }
  if (ps_sh->active > 0) {
    ps_sh->active--;
  }
  ngx_shmtx_unlock(&ps_shpool->mutex);
}
