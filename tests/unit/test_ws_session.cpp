// Every transition of the WebSocket session (src/ws_session.h), including the
// ones that found bugs before: a peer that never reads during a close (the
// close deadline), a close frame lost to a RST (drain after a protocol
// error), a trickled message (message timeout), writes after the close.
#include <gtest/gtest.h>

#include <string>

#include "frame_writer.h"
#include "permessage_deflate.h"
#include "test_support.h"
#include "ws_session.h"

namespace ps {
namespace {

using State = WsSession::State;
using test_support::parse_frame;

// A masked client frame.
std::string client_frame(std::uint8_t opcode, std::string_view payload, bool fin = true, bool rsv1 = false) {
  std::string out;
  out += static_cast<char>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode);
  const char key[4] = {0x11, 0x22, 0x33, 0x44};
  if (payload.size() < 126) {
    out += static_cast<char>(0x80 | payload.size());
  } else {
    out += static_cast<char>(0x80 | 126);
    out += static_cast<char>(payload.size() >> 8);
    out += static_cast<char>(payload.size() & 0xff);
  }
  out.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) out += static_cast<char>(payload[i] ^ key[i & 3]);
  return out;
}

std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
  std::string p;
  p += static_cast<char>(code >> 8);
  p += static_cast<char>(code & 0xff);
  p.append(reason);
  return p;
}

SessionConfig make_config() {
  SessionConfig c;
  c.heartbeat_ms = 1000;
  c.close_timeout_ms = 5000;
  c.close_wait_ms = 1000;
  c.message_timeout_ms = 3000;
  c.send_limit = 4096;
  c.max_message_size = 1024;
  return c;
}

// Sessions keep a reference to their config: one that outlives them all.
const SessionConfig& config() {
  static const SessionConfig c = make_config();
  return c;
}

// Writes everything queued, as a socket that takes it all would.
std::string drain(WsSession& s, std::int64_t now) {
  std::string out;
  for (std::string_view p = s.pending(); !p.empty(); p = s.pending()) {
    out.append(p);
    s.written(p.size(), now);
  }
  return out;
}

// Splits written bytes into server frames (each one checked).
std::vector<std::string> frames_of(std::string_view bytes) {
  std::vector<std::string> frames;
  while (!bytes.empty()) {
    std::size_t len = static_cast<unsigned char>(bytes[1]) & 0x7f;
    std::size_t h = 2;
    if (len == 126) {
      len = (std::size_t(static_cast<unsigned char>(bytes[2])) << 8) | static_cast<unsigned char>(bytes[3]);
      h = 4;
    }
    std::string f(bytes.substr(0, h + len));
    EXPECT_TRUE(parse_frame(f).ok);
    frames.push_back(f);
    bytes.remove_prefix(h + len);
  }
  return frames;
}

std::uint16_t close_code_of(std::string_view frame) {
  auto f = parse_frame(frame);
  EXPECT_EQ(f.opcode, 0x8u);
  if (f.payload.size() < 2) return 1005;
  return std::uint16_t((static_cast<unsigned char>(f.payload[0]) << 8) |
                       static_cast<unsigned char>(f.payload[1]));
}

SharedBytes text_frame(std::string_view s) { return make_shared_frame(Opcode::text, s); }

WsSession::Feed feed_all(WsSession& s, std::string_view bytes, std::int64_t now,
                         std::string* text = nullptr) {
  WsSession::Feed last = WsSession::Feed::done;
  while (!bytes.empty()) {
    last = s.feed(bytes, now, nullptr);
    if (last == WsSession::Feed::text && text) *text = std::string(s.text());
    if (last == WsSession::Feed::done) break;
  }
  return last;
}

TEST(WsSession, StartsOpenWithHeartbeatDeadline) {
  WsSession s(config(), 100);
  EXPECT_EQ(s.state(), State::open);
  EXPECT_EQ(s.deadline(), 1100);
  EXPECT_TRUE(s.pending().empty());
  EXPECT_FALSE(s.wants_shutdown_write());
}

