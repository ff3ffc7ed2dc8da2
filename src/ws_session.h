// The life of one WebSocket connection after the 101, sans-I/O: the states
// open -> closing -> closed, ping/pong and the heartbeat, the close
// handshake, the send limit, and a deadline on every wait. It owns the frame
// parser and the queue of frames to write. Time is an argument (ms, any
// monotonic clock); nothing here reads a clock, a socket or a timer.
//
// The caller (module/ws) carries out what the session asks for:
//   - feed() the bytes it read; a returned text message is the app's to use;
//     peer_eof() when the peer's side ended (EOF, read error);
//   - write pending() and report written(); write_failed() on a write error;
//   - half-close its write side when wants_shutdown_write() (then
//     shutdown_write_done());
//   - call timer() once deadline() has come (one timer per connection);
//   - once state() is closed, close the socket (with a RST when abortive())
//     and release everything the connection holds.
// Every state other than closed has a deadline, so no peer can keep a
// connection (and its slots) past close_timeout once a close has begun.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "frame_parser.h"
#include "out_queue.h"
#include "shared_bytes.h"

namespace ps {

class Inflater;

struct SessionConfig {
  std::int64_t heartbeat_ms = 15000;        // ping interval; a peer silent for 2 of them is gone; 0 = off
  std::int64_t close_timeout_ms = 5000;     // from the start of a close to the socket's end, whatever happens
  std::int64_t close_wait_ms = 1000;        // after our close frame is out: wait for the peer's close
  std::int64_t message_timeout_ms = 30000;  // from a message's first byte to its last; 0 = off
  std::size_t send_limit = 1 << 20;         // bytes queued unsent before the peer is a slow consumer
  std::size_t max_message_size = 64 * 1024;  // a client message, reassembled (and inflated)
  // While the socket is full, a newer position/account update replaces a
  // queued one of the same key (out_queue.h conflate()).
  bool conflate = true;
};

// Why the connection is closing, for logs and counters.
enum class CloseCause : std::uint8_t {
  none,
  server,             // close(): shutdown (1001), session ended (4401), internal error (1011)
  peer,               // the peer sent a close frame
  protocol,           // the peer broke RFC 6455 / RFC 7692 (1002, 1003, 1007, 1009)
  slow_consumer,      // send limit exceeded (1008)
  heartbeat_timeout,  // nothing read for 2 heartbeats (1001)
  message_timeout,    // a client message took longer than message_timeout_ms (1008)
  eof,                // the peer's side ended without a close handshake
  write_error,        // the socket failed
};

class WsSession {
 public:
  enum class State : std::uint8_t { open, closing, closed };
  enum class Feed : std::uint8_t { done, text };
  enum class Send : std::uint8_t { queued, conflated, not_open, slow_consumer };

  // config is not copied (one per location, shared by its connections): it
  // must outlive the session. permessage_deflate: negotiated for this
  // connection (always with client_no_context_takeover).
  WsSession(const SessionConfig& config, std::int64_t now, bool permessage_deflate = false);
  WsSession(const SessionConfig&& config, std::int64_t now, bool permessage_deflate = false) = delete;

  // ---- inputs ----------------------------------------------------------------
  // Consumes bytes from the front of `in`. Returns text when a complete client
  // message is ready (text(), valid until the next feed()); call again with the
  // rest until done. Control frames are answered here; a protocol violation
  // starts the close with the right code. While closing only the peer's
  // close frame is looked for; text messages are dropped. `inflater` (shared
  // per worker) inflates compressed messages; it may be null without deflate.
  Feed feed(std::string_view& in, std::int64_t now, Inflater* inflater);
  std::string_view text() const { return text_; }

  // The peer's side ended (EOF or read error): closed, abortive if anything
  // of ours is still unsent.
  void peer_eof();

  // Queues an application frame (events, replies) under send_limit. Over the
  // limit the unstarted frames are discarded and the close (1008) begins.
  Send send(SharedBytes frame, std::int64_t now);
  // send() for a frame carrying exactly the one event ev: while the socket is
  // full (write_blocked() since the last drain) a queued frame of the same
  // position/account key is replaced instead (conflated), when the config
  // says so. Order and trade events are never conflated.
  Send send_event(SharedBytes frame, const EventPtr& ev, std::int64_t now, std::int64_t stamp = 0);
  // Queues a frame that must go out whatever the limit (the 101 response).
  void send_unlimited(SharedBytes frame);

  // Begins a server-initiated close (no-op unless open): frames already
  // queued go first, then the close frame.
  void close(std::uint16_t code, std::string_view reason, std::int64_t now);

  // Call when deadline() has come (earlier calls are harmless).
  void timer(std::int64_t now);

