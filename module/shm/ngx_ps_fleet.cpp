// The fleet-wide per-user limit on this worker (SPEC section 9). A worker
// is an "edge" with a random id; each place it holds is a connection id in
// the user's bucket, counted by Redis while the edge's lease in that bucket
// runs. One renewal per bucket every lease/3 keeps them all (src/fleet.h),
// so idle connections cost Redis nothing; a renewal that finds Redis holding
// a different number re-syncs the bucket from the worker's own list.

#include <openssl/rand.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "fleet.h"
#include "fleet_function.h"

#include "ngx_ps_fleet.h"

struct ngx_ps_fleet_pending_t {
  ngx_ps_fleet_handler_pt handler;  // null once cancelled
  void* data;
  std::string user_id;
  std::uint64_t conn_id;
  unsigned bucket;
  std::uint64_t sent_ms;
  ngx_ps_get_t* call;
};

namespace {

struct fleet_t {
  std::string edge;
  std::string lease_ms;  // as the library wants it
  std::uint64_t next_conn = 1;
  ps::FleetLeaseBook book;
  // The places this worker holds, per bucket: conn id -> user id.
  std::unordered_map<std::uint64_t, std::string> held[ps::kFleetBuckets];
  ngx_event_t timer;
  ngx_log_t* log;

  explicit fleet_t(std::uint64_t lease) : book(lease), timer() {}
};

std::unique_ptr<fleet_t> fleet;  // made in init_process when the scope is fleet

std::uint64_t now_ms() { return std::uint64_t(ngx_current_msec); }

void arm(fleet_t* f) {
  std::uint64_t due = f->book.next_due(now_ms());
  ngx_msec_t delay = 1000;  // at least once a second: cheap when nothing is due
  if (due != UINT64_MAX && due > now_ms() && due - now_ms() < delay) {
    delay = ngx_msec_t(due - now_ms());
  } else if (due != UINT64_MAX && due <= now_ms()) {
    delay = 1;
  }
  ngx_add_timer(&f->timer, delay);
}

struct renew_ctx_t {
  unsigned bucket;
  std::uint64_t sent_ms;
  bool feeds_book;  // the last chunk of a sync, or a renewal
};

void send_sync(unsigned bucket);

void on_renewed(void* data, bool ok, long long value) {
  std::unique_ptr<renew_ctx_t> ctx(static_cast<renew_ctx_t*>(data));
  if (!fleet || !ctx->feeds_book) {
    return;
  }
  if (!ok) {
    fleet->book.renew_failed(ctx->bucket, now_ms());
    return;
  }
  if (fleet->book.renewed(ctx->bucket, ctx->sent_ms, value)) {
    send_sync(ctx->bucket);
  }
}

bool call(std::vector<std::string_view>& args, unsigned bucket, bool feeds_book) {
  auto* ctx = new renew_ctx_t{bucket, now_ms(), feeds_book};
  if (ngx_ps_redis_fleet_call(args.data(), args.size(), on_renewed, ctx) == nullptr) {
    delete ctx;
    return false;
  }
  return true;
}

// Makes Redis hold exactly this worker's places in the bucket.
void send_sync(unsigned bucket) {
  try {
    std::string edges = ps::fleet_edges_key(bucket);
    std::vector<std::pair<std::string, std::string>> places;  // user key, conn id
    for (const auto& [conn, user] : fleet->held[bucket]) {
      places.emplace_back(ps::fleet_keys(user).user, ps::fleet_conn_id(conn));
    }
    std::size_t chunks = places.empty() ? 1 : (places.size() + ps::kFleetSyncChunk - 1) / ps::kFleetSyncChunk;
    for (std::size_t c = 0; c < chunks; c++) {
      std::size_t from = c * ps::kFleetSyncChunk;
      std::size_t to = std::min(places.size(), from + ps::kFleetSyncChunk);
      std::string numkeys = std::to_string(1 + (to - from));
      std::vector<std::string_view> args = {ps::kFleetSyncFunction, numkeys, edges};
      for (std::size_t i = from; i < to; i++) {
        args.push_back(places[i].first);
      }
      args.push_back(fleet->edge);
      args.push_back(fleet->lease_ms);
      args.push_back(c == 0 ? "replace" : "add");
      for (std::size_t i = from; i < to; i++) {
        args.push_back(places[i].second);
      }
      if (!call(args, bucket, c + 1 == chunks)) {
        fleet->book.renew_failed(bucket, now_ms());
        return;
      }
    }
  } catch (...) {
    fleet->book.renew_failed(bucket, now_ms());
  }
}

void on_timer(ngx_event_t* ev) {
  if (!fleet) {
    return;
  }
  try {
    for (unsigned b : fleet->book.take_due(now_ms())) {
      std::string edges = ps::fleet_edges_key(b);
      std::vector<std::string_view> args = {ps::kFleetRenewFunction, "1", edges, fleet->edge,
                                            fleet->lease_ms};
      if (!call(args, b, true)) {
        fleet->book.renew_failed(b, now_ms());
      }
    }
  } catch (...) {
    ngx_log_error(NGX_LOG_ERR, ev->log, 0, "portfolio_stream: internal error renewing fleet leases");
  }
  arm(fleet.get());
}

void on_acquired(void* data, bool ok, long long value) {
  std::unique_ptr<ngx_ps_fleet_pending_t> p(static_cast<ngx_ps_fleet_pending_t*>(data));
  if (!fleet) {
    return;
  }
  bool granted = ok && value == 1;
  if (granted) {
    try {
      fleet->held[p->bucket].emplace(p->conn_id, p->user_id);
      fleet->book.acquired(p->bucket, p->sent_ms);
      arm(fleet.get());
    } catch (...) {
      granted = false;
      ok = false;
      ngx_ps_fleet_release(p->user_id, p->conn_id);
    }
  }
  if (p->handler == nullptr) {
    if (granted) {
      ngx_ps_fleet_release(p->user_id, p->conn_id);  // the request went away meanwhile
    }
    return;
  }
  p->handler(p->data, ok, granted ? p->conn_id : 0);
}

}  // namespace