TEST(WsSession, NoDeadlineWhenHeartbeatAndMessageTimeoutOff) {
  SessionConfig c = make_config();
  c.heartbeat_ms = 0;
  c.message_timeout_ms = 0;
  WsSession s(c, 0);
  EXPECT_FALSE(s.deadline().has_value());
}

TEST(WsSession, TextMessageIsReturned) {
  WsSession s(config(), 0);
  std::string in = client_frame(0x1, "{\"type\":\"ping\"}");
  std::string_view v = in;
  ASSERT_EQ(s.feed(v, 10, nullptr), WsSession::Feed::text);
  EXPECT_EQ(s.text(), "{\"type\":\"ping\"}");
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(s.feed(v, 10, nullptr), WsSession::Feed::done);
  EXPECT_EQ(s.last_seen(), 10);
}

TEST(WsSession, TwoMessagesInOneRead) {
  WsSession s(config(), 0);
  std::string in = client_frame(0x1, "a") + client_frame(0x1, "b");
  std::string_view v = in;
  ASSERT_EQ(s.feed(v, 1, nullptr), WsSession::Feed::text);
  EXPECT_EQ(s.text(), "a");
  ASSERT_EQ(s.feed(v, 1, nullptr), WsSession::Feed::text);
  EXPECT_EQ(s.text(), "b");
  EXPECT_EQ(s.feed(v, 1, nullptr), WsSession::Feed::done);
}

TEST(WsSession, PingIsAnsweredWithPong) {
  WsSession s(config(), 0);
  feed_all(s, client_frame(0x9, "hi"), 5);
  auto frames = frames_of(drain(s, 5));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(parse_frame(frames[0]).opcode, 0xAu);
  EXPECT_EQ(parse_frame(frames[0]).payload, "hi");
  EXPECT_EQ(s.take_control_frames(), 1u);
  EXPECT_EQ(s.take_control_frames(), 0u);
}

TEST(WsSession, PongsCountAgainstTheSendLimit) {
  SessionConfig c = make_config();
  c.send_limit = 1024;
  WsSession s(c, 0);
  std::string ping = client_frame(0x9, std::string(125, 'x'));
  for (int i = 0; i < 20 && s.open(); ++i) feed_all(s, ping, 1);
  EXPECT_EQ(s.state(), State::closing);
  EXPECT_EQ(s.cause(), CloseCause::slow_consumer);
  EXPECT_EQ(s.close_code(), 1008);
}

TEST(WsSession, HeartbeatPingsThenTimesOutASilentPeer) {
  WsSession s(config(), 0);
  s.timer(1000);
  auto frames = frames_of(drain(s, 1000));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(parse_frame(frames[0]).opcode, 0x9u);
  EXPECT_EQ(s.deadline(), 2000);
  s.timer(2000);  // silent for 2 intervals
  EXPECT_EQ(s.state(), State::closing);
  EXPECT_EQ(s.cause(), CloseCause::heartbeat_timeout);
  auto out = frames_of(drain(s, 2000));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(close_code_of(out[0]), 1001);
  // A silent peer will not answer: closed once our close is out.
  EXPECT_EQ(s.state(), State::closed);
  EXPECT_FALSE(s.abortive());
}

TEST(WsSession, HeartbeatKeptAliveByAnyBytes) {
  WsSession s(config(), 0);
  s.timer(1000);
  drain(s, 1000);
  feed_all(s, client_frame(0xA, ""), 1500);  // a pong
  s.timer(2000);
  EXPECT_TRUE(s.open());
  s.timer(3000);
  EXPECT_TRUE(s.open());
  s.timer(4000);  // 2500 ms silent >= 2000
  EXPECT_EQ(s.cause(), CloseCause::heartbeat_timeout);
}

TEST(WsSession, EarlyTimerCallIsHarmless) {
  WsSession s(config(), 0);
  s.timer(10);
  EXPECT_TRUE(s.open());
  EXPECT_TRUE(s.pending().empty());
}