  // The caller's own periodic work while open (module/ws: the session
  // re-read of portfolio_stream_session_recheck) rides on the same deadline,
  // so a connection needs one timer: deadline() includes `at`, and once it
  // has come timer() makes take_recheck() true, once. Ignored unless open.
  void schedule_recheck(std::int64_t at) {
    if (open()) recheck_at_ = at;
  }
  // The next drain frees the queue's storage (see release_when_drained_):
  // for the caller's frame after which a connection usually idles
  // ("connected").
  void release_when_drained() { release_when_drained_ = true; }
  bool take_recheck() {
    const bool due = recheck_due_ && open();
    recheck_due_ = false;
    return due;
  }

  // Ends the connection at once (an internal error while closing, worker
  // exit): closed, abortive when anything is unsent.
  void abort();

  // ---- outputs ---------------------------------------------------------------
  // The next bytes to write; empty when nothing is queued (or closed).
  std::string_view pending() const;
  // The same for up to max queued frames at once (a gathering write); the
  // number of views filled, 0 when nothing is queued (or closed).
  std::size_t pending(std::string_view* out, std::size_t max) const {
    return state_ == State::closed ? 0 : out_.gather(out, max);
  }
  // n bytes of pending() (or of a longer gather of the queue) were written.
  // Returns the earliest send_event stamp among the frames this completed
  // (0: none).
  std::int64_t written(std::size_t n, std::int64_t now);
  void write_failed();
  // The socket took less than was pending: the client lags until the queue
  // is drained again.
  void write_blocked() { blocked_ = true; }
  bool blocked() const { return blocked_; }
  const OutQueue& queue() const { return out_; }

  // Our close frame is fully written and the peer's close has not come:
  // shut the write side (a FIN the peer sees) and keep reading for its close.
  bool wants_shutdown_write() const { return close_written_ && !peer_closed_ && !shutdown_done_; }
  void shutdown_write_done() { shutdown_done_ = true; }

  // The earliest time timer() must run; nullopt when there is nothing to wait
  // for (closed, or open with heartbeat and message timeout off and idle).
  std::optional<std::int64_t> deadline() const;

  State state() const { return state_; }
  bool open() const { return state_ == State::open; }
  // Closed with bytes of ours unsent: the socket should be reset, not shut.
  bool abortive() const { return abortive_; }
  CloseCause cause() const { return cause_; }
  std::uint16_t close_code() const { return close_code_; }  // the code we sent (0: none)

  // Frames the session queued by itself (pings, pongs, close frames) since
  // the last call: for the frames-sent counter.
  std::uint32_t take_control_frames() {
    std::uint32_t n = control_frames_;
    control_frames_ = 0;
    return n;
  }
  // The peer's last bytes were read at this time.
  std::int64_t last_seen() const { return last_seen_; }
  // Memory a connection holds beyond sizeof(*this) (for accounting).
  std::size_t buffered() const { return parser_.buffered(); }

 private:
  void begin_close(std::uint16_t code, std::string_view reason, CloseCause cause, std::int64_t now,
                   bool discard_queued);
  void finish(bool abortive);
  void track_message(std::int64_t now);

  // Open and closing never need the same times: each pair shares a slot
  // (an idle connection holds one session; keep it small).
  std::int64_t& next_ping_() { return t1_; }         // open: when the next ping is due
  std::int64_t& close_deadline_() { return t1_; }    // closing: the end, whatever happens
  std::int64_t& message_started_() { return t2_; }   // open: first byte of a message, -1: idle
  std::int64_t& close_wait_until_() { return t2_; }  // closing, ours written: wait for the peer's
  std::int64_t next_ping_() const { return t1_; }
  std::int64_t close_deadline_() const { return t1_; }
  std::int64_t message_started_() const { return t2_; }
  std::int64_t close_wait_until_() const { return t2_; }

  const SessionConfig& config_;
  FrameParser parser_;
  OutQueue out_;
  std::string_view text_;
  std::int64_t last_seen_;
  std::int64_t t1_ = 0;
  std::int64_t t2_ = -1;
  std::int64_t recheck_at_ = -1;  // open: when take_recheck() becomes true, -1: none
  std::uint32_t control_frames_ = 0;
  std::uint16_t close_code_ = 0;
  State state_ = State::open;
  CloseCause cause_ = CloseCause::none;
  bool peer_closed_ = false;    // the peer's close frame came, or the peer is gone
  bool close_written_ = false;  // our close frame is fully written
  bool shutdown_done_ = false;
  bool abortive_ = false;
  bool blocked_ = false;  // write_blocked() since the queue was last empty
  bool recheck_due_ = false;
  // The next drain frees the queue's storage: set at the start (the 101 and
  // "connected" go out, then most connections idle) and at each heartbeat
  // ping, so an idle connection holds none while a busy one frees it at most
  // once per heartbeat.
  bool release_when_drained_ = true;
};

}  // namespace ps