bool ngx_ps_fleet_enabled() { return fleet != nullptr; }

ngx_int_t ngx_ps_fleet_init_process(ngx_cycle_t* cycle) {
  auto* pmcf = static_cast<ngx_http_portfolio_stream_main_conf_t*>(
      ngx_http_cycle_get_module_main_conf(cycle, ngx_http_portfolio_stream_module));
  fleet.reset();
  if (pmcf == nullptr || !pmcf->limit_fleet || pmcf->stream_locations == 0) {
    return NGX_OK;
  }
  std::uint64_t r[2] = {0, 0};
  if (RAND_bytes(reinterpret_cast<unsigned char*>(r), sizeof(r)) != 1) {
    r[0] = std::uint64_t(ngx_pid) << 32 ^ std::uint64_t(ngx_time());
    r[1] = std::uint64_t(ngx_random()) << 32 | std::uint64_t(ngx_random());
  }
  try {
    fleet = std::make_unique<fleet_t>(pmcf->fleet_lease);
    fleet->edge = ps::fleet_edge_id(r[0], r[1]);
    fleet->lease_ms = std::to_string(pmcf->fleet_lease);
  } catch (...) {
    fleet.reset();
    return NGX_ERROR;
  }
  fleet->log = cycle->log;
  fleet->timer.handler = on_timer;
  fleet->timer.data = fleet.get();
  fleet->timer.log = cycle->log;
  fleet->timer.cancelable = 1;
  arm(fleet.get());
  return NGX_OK;
}

void ngx_ps_fleet_exit_process() {
  if (!fleet) {
    return;
  }
  if (fleet->timer.timer_set) {
    ngx_del_timer(&fleet->timer);
  }
  // A clean exit frees the places at once (best effort: queued before the
  // Redis connection closes; the lease frees them otherwise).
  try {
    for (unsigned b = 0; b < ps::kFleetBuckets; b++) {
      if (fleet->book.held(b) == 0) {
        continue;
      }
      std::string edges = ps::fleet_edges_key(b);
      std::string_view args[] = {ps::kFleetDropFunction, "1", edges, fleet->edge};
      (void)ngx_ps_redis_fleet_call(args, 4, nullptr, nullptr);
    }
  } catch (...) {
  }
  fleet.reset();
}

ngx_ps_fleet_pending_t* ngx_ps_fleet_acquire(std::string_view user_id, ngx_int_t limit,
                                             ngx_ps_fleet_handler_pt handler, void* data) {
  if (!fleet) {
    return nullptr;
  }
  ps::FleetKeys k = ps::fleet_keys(user_id);
  auto p = std::make_unique<ngx_ps_fleet_pending_t>();
  p->handler = handler;
  p->data = data;
  p->user_id.assign(user_id);
  p->conn_id = fleet->next_conn++;
  p->bucket = k.bucket;
  p->sent_ms = now_ms();
  std::string conn = ps::fleet_conn_id(p->conn_id);
  std::string lim = std::to_string(limit);
  std::string_view args[] = {
      ps::kFleetAcquireFunction, "2", k.user, k.edges, fleet->edge, conn, lim, fleet->lease_ms};
  p->call = ngx_ps_redis_fleet_call(args, 8, on_acquired, p.get());
  if (p->call == nullptr) {
    return nullptr;
  }
  return p.release();  // owned by on_acquired from now on
}

void ngx_ps_fleet_cancel(ngx_ps_fleet_pending_t* p) {
  p->handler = nullptr;  // on_acquired gives a late grant back
}

void ngx_ps_fleet_release(std::string_view user_id, std::uint64_t conn_id) {
  if (!fleet) {
    return;
  }
  try {
    ps::FleetKeys k = ps::fleet_keys(user_id);
    if (fleet->held[k.bucket].erase(conn_id) > 0) {
      fleet->book.released(k.bucket);
    }
    std::string conn = ps::fleet_conn_id(conn_id);
    std::string_view args[] = {ps::kFleetReleaseFunction, "2", k.user, k.edges, fleet->edge, conn};
    (void)ngx_ps_redis_fleet_call(args, 6, nullptr, nullptr);
  } catch (...) {
    // The next renewal's resync (or the lease) frees it.
  }
}

void ngx_ps_fleet_for_each_held(ngx_ps_fleet_visit_pt visit, void* ctx) {
  if (!fleet) {
    return;
  }
  for (auto& bucket : fleet->held) {
    for (const auto& [conn, user] : bucket) {
      visit(ctx, user, conn);
    }
  }
}
