// A streaming guard for RESP2 replies (what Redis sends a client), sans-I/O:
// bytes read from a Redis connection go through it before the client library
// parses them. Everything is passed on unchanged, except a bulk string whose
// declared length is over a limit: its header is rewritten as the null bulk
// "$-1\r\n" and its payload is dropped as it arrives, so that no reader ever
// has to buffer it. The guard keeps O(1) state (no allocation, at most 23
// bytes held back between calls): the length of the bulk being passed or
// dropped, and the elements still due in each enclosing array.
//
// The grammar is the one hiredis 0.14 accepts, checked as strictly:
//   reply   = "+" line | "-" line | ":" int CRLF | "$" bulk | "*" array
//   line    = bytes up to the first CRLF (at most max_line of them)
//   int     = "0" | ["-"] [1-9][0-9]*, within int64
//   bulk    = "-1" CRLF | len CRLF <len bytes> CRLF      (len: an int >= 0)
//   array   = "-1" CRLF | n CRLF <n replies>             (0 <= n <= max_elements)
// Arrays nest at most kMaxDepth deep (hiredis 0.14: "No support for nested
// multi bulk replies with depth > 7" for the next one). Anything else, a
// payload not followed by CRLF included, is malformed: the stream cannot be
// resynchronised and the connection must be dropped.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ps {

struct RespGuardLimits {
  // A bulk string whose declared length is larger is discarded (replaced by
  // a null bulk); one of exactly this length passes.
  std::uint64_t max_bulk = 512 * 1024 * 1024;
  // A status or error line with more content bytes is malformed.
  std::uint64_t max_line = 64 * 1024;
  // An array announcing more elements is malformed.
  std::uint64_t max_elements = 0x7fffffff;  // hiredis 0.14's INT_MAX
};

class RespGuard {
 public:
  static constexpr int kMaxDepth = 8;
  // The replacement of a discarded bulk: RESP's null bulk string.
  static constexpr char kMarker[] = "$-1\r\n";
  static constexpr std::size_t kMarkerSize = sizeof(kMarker) - 1;

  enum class Status : std::uint8_t { ok, malformed };

  // Receives the bytes to pass on, in order, in one or more calls per feed().
  // `bytes` points into feed()'s input or into the guard and is valid only
  // during the call. Must not call back into the guard.
  using Sink = void (*)(void* ctx, const char* bytes, std::size_t n);

  explicit RespGuard(RespGuardLimits limits = RespGuardLimits()) noexcept { reset(limits); }

  // Starts a new stream (a new connection): forgets all state and counters.
  void reset(RespGuardLimits limits) noexcept;

  // Scans the next n bytes of the stream and passes them on through sink.
  // ok: all n bytes were consumed (some may be held back until the line they
  // start is complete). malformed: the stream is broken (error() says how);
  // the bytes before the fault were passed on, none after it, and every later
  // call returns malformed without calling sink.
  Status feed(const char* in, std::size_t n, Sink sink, void* ctx) noexcept;

  Status status() const noexcept { return malformed_ ? Status::malformed : Status::ok; }
  // Why the stream is malformed (static text), or "" while it is not.
  const char* error() const noexcept { return error_; }

  // Bulk strings discarded so far, and the declared length of the last one.
  std::uint64_t discarded() const noexcept { return discarded_; }
  std::uint64_t last_discarded_length() const noexcept { return last_discarded_; }
  // Payload bytes of discarded bulks dropped so far (they arrived).
  std::uint64_t dropped_bytes() const noexcept { return dropped_; }
  // In the middle of a discarded bulk (its payload or final CRLF is due).
  bool discarding() const noexcept {
    return state_ == State::skip || state_ == State::skip_cr || state_ == State::skip_lf;
  }
  // Between two top-level replies: nothing partial is held or due.
  bool at_boundary() const noexcept { return state_ == State::type && depth_ == 0 && !malformed_; }

 private:
  enum class State : std::uint8_t {
    type,       // the type byte of the next reply
    line,       // a status/error line: content up to CRLF
    line_cr,    // ...after a CR that may end it
    number,     // ":" "$" "*" line, held in hold_
    number_lf,  // ...its CR seen, LF due
    bulk,       // passing a bulk's payload: remaining_ bytes due
    bulk_cr,    // its CR due
    bulk_lf,    // its LF due
    skip,       // dropping a discarded bulk's payload: remaining_ bytes due
    skip_cr,
    skip_lf,
  };

  // hold_: the type byte, at most 20 characters (int64 with its sign), CRLF.
  static constexpr std::size_t kMaxNumber = 20;

  enum class Number : std::uint8_t { pass, marker, malformed };

  bool fail(const char* why) noexcept;
  Number take_number() noexcept;
  const char* number_error() const noexcept;
  void complete_item() noexcept;

  RespGuardLimits limits_;
  State state_;
  bool malformed_;
  const char* error_;
  std::uint8_t hold_len_;
  char hold_[1 + kMaxNumber + 2];
  std::uint64_t line_len_;   // content bytes of the current status/error line
  std::uint64_t remaining_;  // payload bytes of the current bulk still due
  int depth_;                // enclosing arrays with elements still due
  std::uint64_t due_[kMaxDepth];
  std::uint64_t discarded_;
  std::uint64_t last_discarded_;
  std::uint64_t dropped_;
};

}  // namespace ps
