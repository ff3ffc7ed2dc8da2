// History and resume (SPEC section 8), the nginx-free half: the resume query,
// offsets in event bytes, the reply of portfolio_stream_read, the recover /
// not-recovered decision, and the hold that keeps live events back while a
// history read is in flight. No I/O; the Redis Functions library itself is in
// history_function.h (and redis/portfolio_stream.lua).
//
// How the module uses it, per connection with history on:
//   1. subscribe the user's channel first; from then on every live event goes
//      into a ReplayHold (with event_offset() of its bytes) instead of out;
//   2. FCALL portfolio_stream_read 1 <channel> <since or ""> <limit + 1> <ttl>;
//      parse_history_reply() the answer (a failed read: pass nullptr below);
//   3. fresh connection: recovered is not decided; the connection's offset
//      starts at read.last_id; release_all() the hold.
//      resume (?since&epoch): decide_resume(); if recovered, send each of
//      read.entries as with_offset(json, id) (parse_event() still applies:
//      an entry that is not a valid event is dropped and counted), then
//      release(decision.replayed_upto); if not, release_all();
//   4. after a Redis outage, once resubscribed: decide_catch_up() with the
//      connection's epoch and the highest offset it was sent, then as in 3.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stream_id.h"

namespace ps {

// --- the resume query --------------------------------------------------------

// An epoch as the module accepts it from a client: 1-64 bytes of
// [A-Za-z0-9._:-]. (The library makes them of [0-9a-z], at most 17 bytes.)
inline constexpr std::size_t kEpochMaxLen = 64;
bool valid_epoch(std::string_view epoch) noexcept;

struct ResumeRequest {
  // `since` or `epoch` appeared at least once (with or without a value).
  bool present = false;
  // Both appeared exactly once and both are well-formed; since and epoch are
  // only meaningful then.
  bool valid = false;
  StreamId since{};
  std::string epoch;  // percent-decoded; empty unless valid
};

// args: nginx's raw query string (r->args: no '?', not decoded). Pairs are
// split at '&'; names and values are percent-decoded (%XX; a bad escape makes
// that name unknown or that value malformed; '+' stays '+'); names match
// case-insensitively, like nginx's $arg_*; other args are ignored. Any length
// and content is safe; nothing is allocated beyond the epoch's 64 bytes.
// Throws std::bad_alloc only.
ResumeRequest parse_resume_query(std::string_view args);

// --- offsets in event bytes ----------------------------------------------------

// The offset of an event as portfolio_stream_publish sends it: optional JSON
// whitespace, '{', then exactly "offset":"<ms-seq>" followed by ',', '}' or
// whitespace. A prefix check, O(length of the id); nullopt otherwise (plain
// PUBLISH events, or anything else).
std::optional<StreamId> event_offset(std::string_view json) noexcept;

// json with "offset":"<id>" inserted right after its first '{', followed by a
// ',' unless the object is empty ('{', whitespace, '}'); every other byte
// kept. Exactly what the Lua library does, for replayed entries (stored
// without it). When the first non-whitespace byte is not '{', returns json
// unchanged (and event_offset() of it stays nullopt). Throws std::bad_alloc.
std::string with_offset(std::string_view json, StreamId id);

// --- reading the history -------------------------------------------------------

struct HistoryRead {
  std::string epoch;       // the history's epoch (created by the read if there was none)
  StreamId last_id{};      // the stream's last-generated-id (0-0: no entry ever)
  StreamId max_deleted{};  // its max-deleted-entry-id: entries up to here may be gone
  // Entries after `since`, oldest first, as stored (without the offset).
  std::vector<std::pair<StreamId, std::string>> entries;
};

// The reply of portfolio_stream_read, as its n elements in order (all bulk
// strings): [epoch, last_generated_id, max_deleted_entry_id, id1, json1, ...].
// Fills out (replacing what was there) and returns true; false when the shape
// is wrong (n < 3 or an odd number of entry elements), the epoch is not
// valid_epoch(), or an id does not parse: treat that as an unreadable history.
// Throws std::bad_alloc only.
bool parse_history_reply(const std::string_view* items, std::size_t n, HistoryRead& out);

enum class ResumeReason : std::uint8_t {
  ok,             // recovered
  malformed,      // since/epoch missing, repeated or not well-formed
  epoch_changed,  // the history is not the one the client's offset belongs to
  too_old,        // since < max_deleted: events after since may have been trimmed or deleted
  from_future,    // since > last_id: an offset this history never gave
  over_limit,     // more than replay_limit entries after since
  unreadable,     // the read failed (Redis error, no Functions, bad reply)
};

// "ok", "malformed", "epoch_changed", "too_old", "from_future", "over_limit",
// "unreadable" (static strings, for logs).
const char* resume_reason_name(ResumeReason r) noexcept;

struct ResumeDecision {
  bool recovered = false;
  ResumeReason reason = ResumeReason::unreadable;
  // When recovered: the offset the connection has after the replay (the last
  // replayed id, or since when nothing was missed). Held live events with an
  // offset <= this are duplicates: ReplayHold::release(replayed_upto).
  StreamId replayed_upto{};
};

// The client's resume against what was read (nullptr: the read failed). The
// read must have asked for replay_limit + 1 entries, so that "more than the
// limit" shows. When recovered, read->entries is pruned in place to exactly
// the entries to replay, in order: ids > since and strictly increasing (a
// non-increasing id is skipped defensively). When not, read->entries is
// cleared and nothing is replayed. Checks, in order: malformed (!req.valid),
// unreadable, epoch_changed, from_future, too_old, over_limit. noexcept.
ResumeDecision decide_resume(const ResumeRequest& req, HistoryRead* read, std::size_t replay_limit) noexcept;

// The same after a Redis outage: epoch = the one the connection was given,
// since = the highest offset it was sent (or the read.last_id of its first
// read when it was sent none).
ResumeDecision decide_catch_up(std::string_view epoch, StreamId since, HistoryRead* read,
                               std::size_t replay_limit) noexcept;

// --- holding live events while a read is in flight ------------------------------

// Live events that arrive between the subscription and the history read's
// answer, in arrival order, each with its offset if it has one. Bounded by
// an item count and a byte budget (bytes = whatever the caller counts for an
// item, e.g. its size); the first item over either limit is refused and the
// hold stays overflowed() until released: the module then fails the
// connection cleanly (e.g. close 1011 or 1008) instead of growing. E must be
// movable. Not thread-safe (one worker). Throws std::bad_alloc from hold().
template <class E>
class ReplayHold {
 public:
  ReplayHold(std::size_t max_items, std::size_t max_bytes) noexcept
      : max_items_(max_items), max_bytes_(max_bytes) {}

