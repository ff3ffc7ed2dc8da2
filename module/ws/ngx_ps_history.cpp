// History and resume for one connection (SPEC section 8). Order of events:
// subscribed (live events are held from now on) -> read -> replay what the
// read gave -> the held events newer than the replay -> live. Every event
// that goes out moves the connection's position; nothing at or below it
// goes out again (the pub/sub copy of an event can arrive after the read
// that already had it: two sockets, no common order).

#include <utility>
#include <vector>

#include "envelope.h"
#include "event.h"
#include "server_messages.h"

#include "ngx_ps_conn.h"
#include "ngx_ps_history.h"
#include "ngx_ps_hub.h"
#include "ngx_ps_stats.h"

using conn_t = ngx_ps_conn_t;

struct ngx_ps_history_t {
  conn_t* wc;
  ps::ResumeRequest resume;  // from the handshake; present: "connected" says "recovered"
  std::string epoch;         // the history's, as the client was told
  ps::StreamId position{};   // the highest offset this connection is past
  bool position_known = false;
  bool connected = false;  // the first read is done and "connected" queued
  bool again = false;      // the subscription came back during a read: catch up after it
  // A catch-up that finished while the worker was down again (a second
  // outage during the read) says nothing yet: the client is still degraded
  // and the catch-up after the next resubscribe tells "live". lost: that
  // read found events it could not replay, so that "live" says
  // recovered:false (new_epoch: the epoch it found, when it changed).
  bool lost = false;
  std::string new_epoch;
  ngx_ps_get_t* read = nullptr;
  ps::ReplayHold<ps::EventPtr> hold;

  ngx_ps_history_t(conn_t* c, ps::ResumeRequest&& r, std::size_t hold_bytes)
      : wc(c), resume(std::move(r)), hold(kHoldEvents, hold_bytes) {}
  ~ngx_ps_history_t() {
    if (read != nullptr) {
      ngx_ps_redis_cancel(read);
    }
  }

  static constexpr std::size_t kHoldEvents = 10000;
};

void ngx_ps_history_deleter::operator()(ngx_ps_history_t* h) const noexcept { delete h; }

