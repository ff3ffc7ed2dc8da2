// Coalescing and batching of one group of connections (SPEC section 4).
// Sans-I/O: time comes in as milliseconds, nothing here reads a clock or
// writes a socket. One Batcher serves connections that receive identical
// frames (same user, same channel filter); the caller queues every Output
// frame on each of them and arms a timer at deadline().
//
// Rules (window W > 0; "frame" below always means an event frame):
//  * An event that finds nothing pending and no frame written in the last
//    window (now - last_frame >= W, or no frame yet) goes out at once, bare:
//    its own prebuilt frame, shared, not copied.
//  * Otherwise it is held. The deadline is last_frame + W; at the deadline
//    (on_timer) everything pending goes out as ONE frame. An event arriving
//    when the deadline has already passed (timer late) joins the pending
//    events and they go out at once.
//  * A frame carrying one event is that event's prebuilt frame; a frame
//    carrying more is {"type":"batch","events":[E1,E2,...]} made of the
//    published bytes (make_batch_frame).
//  * Coalescing while pending: a position_update replaces the pending
//    position_update with the same non-empty key, in its place (position in
//    the batch kept, content newer); an empty key never coalesces. An
//    account_update replaces the pending account_update in its place. Every
//    replaced event counts in coalesced().
//  * order_update and trade_executed never coalesce and never wait: they go
//    out at once, after everything pending, in one frame (bare when nothing
//    is pending), even if a frame was already written in this window.
//  * Bounds: the pending batch holds at most limits.max_events events and
//    limits.max_bytes bytes of event JSON (the sum of json_size(); the batch
//    payload adds 27 + count bytes). When holding an event (new, or
//    replacing a pending one) would exceed either bound, the pending batch
//    goes out at once as it is and the event starts the next pending batch,
//    due a full window later; order is kept. A lone event larger than
//    max_bytes is held alone. An order/trade event that flushes is always
//    put in the same frame, so that frame may exceed the bounds by it.
//  * W == 0: every event goes out at once, bare; nothing is ever pending.
//
// Consequences: publish order is kept across frames (within a frame, a
// coalesced event sits where its first pending version was); no event waits
// longer than W when on_timer is called at deadline(); at most one frame per
// window except for order/trade flushes and bound flushes.
//
// Time should not go backwards; if it does, the last frame time is pulled
// back to now (so nothing waits longer than W from now).
//
// An idle Batcher (nothing pending) owns no heap memory. Errors: functions
// that build frames or grow the pending list throw std::bad_alloc; the
// Batcher stays consistent (the event may then remain pending or be lost).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "event.h"
#include "shared_bytes.h"

namespace ps {

// Bounds of one pending batch (Batcher::Limits).
struct BatchLimits {
  std::size_t max_events = 256;        // 0 is taken as 1
  std::size_t max_bytes = 256 * 1024;  // sum of pending events' JSON bytes
};

class Batcher {
 public:
  using Limits = BatchLimits;

  // A frame to write now to every connection of the group.
  struct Output {
    SharedBytes frame;             // complete text frame (header + payload)
    std::vector<EventPtr> events;  // the events it carries, in frame order (>= 1)
  };

  explicit Batcher(std::int64_t window_ms, Limits limits = {});

  // A published event for this group at time now_ms. Returns true and fills
  // `out` (replacing its contents) when a frame must be written now; false
  // when the event is held (then check deadline()). A null ev is ignored.
  bool on_event(EventPtr ev, std::int64_t now_ms, Output& out);

  // The timer: when something is pending and now_ms >= deadline(), fills
  // `out` with everything pending as one frame and returns true; otherwise
  // false (early or spurious calls are harmless).
  bool on_timer(std::int64_t now_ms, Output& out);

  // Writes everything pending now as one frame regardless of the deadline
  // (e.g. before a graceful close). false when nothing is pending.
  bool flush(std::int64_t now_ms, Output& out);

  // Drops everything pending (the group is gone); returns how many.
  std::size_t discard();

  // When on_timer must run next: set iff something is pending.
  std::optional<std::int64_t> deadline() const;

  std::size_t pending() const { return pending_.size(); }
  std::size_t pending_bytes() const { return pending_bytes_; }
  std::uint64_t coalesced() const { return coalesced_; }  // events replaced so far
  std::int64_t window_ms() const { return window_; }

 private:
  void emit_bare(EventPtr ev, std::int64_t now_ms, Output& out);
  void emit_pending(std::int64_t now_ms, Output& out);
  std::size_t find_slot(const PublishedEvent& ev) const;  // pending index it replaces, or npos
  void clamp_time(std::int64_t now_ms);

  // Laid out small: a worker holds one batcher per connected user.
  std::int64_t last_frame_ms_ = 0;  // valid when has_last_frame_
  std::int32_t window_;             // ms, clamped to [0, INT32_MAX]
  std::uint32_t max_events_;        // limits, clamped to [1, UINT32_MAX]
  std::uint32_t max_bytes_;
  bool has_last_frame_ = false;
  std::size_t pending_bytes_ = 0;
  std::uint64_t coalesced_ = 0;
  std::vector<EventPtr> pending_;  // invariant: non-empty => has_last_frame_
};

// {"type":"batch","events":[E1,E2,...]} of the events' published bytes, as
// one text frame built in a single allocation. Throws std::bad_alloc.
SharedBytes make_batch_frame(const std::vector<EventPtr>& events);

}  // namespace ps