  // Takes item. Returns false (item dropped, overflowed() true from now on)
  // when it does not fit or the hold has already overflowed.
  bool hold(E item, std::optional<StreamId> offset, std::size_t bytes) {
    if (overflowed_ || items_.size() >= max_items_ || bytes > max_bytes_ - bytes_) {
      overflowed_ = true;
      return false;
    }
    items_.push_back(Held{std::move(item), offset});
    bytes_ += bytes;
    return true;
  }

  bool overflowed() const noexcept { return overflowed_; }
  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  std::size_t bytes() const noexcept { return bytes_; }

  // The held items in arrival order, without those whose offset is <=
  // *drop_upto (duplicates of the replay); items without an offset are always
  // kept; drop_upto = nullopt keeps everything. *dropped (if given) = how many
  // were left out. The hold is empty and not overflowed afterwards.
  std::vector<E> release(std::optional<StreamId> drop_upto, std::size_t* dropped = nullptr) {
    std::vector<E> out;
    out.reserve(items_.size());
    std::size_t n = 0;
    for (Held& h : items_) {
      if (drop_upto && h.offset && *h.offset <= *drop_upto) {
        ++n;
        continue;
      }
      out.push_back(std::move(h.item));
    }
    clear();
    if (dropped) *dropped = n;
    return out;
  }
  std::vector<E> release_all() { return release(std::nullopt); }

  // Drops everything (e.g. the connection closed); not overflowed afterwards.
  void clear() noexcept {
    items_.clear();
    bytes_ = 0;
    overflowed_ = false;
  }

 private:
  struct Held {
    E item;
    std::optional<StreamId> offset;
  };
  std::vector<Held> items_;
  std::size_t max_items_;
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  bool overflowed_ = false;
};

}  // namespace ps