namespace {

void advance(ngx_ps_history_t* h, const ps::EventPtr& ev) {
  if (ev->offset && (!h->position_known || *ev->offset > h->position)) {
    h->position = *ev->offset;
    h->position_known = true;
  }
}

// Is ev new to this connection?
bool is_new(const ngx_ps_history_t* h, const ps::EventPtr& ev) {
  return !ev->offset || !h->position_known || *ev->offset > h->position;
}

// The history's entries as events for this connection: offset inserted,
// validated like a published event (an entry that is not one is dropped and
// counted), filtered by the connection's channels.
std::vector<ps::EventPtr> replay_events(conn_t* wc, ps::HistoryRead& rd) {
  std::vector<ps::EventPtr> events;
  events.reserve(rd.entries.size());
  for (auto& [id, json] : rd.entries) {
    std::string bytes = ps::with_offset(json, id);
    ps::EventInfo info;
    ps::EventError err = ps::parse_event(bytes, ngx_ps_hub_max_event_size(), info);
    if (err != ps::EventError::none) {
      ngx_ps_hub_count_invalid(err, "history");
      continue;
    }
    if (!(wc->filter & ps::channel_bit(info.channel))) {
      continue;
    }
    events.push_back(ps::make_event(bytes, std::move(info)));
  }
  return events;
}

// Sends the held events that are new, then forgets the rest.
void release_hold(ngx_ps_history_t* h) {
  std::optional<ps::StreamId> upto;
  if (h->position_known) {
    upto = h->position;
  }
  std::vector<ps::EventPtr> held = h->hold.release(upto);
  std::vector<ps::EventPtr> out;
  out.reserve(held.size());
  for (auto& ev : held) {
    if (is_new(h, ev)) {
      advance(h, ev);
      out.push_back(std::move(ev));
    }
  }
  ngx_ps_hub_send_events(h->wc, out);
}

void start_read(ngx_ps_history_t* h);

void read_done(void* data, bool ok, const std::string_view* items, std::size_t n) {
  auto* h = static_cast<ngx_ps_history_t*>(data);
  conn_t* wc = h->wc;
  h->read = nullptr;
  if (!wc->session.open()) {
    h->hold.clear();
    return;
  }
  ps::HistoryRead rd;
  bool good = ok && ps::parse_history_reply(items, n, rd);
  auto limit = static_cast<std::size_t>(wc->lcf->history_replay_limit);
  std::vector<ps::EventPtr> replay;
  ngx_log_t* log = wc->connection->log;

  if (!h->connected) {
    // First read: "connected" with the epoch, and with "recovered" on a resume.
    ps::ConnectedHistory ch;
    ch.resumed = h->resume.present;
    if (h->resume.present) {
      ps::ResumeDecision d = ps::decide_resume(h->resume, good ? &rd : nullptr, limit);
      ch.recovered = d.recovered;
      if (d.recovered) {
        replay = replay_events(wc, rd);
        h->position = d.replayed_upto;
        h->position_known = true;
        ngx_ps_stat_add(ngx_ps_stat::history_recovered, 1);
      } else {
        ngx_log_error(NGX_LOG_INFO, log, 0, "portfolio_stream: resume not recovered: %s",
                      ps::resume_reason_name(d.reason));
        ngx_ps_stat_add(ngx_ps_stat::history_not_recovered, 1);
      }
    }
    if (good) {
      h->epoch = rd.epoch;
      if (!h->position_known) {
        h->position = rd.last_id;
        h->position_known = true;
      }
    }
    std::string offset = h->position_known ? ps::to_string(h->position) : std::string();
    ch.epoch = h->epoch;
    ch.offset = offset;
    h->connected = true;
    ngx_ps_hub_send_connected(wc, &ch);
  } else {
    // After an outage: what was published while this worker was unsubscribed.
    ps::ResumeDecision d{};
    if (h->position_known) {
      d = ps::decide_catch_up(h->epoch, h->position, good ? &rd : nullptr, limit);
    }
    if (d.recovered) {
      replay = replay_events(wc, rd);
      h->position = d.replayed_upto;
      ngx_ps_stat_add(ngx_ps_stat::history_recovered, 1);
    } else {
      ngx_log_error(NGX_LOG_INFO, log, 0,
                    "portfolio_stream: events missed during a Redis outage not recovered: %s",
                    h->position_known ? ps::resume_reason_name(d.reason) : "no position");
      ngx_ps_stat_add(ngx_ps_stat::history_not_recovered, 1);
      h->lost = true;
      if (good) {
        if (rd.epoch != h->epoch) {
          h->epoch = rd.epoch;
          h->new_epoch = h->epoch;
        }
        h->position = rd.last_id;
        h->position_known = true;
      }
    }
    if (!ngx_ps_hub_user_live(wc)) {
      // Down again while reading: stay degraded; the resubscribe's catch-up
      // (wake in the hub, since degraded is still set) says live.
      h->again = false;
    } else {
      if (h->lost) {
        ngx_ps_conn_send_text(wc, ps::status_live_not_recovered(h->new_epoch));
      } else if (wc->degraded) {
        ngx_ps_hub_send_status_live(wc);
      }
      h->lost = false;
      h->new_epoch.clear();
      wc->degraded = 0;
    }
  }
  if (!replay.empty()) {
    ngx_ps_stat_add(ngx_ps_stat::history_replayed, ngx_atomic_int_t(replay.size()));
    ngx_ps_hub_send_events(wc, replay);
  }
  release_hold(h);
  if (h->again) {
    h->again = false;
    if (ngx_ps_hub_user_live(wc)) {
      start_read(h);
    }
  }
}

void start_read(ngx_ps_history_t* h) {
  conn_t* wc = h->wc;
  std::string since;
  if (h->connected) {
    if (h->position_known) {
      since = ps::to_string(h->position);
    }
  } else if (h->resume.valid) {
    since = ps::to_string(h->resume.since);
  }
  auto count = static_cast<std::size_t>(wc->lcf->history_replay_limit) + 1;
  h->read = ngx_ps_redis_history_read(ngx_ps_hub_channel(wc), since, count, read_done, h);
  if (h->read == nullptr) {
    // Cannot even be queued (too many pending, no memory): as a failed read.
    read_done(h, false, nullptr, 0);
  }
}

}  // namespace

ngx_ps_history_ptr ngx_ps_history_create(conn_t* wc, ps::ResumeRequest&& resume) {
  return ngx_ps_history_ptr(new ngx_ps_history_t(wc, std::move(resume), wc->lcf->send_limit));
}

void ngx_ps_history_live(conn_t* wc) {
  ngx_ps_history_t* h = wc->history.get();
  if (h->read != nullptr) {
    h->again = true;  // lost and back during this read: catch up after it
    return;
  }
  start_read(h);
}

bool ngx_ps_history_deliver(conn_t* wc, const ps::Batcher::Output& out) {
  ngx_ps_history_t* h = wc->history.get();
  if (h->read != nullptr) {
    for (const auto& ev : out.events) {
      if (!h->hold.hold(ev, ev->offset, ev->json_size())) {
        ngx_log_error(NGX_LOG_WARN, wc->connection->log, 0,
                      "portfolio_stream: too many events during a history read, closing with 1011");
        h->hold.clear();
        ngx_ps_conn_close(wc, ps::close_code::internal_error, "history replay overflow");
        return true;
      }
    }
    return true;
  }
  if (!h->connected) {
    return true;  // not live yet: nothing is promised before "connected"
  }
  bool all_new = true;
  for (const auto& ev : out.events) {
    if (!is_new(h, ev)) {
      all_new = false;
      break;
    }
  }
  if (all_new) {
    for (const auto& ev : out.events) {
      advance(h, ev);
    }
    return false;
  }
  std::vector<ps::EventPtr> fresh;
  for (const auto& ev : out.events) {
    if (is_new(h, ev)) {
      advance(h, ev);
      fresh.push_back(ev);
    }
  }
  ngx_ps_hub_send_events(wc, fresh);
  return true;
}