// An idle connection holds no queue storage: freed at the first drain (the
// 101 and "connected"), and again at the drain after each heartbeat ping.
TEST(WsSession, IdleConnectionHoldsNoQueueStorage) {
  WsSession s(config(), 0);
  s.send_unlimited(text_frame("HTTP/1.1 101"));
  ASSERT_EQ(s.send(text_frame("connected"), 0), WsSession::Send::queued);
  drain(s, 0);
  EXPECT_EQ(s.queue().capacity(), 0u);
  ASSERT_EQ(s.send(text_frame("event"), 10), WsSession::Send::queued);
  drain(s, 10);
  EXPECT_GT(s.queue().capacity(), 0u);  // a busy connection keeps it between frames
  s.timer(1000);                        // the heartbeat ping
  ASSERT_FALSE(s.pending().empty());
  drain(s, 1000);
  EXPECT_EQ(s.queue().capacity(), 0u);
}

// The session re-read (module/ws) needs no timer of its own.
TEST(WsSession, RecheckRidesOnTheDeadlineAndComesOnce) {
  WsSession s(config(), 0);
  ASSERT_EQ(s.deadline(), 1000);  // the heartbeat
  s.schedule_recheck(300);
  EXPECT_EQ(s.deadline(), 300);
  s.timer(200);  // early: not yet
  EXPECT_FALSE(s.take_recheck());
  s.timer(300);
  EXPECT_TRUE(s.take_recheck());
  EXPECT_FALSE(s.take_recheck());  // once
  EXPECT_EQ(s.deadline(), 1000);
  EXPECT_TRUE(s.pending().empty());  // no ping yet
  s.schedule_recheck(5000);
  EXPECT_EQ(s.deadline(), 1000);  // the earlier one
  s.timer(1000);
  EXPECT_FALSE(s.take_recheck());
  EXPECT_EQ(s.deadline(), 2000);
}

TEST(WsSession, RecheckAloneIsADeadlineAndNeverOutlivesOpen) {
  SessionConfig c = make_config();
  c.heartbeat_ms = 0;
  c.message_timeout_ms = 0;
  WsSession s(c, 0);
  ASSERT_FALSE(s.deadline().has_value());
  s.schedule_recheck(50);
  EXPECT_EQ(s.deadline(), 50);
  s.close(4401, "session expired", 10);
  EXPECT_EQ(s.deadline(), 10 + c.close_timeout_ms);  // the close's, not the re-read's
  s.timer(60);
  EXPECT_FALSE(s.take_recheck());
  s.schedule_recheck(70);  // ignored unless open
  EXPECT_EQ(s.deadline(), 10 + c.close_timeout_ms);
}

// The bug of issue 14: a close whose peer never reads must still end.
TEST(WsSession, CloseDeadlineEndsAPeerThatNeverReads) {
  WsSession s(config(), 0);
  ASSERT_EQ(s.send(text_frame(std::string(3000, 'e')), 0), WsSession::Send::queued);
  s.written(100, 0);  // the socket took a little, then stopped
  s.close(4401, "session expired", 10);
  EXPECT_EQ(s.state(), State::closing);
  EXPECT_EQ(s.deadline(), 5010);
  // Nothing cancels the deadline: more timers, more input, more sends.
  EXPECT_EQ(s.send(text_frame("late"), 20), WsSession::Send::not_open);
  s.timer(3000);
  EXPECT_EQ(s.state(), State::closing);
  feed_all(s, client_frame(0x1, "hello"), 4000);
  EXPECT_EQ(s.deadline(), 5010);
  s.timer(5010);
  EXPECT_EQ(s.state(), State::closed);
  EXPECT_TRUE(s.abortive());  // unsent bytes: reset
  EXPECT_TRUE(s.pending().empty());
  EXPECT_FALSE(s.deadline().has_value());
}

