// Per-connection queue of frames waiting for the socket. Holds references to
// shared frame bytes (no copies) and counts queued bytes against send_limit.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "event.h"
#include "shared_bytes.h"

namespace ps {

class OutQueue {
 public:
  // false (and nothing queued) when it would take the queue past limit bytes;
  // a frame larger than limit is refused even by an empty queue. Empty frames
  // are accepted and dropped (front() is never empty on a non-empty queue).
  bool push(SharedBytes frame, std::size_t limit);
  // Pushes regardless of the limit (close frames, control replies).
  void push_unlimited(SharedBytes frame);

  // Conflation (a client that cannot keep up): `ev` is a position_update
  // with a key, or an account_update, and `frame` carries only it. When a
  // frame carrying a single event of the same type (and key) is queued and
  // not started, it is replaced in place by `frame` (it takes that frame's
  // place in the queue) and true is returned; else false and nothing
  // changed (also when the newer frame is larger and would take the queue
  // past `limit`). Only the last kConflateScan queued frames are looked at.
  bool conflate(const EventPtr& ev, SharedBytes& frame, std::size_t limit);
  // push() that remembers `ev` for conflate() (when it is conflatable) and
  // a `stamp` (e.g. when it was queued) that consume() reports once written.
  bool push_event(SharedBytes frame, const EventPtr& ev, std::size_t limit, std::int64_t stamp = 0);
  static constexpr std::size_t kConflateScan = 1024;
  static bool conflatable(const PublishedEvent& ev) {
    return (ev.type == EventType::position_update && !ev.key.empty()) || ev.type == EventType::account_update;
  }

  bool empty() const { return head_ == items_.size(); }
  std::size_t bytes() const { return bytes_; }

  // The unsent part of the front frame.
  std::string_view front() const;
  // The unsent bytes of up to max frames, in order (front first), for one
  // gathering write; returns how many views were filled.
  std::size_t gather(std::string_view* out, std::size_t max) const;
  // Marks n bytes as written (n <= bytes(); may span several frames). Drained,
  // the queue releases its slot storage if it grew beyond a few entries.
  // Returns the earliest stamp (push_event) of the frames this completed, 0
  // when none had one.
  std::int64_t consume(std::size_t n);
  void clear();
  // Frees the slot storage of an empty queue (no-op otherwise): an idle
  // connection then holds no heap memory for its queue.
  void release();
  std::size_t capacity() const { return items_.capacity(); }
  // Drops every frame not yet started; a partly written front frame stays so
  // the stream of frames remains well-formed (used before a close frame).
  void discard_unstarted();

 private:
  struct Item {
    SharedBytes frame;
    std::size_t offset;
    EventPtr event;      // the one conflatable event the frame carries, or null
    std::int64_t stamp;  // push_event's, 0: none
  };
  std::vector<Item> items_;
  std::size_t head_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace ps