TEST(WsSession, CloseDeadlineAppliesToEveryKindOfClose) {
  struct Case {
    const char* name;
    void (*start)(WsSession&);
  };
  const Case cases[] = {
      {"server", [](WsSession& s) { s.close(1001, "server shutting down", 0); }},
      {"slow consumer",
       [](WsSession& s) {
         while (s.send(text_frame(std::string(1000, 'x')), 0) == WsSession::Send::queued) {
         }
       }},
      {"heartbeat",
       [](WsSession& s) {
         s.timer(1000);
         s.timer(2000);
       }},
      {"protocol", [](WsSession& s) { feed_all(s, client_frame(0x2, "bin"), 0); }},
      {"peer close", [](WsSession& s) { feed_all(s, client_frame(0x8, close_payload(1000)), 0); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    WsSession s(config(), 0);
    ASSERT_EQ(s.send(text_frame(std::string(2000, 'q')), 0), WsSession::Send::queued);
    c.start(s);
    ASSERT_EQ(s.state(), State::closing);
    auto d = s.deadline();
    ASSERT_TRUE(d.has_value());
    EXPECT_LE(*d, 2000 + 5000);
    s.timer(*d);
    EXPECT_EQ(s.state(), State::closed);
    EXPECT_TRUE(s.abortive());
  }
}

TEST(WsSession, SlowConsumerDiscardsUnstartedFramesButKeepsAPartialOne) {
  WsSession s(config(), 0);
  ASSERT_EQ(s.send(text_frame(std::string(2000, 'a')), 0), WsSession::Send::queued);
  s.written(10, 0);
  ASSERT_EQ(s.send(text_frame(std::string(1500, 'b')), 0), WsSession::Send::queued);
  EXPECT_EQ(s.send(text_frame(std::string(1500, 'c')), 0), WsSession::Send::slow_consumer);
  EXPECT_EQ(s.cause(), CloseCause::slow_consumer);
  std::string rest = drain(s, 1);
  // the rest of frame a, then the close frame: b and c are gone.
  EXPECT_EQ(rest.size(), 2004 - 10 + 2 + 2 + std::string("slow consumer").size());
  EXPECT_EQ(close_code_of(rest.substr(2004 - 10)), 1008);
}

TEST(WsSession, ServerCloseSendsQueuedFramesFirst) {
  WsSession s(config(), 0);
  ASSERT_EQ(s.send(text_frame("event"), 0), WsSession::Send::queued);
  s.close(4401, "session expired", 0);
  auto frames = frames_of(drain(s, 0));
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(parse_frame(frames[0]).payload, "event");
  EXPECT_EQ(close_code_of(frames[1]), 4401);
  // Our close is out, the peer has not answered: half-close and wait.
  EXPECT_TRUE(s.wants_shutdown_write());
  s.shutdown_write_done();
  EXPECT_FALSE(s.wants_shutdown_write());
  EXPECT_EQ(s.deadline(), 1000);  // close_wait
  feed_all(s, client_frame(0x8, close_payload(4401)), 500);
  EXPECT_EQ(s.state(), State::closed);
  EXPECT_FALSE(s.abortive());
}

TEST(WsSession, CloseWaitEndsWhenThePeerNeverAnswers) {
  WsSession s(config(), 0);
  s.close(1000, {}, 0);
  drain(s, 100);
  EXPECT_EQ(s.deadline(), 1100);
  s.timer(1100);
  EXPECT_EQ(s.state(), State::closed);
  EXPECT_FALSE(s.abortive());
}

TEST(WsSession, CloseWaitNeverOutlastsTheCloseDeadline) {
  WsSession s(config(), 0);
  ASSERT_EQ(s.send(text_frame(std::string(100, 'x')), 0), WsSession::Send::queued);
  s.close(1000, {}, 0);
  drain(s, 4800);  // written late
  EXPECT_EQ(s.deadline(), 5000);
}

TEST(WsSession, PeerCloseIsEchoedThenClosed) {
  WsSession s(config(), 0);
  feed_all(s, client_frame(0x8, close_payload(1000, "bye")), 0);
  EXPECT_EQ(s.state(), State::closing);
  EXPECT_EQ(s.cause(), CloseCause::peer);
  auto frames = frames_of(drain(s, 0));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(close_code_of(frames[0]), 1000);
  EXPECT_EQ(s.state(), State::closed);
  EXPECT_FALSE(s.wants_shutdown_write());
}

TEST(WsSession, PeerCloseWithoutCodeIsEchoedWithoutCode) {
  WsSession s(config(), 0);
  feed_all(s, client_frame(0x8, ""), 0);
  auto frames = frames_of(drain(s, 0));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(parse_frame(frames[0]).payload.empty());
}

TEST(WsSession, PeerCloseAfterOursCompletesTheHandshake) {
  WsSession s(config(), 0);
  ASSERT_EQ(s.send(text_frame(std::string(500, 'x')), 0), WsSession::Send::queued);
  s.close(1001, "server shutting down", 0);
  feed_all(s, client_frame(0x8, close_payload(1001)), 10);  // before ours is written
  EXPECT_EQ(s.state(), State::closing);
  drain(s, 20);
  EXPECT_EQ(s.state(), State::closed);
  EXPECT_FALSE(s.abortive());
}

TEST(WsSession, TextIgnoredWhileClosing) {
  WsSession s(config(), 0);
  s.close(1000, {}, 0);
  std::string text;
  EXPECT_EQ(feed_all(s, client_frame(0x1, "late"), 1, &text), WsSession::Feed::done);
  EXPECT_TRUE(text.empty());
}

// The conformance bug: closing right away with unread input sent a RST that
// destroyed the close frame. After a protocol error the session drains.
TEST(WsSession, ProtocolErrorClosesWithItsCodeAndDrains) {
  struct Case {
    std::string bytes;
    std::uint16_t code;
  };
  std::string unmasked = client_frame(0x1, "x");
  unmasked[1] = static_cast<char>(unmasked[1] & 0x7f);
  const Case cases[] = {
      {client_frame(0x2, "binary"), 1003},
      {client_frame(0x3, "reserved"), 1002},
      {client_frame(0x1, "\xff\xfe"), 1007},
      {client_frame(0x1, std::string(1025, 'x')), 1009},
      {client_frame(0x0, "cont"), 1002},
      {client_frame(0x9, "ping", false), 1002},
      {client_frame(0x1, "rsv", true, true), 1002},  // RSV1 without deflate
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.code);
    WsSession s(config(), 0);
    feed_all(s, c.bytes + client_frame(0x1, "more"), 0);
    EXPECT_EQ(s.cause(), CloseCause::protocol);
    auto frames = frames_of(drain(s, 0));
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(close_code_of(frames[0]), c.code);
    EXPECT_TRUE(s.wants_shutdown_write());  // drain, do not close yet
    EXPECT_EQ(s.state(), State::closing);
    s.peer_eof();
    EXPECT_EQ(s.state(), State::closed);
    EXPECT_FALSE(s.abortive());
  }
}

TEST(WsSession, MessageTimeoutEndsATrickle) {
  WsSession s(config(), 0);
  std::string frame = client_frame(0x1, std::string(200, 'x'));
  std::int64_t t = 0;
  // One byte every 100 ms: the heartbeat never fires (bytes keep coming).
  for (std::size_t i = 0; i < frame.size() && s.open(); ++i, t += 100) {
    std::string_view b(frame.data() + i, 1);
    s.feed(b, t, nullptr);
    if (auto d = s.deadline(); d && *d <= t) s.timer(t);
    s.timer(t);
    drain(s, t);
  }
  EXPECT_EQ(s.cause(), CloseCause::message_timeout);
  EXPECT_EQ(s.close_code(), 1008);
  EXPECT_LE(t, 3100 + 100);
}

TEST(WsSession, MessageTimeoutCoversFragmentedMessagesAndPartialHeaders) {
  {
    WsSession s(config(), 0);
    feed_all(s, client_frame(0x1, "part", false), 0);  // first fragment, message open
    EXPECT_EQ(s.deadline(), 1000);                     // heartbeat first
    s.timer(1000);
    drain(s, 1000);
    feed_all(s, client_frame(0xA, ""), 1500);  // pongs keep the peer alive, not the message
    EXPECT_EQ(s.deadline(), 2000);
    s.timer(2000);
    drain(s, 2000);
    feed_all(s, client_frame(0xA, ""), 2500);
    EXPECT_EQ(s.deadline(), 3000);
    s.timer(3000);
    EXPECT_EQ(s.cause(), CloseCause::message_timeout);
  }
  {
    WsSession s(config(), 0);
    std::string half = client_frame(0x1, "x").substr(0, 1);
    feed_all(s, half, 100);
    EXPECT_EQ(s.deadline(), 1000);
    SessionConfig c = make_config();
    c.heartbeat_ms = 0;
    WsSession t(c, 0);
    feed_all(t, half, 100);
    EXPECT_EQ(t.deadline(), 3100);
  }
}

TEST(WsSession, CompleteMessageClearsTheMessageDeadline) {
  SessionConfig c = make_config();
  c.heartbeat_ms = 0;
  WsSession s(c, 0);
  std::string f = client_frame(0x1, "hello");
  std::string_view a(f.data(), 3), b(f.data() + 3, f.size() - 3);
  s.feed(a, 0, nullptr);
  EXPECT_EQ(s.deadline(), 3000);
  ASSERT_EQ(s.feed(b, 10, nullptr), WsSession::Feed::text);
  EXPECT_FALSE(s.deadline().has_value());
}

TEST(WsSession, PeerEofWhileOpenIsAbortiveOnlyWithUnsentBytes) {
  WsSession a(config(), 0);
  a.peer_eof();
  EXPECT_EQ(a.state(), State::closed);
  EXPECT_EQ(a.cause(), CloseCause::eof);
  EXPECT_FALSE(a.abortive());
  WsSession b(config(), 0);
  ASSERT_EQ(b.send(text_frame("x"), 0), WsSession::Send::queued);
  b.peer_eof();
  EXPECT_TRUE(b.abortive());
}

TEST(WsSession, WriteFailureCloses) {
  WsSession s(config(), 0);
  ASSERT_EQ(s.send(text_frame("x"), 0), WsSession::Send::queued);
  s.write_failed();
  EXPECT_EQ(s.state(), State::closed);
  EXPECT_EQ(s.cause(), CloseCause::write_error);
  EXPECT_TRUE(s.abortive());
}

// The use-after-free bug: nothing may be written or queued after closed.
TEST(WsSession, NothingHappensAfterClosed) {
  WsSession s(config(), 0);
  s.peer_eof();
  EXPECT_EQ(s.send(text_frame("x"), 0), WsSession::Send::not_open);
  s.send_unlimited(text_frame("y"));
  s.close(1000, {}, 0);
  s.timer(100000);
  s.written(5, 0);
  s.write_failed();
  std::string in = client_frame(0x1, "z");
  std::string_view v = in;
  EXPECT_EQ(s.feed(v, 0, nullptr), WsSession::Feed::done);
  EXPECT_TRUE(v.empty());
  EXPECT_TRUE(s.pending().empty());
  EXPECT_EQ(s.state(), State::closed);
  EXPECT_EQ(s.cause(), CloseCause::eof);
}

TEST(WsSession, AbortEndsAtOnce) {
  WsSession s(config(), 0);
  s.close(1001, "x", 0);
  s.abort();
  EXPECT_EQ(s.state(), State::closed);
  EXPECT_TRUE(s.abortive());
}

TEST(WsSession, UnlimitedFramesGoFirstAndIgnoreTheLimit) {
  WsSession s(config(), 0);
  s.send_unlimited(SharedBytes::concat({std::string(10000, 'h')}));
  EXPECT_EQ(s.send(text_frame("x"), 0), WsSession::Send::slow_consumer);
}

TEST(WsSession, CompressedMessageIsInflated) {
  SessionConfig c = make_config();
  WsSession s(c, 0, true);
  Compressor comp;
  std::string plain = "{\"type\":\"subscribe\",\"channels\":[";
  for (int i = 0; i < 20; ++i) plain += "\"positions\",";
  plain += "\"orders\"]}";
  SharedBytes cache;
  // The server-side compressed frame's payload is a raw deflate stream
  // without the tail: what a client sends too.
  SharedBytes deflated = deflated_frame_cached(cache, make_shared_frame(Opcode::text, plain), comp);
  auto f = parse_frame(deflated.view());
  ASSERT_NE(static_cast<unsigned char>(deflated.view()[0]) & 0x40, 0);  // compressed
  Inflater inf;
  std::string in = client_frame(0x1, f.payload, true, true);
  std::string_view v = in;
  ASSERT_EQ(s.feed(v, 0, &inf), WsSession::Feed::text);
  EXPECT_EQ(s.text(), plain);
}

TEST(WsSession, BadCompressedMessageCloses1007AndKeepsReadingForTheClose) {
  SessionConfig c = make_config();
  WsSession s(c, 0, true);
  Inflater inf;
  std::string in = client_frame(0x1, "\xff\xff\xff garbage", true, true) + client_frame(0x1, "after");
  std::string_view v = in;
  EXPECT_EQ(s.feed(v, 0, &inf), WsSession::Feed::done);
  EXPECT_EQ(s.close_code(), 1007);
  EXPECT_EQ(s.cause(), CloseCause::protocol);
  drain(s, 0);
  feed_all(s, client_frame(0x8, close_payload(1007)), 10);
  EXPECT_EQ(s.state(), State::closed);
}

TEST(WsSession, InputSplitAtEveryByteGivesTheSameMessages) {
  std::string in = client_frame(0x1, "one") + client_frame(0x9, "p") + client_frame(0x1, "two", false) +
                   client_frame(0x0, "!", true) + client_frame(0x8, close_payload(1000));
  for (std::size_t cut = 1; cut < in.size(); ++cut) {
    WsSession s(config(), 0);
    std::vector<std::string> texts;
    for (std::string_view part : {std::string_view(in).substr(0, cut), std::string_view(in).substr(cut)}) {
      while (!part.empty()) {
        if (s.feed(part, 0, nullptr) == WsSession::Feed::text) {
          texts.emplace_back(s.text());
        } else {
          break;
        }
      }
    }
    ASSERT_EQ(texts.size(), 2u) << cut;
    EXPECT_EQ(texts[0], "one");
    EXPECT_EQ(texts[1], "two!");
    EXPECT_EQ(s.cause(), CloseCause::peer);
  }
}

}  // namespace
}  // namespace ps

namespace ps {
namespace {

EventPtr position(const std::string& key, const std::string& body) {
  EventInfo info;
  info.type = EventType::position_update;
  info.channel = Channel::positions;
  info.key = key;
  return make_event(body, std::move(info));
}

TEST(WsSessionConflate, OnlyWhileTheSocketIsFull) {
  WsSession s(config(), 0);
  auto a1 = position("AAPL", "{\"v\":1}"), a2 = position("AAPL", "{\"v\":2}"),
       a3 = position("AAPL", "{\"v\":3}");
  EXPECT_EQ(s.send_event(a1->frame, a1, 0), WsSession::Send::queued);
  EXPECT_EQ(s.send_event(a2->frame, a2, 0), WsSession::Send::queued);  // not lagging: both go
  s.write_blocked();
  EXPECT_EQ(s.send_event(a3->frame, a3, 0), WsSession::Send::conflated);  // replaces a2
  auto frames = frames_of(drain(s, 1));
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(parse_frame(frames[0]).payload, "{\"v\":1}");
  EXPECT_EQ(parse_frame(frames[1]).payload, "{\"v\":3}");
  EXPECT_FALSE(s.blocked());  // drained
  auto a4 = position("AAPL", "{\"v\":4}"), a5 = position("AAPL", "{\"v\":5}");
  EXPECT_EQ(s.send_event(a4->frame, a4, 2), WsSession::Send::queued);
  EXPECT_EQ(s.send_event(a5->frame, a5, 2), WsSession::Send::queued);
}

TEST(WsSessionConflate, OffByConfig) {
  SessionConfig c = make_config();
  c.conflate = false;
  WsSession s(c, 0);
  auto a1 = position("AAPL", "1"), a2 = position("AAPL", "2");
  s.write_blocked();
  EXPECT_EQ(s.send_event(a1->frame, a1, 0), WsSession::Send::queued);
  EXPECT_EQ(s.send_event(a2->frame, a2, 0), WsSession::Send::queued);
}

}  // namespace
}  // namespace ps
