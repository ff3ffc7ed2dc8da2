#include "frame_parser.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <iostream>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace {

using ps::FrameParser;
using Status = FrameParser::Status;

constexpr std::size_t kMax = 1 << 20;

// ---- building client frames -------------------------------------------------

struct FrameSpec {
  std::uint8_t opcode = 0x1;
  bool fin = true;
  std::uint8_t rsv = 0;  // bits 0x70 of byte 0
  bool masked = true;
  std::uint32_t mask = 0x37fa213d;
  int len_bytes = -1;  // -1 minimal, else 0, 2 or 8 extended length bytes
};

std::string frame(const FrameSpec& f, std::string_view payload) {
  std::string out;
  out += static_cast<char>((f.fin ? 0x80 : 0) | f.rsv | f.opcode);
  const std::uint8_t m = f.masked ? 0x80 : 0;
  const std::uint64_t n = payload.size();
  int lb = f.len_bytes;
  if (lb < 0) lb = n < 126 ? 0 : n <= 0xFFFF ? 2 : 8;
  if (lb == 0) {
    out += static_cast<char>(m | n);
  } else if (lb == 2) {
    out += static_cast<char>(m | 126);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n);
  } else {
    out += static_cast<char>(m | 127);
    for (int i = 7; i >= 0; --i) out += static_cast<char>(n >> (8 * i));
  }
  const char key[4] = {static_cast<char>(f.mask >> 24), static_cast<char>(f.mask >> 16),
                       static_cast<char>(f.mask >> 8), static_cast<char>(f.mask)};
  if (f.masked) out.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    out += f.masked ? static_cast<char>(payload[i] ^ key[i & 3]) : payload[i];
  return out;
}

std::string text(std::string_view p, bool fin = true) {
  FrameSpec f;
  f.fin = fin;
  return frame(f, p);
}
std::string cont(std::string_view p, bool fin = true) {
  FrameSpec f;
  f.opcode = 0x0;
  f.fin = fin;
  f.mask = 0x01020304;
  return frame(f, p);
}
std::string control(std::uint8_t op, std::string_view p) {
  FrameSpec f;
  f.opcode = op;
  f.mask = 0xa1b2c3d4;
  return frame(f, p);
}
std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
  std::string p;
  p += static_cast<char>(code >> 8);
  p += static_cast<char>(code & 0xFF);
  p += reason;
  return p;
}

// ---- running the parser -----------------------------------------------------

struct Event {
  Event(Status s, std::string p = {}, std::uint16_t c = 0, std::string r = {})
      : status(s), payload(std::move(p)), code(c), reason(std::move(r)) {}
  Status status;
  std::string payload;
  std::uint16_t code;
  std::string reason;
  bool compressed = false;  // text with RSV1 (permessage-deflate)
  bool operator==(const Event& o) const {
    return status == o.status && payload == o.payload && code == o.code && reason == o.reason &&
           compressed == o.compressed;
  }
};

const char* name(Status s) {
  switch (s) {
    case Status::need_more:
      return "need_more";
    case Status::text:
      return "text";
    case Status::ping:
      return "ping";
    case Status::pong:
      return "pong";
    case Status::close:
      return "close";
    case Status::error:
      return "error";
  }
  return "?";
}

void PrintTo(const Event& e, std::ostream* os) {
  *os << "{" << name(e.status) << " payload(" << e.payload.size()
      << ")=" << testing::PrintToString(e.payload.substr(0, 40)) << " code=" << e.code
      << " reason=" << testing::PrintToString(e.reason) << (e.compressed ? " compressed" : "") << "}";
}

Event Text(std::string p) { return {Status::text, std::move(p)}; }
Event Ping(std::string p) { return {Status::ping, std::move(p)}; }
Event Pong(std::string p) { return {Status::pong, std::move(p)}; }
Event Close(std::uint16_t code, std::string reason = {}) { return {Status::close, reason, code, reason}; }
Event Error(std::uint16_t code) { return {Status::error, {}, code, {}}; }
Event Deflated(std::string p) {
  Event e{Status::text, std::move(p)};
  e.compressed = true;
  return e;
}

// Feeds the chunks in order and records every event. After close or error the
// parser must consume nothing more and keep answering the same.
std::vector<Event> run(const std::vector<std::string_view>& chunks, std::size_t max = kMax,
                       bool deflate = false) {
  FrameParser p(max);
  p.set_permessage_deflate(deflate);
  std::vector<Event> events;
  bool done = false;
  for (std::string_view chunk : chunks) {
    std::string_view in = chunk;
    while (true) {
      if (done) {
        const std::size_t before = in.size();
        const Status again = p.parse(in);
        EXPECT_EQ(again, events.back().status);
        EXPECT_EQ(in.size(), before) << "consumed after close/error";
        EXPECT_EQ(p.close_code(), events.back().code);
        break;
      }
      const Status st = p.parse(in);
      if (st == Status::need_more) {
        EXPECT_TRUE(in.empty()) << "need_more with input left";
        break;
      }
      Event e{st, std::string(p.payload())};
      e.compressed = p.compressed();
      if (st != Status::text) {
        EXPECT_FALSE(p.compressed());
      }
      if (st == Status::close || st == Status::error) {
        e.code = p.close_code();
        e.reason = std::string(p.close_reason());
        done = true;
      }
      events.push_back(std::move(e));
    }
  }
  return events;
}

std::vector<Event> run_whole(std::string_view input, std::size_t max = kMax, bool deflate = false) {
  return run({input}, max, deflate);
}

// The same events however the input is split: whole, in two chunks at every
// position (sampled for large inputs), one byte at a time, and random chunks.
void expect_events(std::string_view input, const std::vector<Event>& expected, std::size_t max = kMax,
                   bool deflate = false) {
  ASSERT_EQ(run_whole(input, max, deflate), expected) << "whole input";
  const std::size_t stride = input.size() <= 4096 ? 1 : 997;
  for (std::size_t cut = 0; cut <= input.size(); cut += (cut < 64 || input.size() - cut < 64) ? 1 : stride) {
    ASSERT_EQ(run({input.substr(0, cut), input.substr(cut)}, max, deflate), expected) << "split at " << cut;
  }
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
  ASSERT_EQ(run(bytes, max, deflate), expected) << "one byte at a time";
  std::mt19937 rng(12345);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::string_view> chunks;
    for (std::size_t i = 0; i < input.size();) {
      const std::size_t n = std::uniform_int_distribution<std::size_t>(0, 17)(rng);
      chunks.push_back(input.substr(i, n));  // empty chunks included on purpose
      i += n;
    }
    ASSERT_EQ(run(chunks, max, deflate), expected) << "random chunks, round " << round;
  }
}

// ---- RFC 6455 section 5.7 examples ------------------------------------------

TEST(FrameParser, Rfc5_7SingleFrameMaskedText) {
  const std::string in("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  expect_events(in, {Text("Hello")});
  // The helper agrees with the RFC bytes.
  EXPECT_EQ(text("Hello"), in);
}

TEST(FrameParser, Rfc5_7MaskedPong) {
  const std::string in("\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  expect_events(in, {Pong("Hello")});
}

TEST(FrameParser, Rfc5_7FragmentedText) {
  // "Hel" + "lo" as in the RFC, but masked (client frames).
  const std::string in = text("Hel", false) + cont("lo");
  EXPECT_EQ(static_cast<unsigned char>(in[0]), 0x01);
  EXPECT_EQ(static_cast<unsigned char>(in[9]), 0x80);
  expect_events(in, {Text("Hello")});
}

TEST(FrameParser, Rfc5_7Ping) { expect_events(control(0x9, "Hello"), {Ping("Hello")}); }

TEST(FrameParser, Rfc5_7Length256With16BitLength) {
  std::string payload;
  for (int i = 0; i < 256; ++i) payload += static_cast<char>('a' + i % 26);
  const std::string in = text(payload);
  ASSERT_EQ(in.substr(0, 4), std::string("\x81\xfe\x01\x00", 4));
  expect_events(in, {Text(payload)});
}

TEST(FrameParser, Rfc5_7Length64KiBWith64BitLength) {
  std::string payload(65536, 'x');
  for (std::size_t i = 0; i < payload.size(); i += 7) payload[i] = static_cast<char>('0' + i % 10);
  const std::string in = text(payload);
  ASSERT_EQ(in.substr(0, 10), std::string("\x81\xff\x00\x00\x00\x00\x00\x01\x00\x00", 10));
  expect_events(in, {Text(payload)}, 65536);
  // One byte over the limit is refused.
  expect_events(in, {Error(1009)}, 65535);
}

// ---- well-formed streams ----------------------------------------------------

TEST(FrameParser, NonMinimalLengthEncodingsAreAccepted) {
  FrameSpec f;
  f.len_bytes = 2;
  expect_events(frame(f, "abc"), {Text("abc")});
  f.len_bytes = 8;
  expect_events(frame(f, "abc"), {Text("abc")});
  f.len_bytes = 8;
  expect_events(frame(f, ""), {Text("")});
}

TEST(FrameParser, EmptyFramesAndMessages) {
  expect_events(text(""), {Text("")});
  expect_events(text("", false) + cont("", false) + cont("x", false) + cont(""), {Text("x")});
  expect_events(control(0x9, ""), {Ping("")});
  expect_events(control(0xA, ""), {Pong("")});
}

TEST(FrameParser, ControlFramesInterleavedWithFragments) {
  const std::string in = text("{\"type\":", false) + control(0x9, "p1") + cont("\"ping\"", false) +
                         control(0xA, "p2") + control(0x9, "") + cont("}") + text("next");
  expect_events(in, {Ping("p1"), Pong("p2"), Ping(""), Text("{\"type\":\"ping\"}"), Text("next")});
}

TEST(FrameParser, SeveralMessagesThenClose) {
  const std::string in =
      text("one") + text("two") + control(0x8, close_payload(1000, "bye")) + text("ignored");
  expect_events(in, {Text("one"), Text("two"), Close(1000, "bye")});
}

TEST(FrameParser, MaxSizePingPayload) {
  const std::string p(125, 'P');
  expect_events(control(0x9, p), {Ping(p)});
  // A ping in the middle of a message keeps the message intact.
  expect_events(text("ab", false) + control(0x9, p) + cont("cd"), {Ping(p), Text("abcd")});
}

TEST(FrameParser, Utf8SplitAcrossFragments) {
  // "€" = E2 82 AC split over three frames, "📈" over two.
  const std::string in =
      text("a\xe2", false) + cont("\x82", false) + cont("\xac \xf0\x9f", false) + cont("\x93\x88");
  expect_events(in, {Text("a\xe2\x82\xac \xf0\x9f\x93\x88")});
}

TEST(FrameParser, MessageExactlyAtTheLimit) {
  expect_events(text("12345"), {Text("12345")}, 5);
  expect_events(text("12", false) + cont("3", false) + cont("45"), {Text("12345")}, 5);
  expect_events(text(""), {Text("")}, 0);
}

// ---- protocol violations ----------------------------------------------------

TEST(FrameParser, UnmaskedClientFrameIs1002) {
  FrameSpec f;
  f.masked = false;
  expect_events(frame(f, "Hello"), {Error(1002)});
  f.opcode = 0x9;
  expect_events(frame(f, ""), {Error(1002)});
  // The RFC's unmasked examples are server frames: refused from a client.
  expect_events(std::string("\x81\x05Hello", 7), {Error(1002)});
}

TEST(FrameParser, RsvBitsAre1002) {
  for (std::uint8_t rsv : {0x40, 0x20, 0x10, 0x70}) {
    SCOPED_TRACE(int(rsv));
    FrameSpec f;
    f.rsv = rsv;
    expect_events(frame(f, "x"), {Error(1002)});
    f.opcode = 0x9;
    expect_events(frame(f, "x"), {Error(1002)});
  }
}

TEST(FrameParser, ReservedOpcodesAre1002) {
  for (std::uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    SCOPED_TRACE(int(op));
    FrameSpec f;
    f.opcode = op;
    expect_events(frame(f, "x"), {Error(1002)});
    // Also after a valid message, and in the middle of a fragmented one.
    expect_events(text("ok") + frame(f, ""), {Text("ok"), Error(1002)});
    expect_events(text("a", false) + frame(f, ""), {Error(1002)});
  }
}

TEST(FrameParser, ContinuationWithoutMessageIs1002) {
  expect_events(cont("x"), {Error(1002)});
  expect_events(cont("x", false), {Error(1002)});
  expect_events(text("done") + cont("x"), {Text("done"), Error(1002)});
}

TEST(FrameParser, NewDataFrameInsideFragmentedMessageIs1002) {
  expect_events(text("a", false) + text("b"), {Error(1002)});
  expect_events(text("a", false) + control(0x9, "") + text("b"), {Ping(""), Error(1002)});
  FrameSpec bin;
  bin.opcode = 0x2;
  expect_events(text("a", false) + frame(bin, "b"), {Error(1002)});
}

TEST(FrameParser, ControlFrameRules) {
  // Payload over 125 (16-bit length) -> 1002, whatever the payload.
  expect_events(control(0x9, std::string(126, 'x')), {Error(1002)});
  expect_events(control(0x8, close_payload(1000, std::string(124, 'r'))), {Error(1002)});
  // A control frame's 7-bit length must itself be <= 125: an extended length
  // form is refused at byte 1 even when it encodes a small length.
  FrameSpec f;
  f.opcode = 0x9;
  f.len_bytes = 2;
  expect_events(frame(f, "abc"), {Error(1002)});
  // Fragmented control frames.
  FrameSpec nf;
  nf.opcode = 0x9;
  nf.fin = false;
  expect_events(frame(nf, "x"), {Error(1002)});
  nf.opcode = 0x8;
  expect_events(frame(nf, ""), {Error(1002)});
  nf.opcode = 0xA;
  expect_events(frame(nf, ""), {Error(1002)});
}

TEST(FrameParser, Length64BitWithMsbIs1002) {
  std::string in("\x81\xff\x80\x00\x00\x00\x00\x00\x00\x05", 10);
  in += "\x01\x02\x03\x04hello";
  expect_events(in, {Error(1002)});
  // Reported from the length byte alone, before the rest of the header.
  EXPECT_EQ(run_whole(in.substr(0, 3)), std::vector<Event>{Error(1002)});
}

TEST(FrameParser, BinaryIs1003AtTheHeader) {
  FrameSpec f;
  f.opcode = 0x2;
  expect_events(frame(f, "\x01\x02\x03"), {Error(1003)});
  expect_events(text("t") + frame(f, ""), {Text("t"), Error(1003)});
  // The first header byte is enough: a huge binary frame is never buffered.
  EXPECT_EQ(run_whole(std::string("\x82", 1)), std::vector<Event>{Error(1003)});
  FrameParser p(16);
  std::string big = frame(f, std::string(100000, 'b'));
  std::string_view in = big;
  EXPECT_EQ(p.parse(in), Status::error);
  EXPECT_EQ(p.close_code(), 1003);
  EXPECT_EQ(p.buffered(), 0u);
  EXPECT_GT(in.size(), 99000u);
}

TEST(FrameParser, TooBigIs1009BeforeBuffering) {
  expect_events(text("123456"), {Error(1009)}, 5);
  // Detected from the header alone: no payload byte was needed.
  const std::string big = text(std::string(1000, 'x'));
  EXPECT_EQ(run({big.substr(0, 4)}, 999), std::vector<Event>{Error(1009)});
  {
    FrameParser p(999);
    std::string_view in = big;
    EXPECT_EQ(p.parse(in), Status::error);
    EXPECT_EQ(p.close_code(), 1009);
    EXPECT_EQ(in.size(), 1000u + 4u) << "stops right after the length field";
    EXPECT_EQ(p.buffered(), 0u);
  }
  // Cumulative across fragments: refused at the header of the fragment that
  // would cross the limit, with control frames in between not counted.
  const std::string frag = text("1234", false) + control(0x9, "ping") + cont("5", false) + cont("6");
  expect_events(frag, {Ping("ping"), Error(1009)}, 5);
  {
    FrameParser p(5);
    const std::string head = text("1234", false) + control(0x9, "ping") + cont("5", false);
    std::string tail = cont("6");
    std::string input = head + tail.substr(0, 2);  // header bytes 0-1 only
    std::string_view in = input;
    EXPECT_EQ(p.parse(in), Status::ping);
    EXPECT_EQ(p.parse(in), Status::error);
    EXPECT_EQ(p.close_code(), 1009);
    EXPECT_TRUE(in.empty());
  }
  // A 64-bit length far beyond the limit, no overflow.
  std::string huge("\x81\xff\x7f\xff\xff\xff\xff\xff\xff\xff", 10);
  expect_events(huge, {Error(1009)});
  expect_events(text("a", false) + std::string("\x80\xff\x7f\xff\xff\xff\xff\xff\xff\xff", 10),
                {Error(1009)});
}

TEST(FrameParser, InvalidUtf8Is1007) {
  expect_events(text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80tail"), {Error(1007)});
  expect_events(text("\xff"), {Error(1007)});
  // Truncated at the end of the message.
  expect_events(text("abc\xe2\x82"), {Error(1007)});
  expect_events(text("abc\xe2", false) + cont("\x82"), {Error(1007)});
  // Invalid across a fragment boundary.
  expect_events(text("abc\xe2", false) + cont("x"), {Error(1007)});
  // A fragment ending inside a code point is fine while the message goes on.
  expect_events(text("\xe2", false) + control(0x9, "") + cont("\x82\xac"), {Ping(""), Text("\xe2\x82\xac")});
}

TEST(FrameParser, InvalidUtf8FailsFastMidFrame) {
  // A 200-byte frame whose 3rd payload byte is invalid: reported as soon as
  // that byte arrives, without the rest of the frame.
  std::string payload(200, 'a');
  payload[2] = '\xc0';
  const std::string in = text(payload);
  const std::size_t header = 8;  // 2 + 2 (16-bit length) + 4 (mask)
  EXPECT_EQ(run({in.substr(0, header + 3)}), std::vector<Event>{Error(1007)});
  EXPECT_EQ(run({in.substr(0, header + 2)}), std::vector<Event>{});
  // Also inside a continuation frame.
  const std::string in2 = text("ok", false) + cont(payload);
  EXPECT_EQ(run({in2.substr(0, text("ok", false).size() + header + 3)}), std::vector<Event>{Error(1007)});
  expect_events(in2, {Error(1007)});
}

TEST(FrameParser, CloseFrames) {
  expect_events(control(0x8, ""), {Close(1005)});
  expect_events(control(0x8, close_payload(1000)), {Close(1000)});
  expect_events(control(0x8, close_payload(1001, "going")), {Close(1001, "going")});
  expect_events(control(0x8, close_payload(4401, "\xe2\x82\xac")), {Close(4401, "\xe2\x82\xac")});
  const std::string reason(123, 'r');
  expect_events(control(0x8, close_payload(1000, reason)), {Close(1000, reason)});
  // Payload of one byte cannot hold a code.
  expect_events(control(0x8, "\x03"), {Error(1002)});
  // Reason not UTF-8.
  expect_events(control(0x8, close_payload(1000, "ok\xff")), {Error(1007)});
  expect_events(control(0x8, close_payload(1000, "\xe2\x82")), {Error(1007)});
  // A close in the middle of a fragmented message is still a close.
  expect_events(text("par", false) + control(0x8, close_payload(1000)), {Close(1000)});
}

TEST(FrameParser, CloseCodeRegistry) {
  for (std::uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
                             3999, 4000, 4401, 4999}) {
    expect_events(control(0x8, close_payload(code)), {Close(code)});
  }
  for (std::uint16_t code : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    expect_events(control(0x8, close_payload(code)), {Error(1002)});
  }
}

TEST(FrameParser, StickyAfterCloseAndError) {
  for (const std::string& in : {control(0x8, close_payload(1000, "x")), cont("bad")}) {
    FrameParser p(kMax);
    const std::string all = in + text("more");
    std::string_view v = all;
    const Status first = p.parse(v);
    EXPECT_NE(first, Status::need_more);
    const std::uint16_t code = p.close_code();
    const std::size_t left = v.size();
    EXPECT_GE(left, text("more").size());
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(p.parse(v), first);
      EXPECT_EQ(v.size(), left);
      EXPECT_EQ(p.close_code(), code);
    }
    std::string_view other("\x81\x80\x00\x00\x00\x00", 6);
    EXPECT_EQ(p.parse(other), first);
    EXPECT_EQ(other.size(), 6u);
  }
}

// ---- accessors and memory ---------------------------------------------------

TEST(FrameParser, PayloadViewsAndBuffered) {
  FrameParser p(kMax);
  const std::string a = text("hello", false);
  const std::string b = control(0x9, "pp");
  const std::string c = cont(" world");
  std::string_view in = a;
  EXPECT_EQ(p.parse(in), Status::need_more);
  EXPECT_EQ(p.buffered(), 5u);
  in = b;
  EXPECT_EQ(p.parse(in), Status::ping);
  EXPECT_EQ(p.payload(), "pp");
  EXPECT_EQ(p.buffered(), 5u);
  in = c;
  EXPECT_EQ(p.parse(in), Status::text);
  EXPECT_EQ(p.payload(), "hello world");
  in = {};
  EXPECT_EQ(p.parse(in), Status::need_more);
  EXPECT_EQ(p.buffered(), 0u);
  EXPECT_EQ(p.payload(), "");
  p.shrink();
  EXPECT_EQ(p.buffered(), 0u);
  const std::string d = text("again");
  in = d;
  EXPECT_EQ(p.parse(in), Status::text);
  EXPECT_EQ(p.payload(), "again");
}

TEST(FrameParser, HugeMaxMessageSizeIsClampedNotWrapped) {
  // Stored in 32 bits (a connection holds one parser): a limit past
  // UINT32_MAX means UINT32_MAX, not the limit modulo 2^32.
  FrameParser p((std::size_t(1) << 32) + 10);
  std::string in = text(std::string(100, 'a'));
  std::string_view v = in;
  EXPECT_EQ(p.parse(v), FrameParser::Status::text);
  EXPECT_EQ(p.payload(), std::string(100, 'a'));
  static_assert(sizeof(void*) != 8 || sizeof(FrameParser) <= 56, "a parser per connection: keep it small");
}

TEST(FrameParser, IdleParserIsSmall) {
  // An idle connection holds one, and no buffer of it.
  EXPECT_LE(sizeof(FrameParser), 96u) << sizeof(FrameParser);
  std::cout << "sizeof(FrameParser) = " << sizeof(FrameParser) << "\n";
  FrameParser p(kMax);
  EXPECT_FALSE(p.holds_memory());
  // Empty pings and pongs (what a browser answers ours with) need no buffer.
  const std::string empties = control(0x9, "") + control(0xA, "");
  std::string_view in = empties;
  EXPECT_EQ(p.parse(in), Status::ping);
  EXPECT_EQ(p.payload(), "");
  EXPECT_EQ(p.parse(in), Status::pong);
  EXPECT_FALSE(p.holds_memory());
}

TEST(FrameParser, ControlPayloadMadeOnDemandAndFreedByShrink) {
  FrameParser p(kMax);
  const std::string ping = control(0x9, std::string(125, 'x'));
  // Split inside the payload: shrink() between the halves keeps it.
  std::string_view in(ping.data(), 40);
  EXPECT_EQ(p.parse(in), Status::need_more);
  EXPECT_TRUE(p.holds_memory());
  p.shrink();
  EXPECT_TRUE(p.holds_memory());
  in = std::string_view(ping).substr(40);
  EXPECT_EQ(p.parse(in), Status::ping);
  EXPECT_EQ(p.payload(), std::string(125, 'x'));
  p.shrink();
  EXPECT_FALSE(p.holds_memory());
  EXPECT_EQ(p.payload(), "");  // no view into freed memory
  // And made again for the next one.
  const std::string pong = control(0xA, "abc");
  in = pong;
  EXPECT_EQ(p.parse(in), Status::pong);
  EXPECT_EQ(p.payload(), "abc");
  // The peer's close reason outlives shrink() (the session finishes with it).
  const std::string close = control(0x8, close_payload(1000, "bye"));
  in = close;
  EXPECT_EQ(p.parse(in), Status::close);
  p.shrink();
  EXPECT_EQ(p.close_code(), 1000);
  EXPECT_EQ(p.close_reason(), "bye");
}

// ---- permessage-deflate (RFC 7692 section 6) -------------------------------

constexpr bool kDeflate = true;

std::string deflated_text(std::string_view p, bool fin = true) {
  FrameSpec f;
  f.rsv = 0x40;
  f.fin = fin;
  f.mask = 0x0badf00d;
  return frame(f, p);
}

TEST(FrameParser, DeflateRsv1MarksACompressedMessage) {
  // The payload comes back as received: not inflated, not UTF-8-checked.
  const std::string bytes("\xf2\x48\xcd\xc9\xc9\x07\x00\xff", 8);
  expect_events(deflated_text(bytes), {Deflated(bytes)}, kMax, kDeflate);
  // Fragmented: RSV1 on the first frame only, controls in between.
  expect_events(deflated_text("\xf2\x48", false) + control(0x9, "p") + cont("\xcd\xc9", false) + cont("\xff"),
                {Ping("p"), Deflated("\xf2\x48\xcd\xc9\xff")}, kMax, kDeflate);
  // An uncompressed message on the same connection is still checked.
  expect_events(deflated_text("\xff") + text("plain") + text("\xff"),
                {Deflated("\xff"), Text("plain"), Error(1007)}, kMax, kDeflate);
  expect_events(text("a\xe2", false) + cont("\x82\xac"), {Text("a\xe2\x82\xac")}, kMax, kDeflate);
  expect_events(deflated_text(""), {Deflated("")}, kMax, kDeflate);
}

TEST(FrameParser, DeflateRsv1ElsewhereIs1002) {
  FrameSpec rsv1_cont;
  rsv1_cont.opcode = 0x0;
  rsv1_cont.rsv = 0x40;
  // On a continuation frame, of a compressed or an uncompressed message.
  expect_events(deflated_text("ab", false) + frame(rsv1_cont, "cd"), {Error(1002)}, kMax, kDeflate);
  expect_events(text("ab", false) + frame(rsv1_cont, "cd"), {Error(1002)}, kMax, kDeflate);
  // On control frames.
  for (std::uint8_t op : {0x8, 0x9, 0xA}) {
    FrameSpec f;
    f.opcode = op;
    f.rsv = 0x40;
    expect_events(frame(f, ""), {Error(1002)}, kMax, kDeflate);
    expect_events(deflated_text("x", false) + frame(f, ""), {Error(1002)}, kMax, kDeflate);
  }
  // RSV2 / RSV3 are still nobody's.
  for (std::uint8_t rsv : {0x20, 0x10, 0x60, 0x70}) {
    FrameSpec f;
    f.rsv = rsv;
    expect_events(frame(f, "x"), {Error(1002)}, kMax, kDeflate);
  }
  // Binary stays unsupported (1003), compressed or not.
  FrameSpec bin;
  bin.opcode = 0x2;
  bin.rsv = 0x40;
  expect_events(frame(bin, "x"), {Error(1003)}, kMax, kDeflate);
  // Not negotiated: RSV1 on a text frame is 1002 as before.
  expect_events(deflated_text("x"), {Error(1002)});
}

TEST(FrameParser, DeflateCompressedBytesCountAgainstTheLimit) {
  expect_events(deflated_text("12345"), {Deflated("12345")}, 5, kDeflate);
  expect_events(deflated_text("123456"), {Error(1009)}, 5, kDeflate);
  expect_events(deflated_text("123", false) + cont("456"), {Error(1009)}, 5, kDeflate);
}

TEST(FrameParser, DeflateRandomStreamsAreSplitInvariant) {
  std::mt19937 rng(777);
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  const std::vector<std::string> payloads = {"",     "a",    "\xf2\x48\xcd",       "\xe2\x82\xac",
                                             "\xe2", "\xff", std::string(130, 'z')};
  for (int round = 0; round < 300; ++round) {
    std::string in;
    const int frames = 1 + pick(6);
    for (int i = 0; i < frames; ++i) {
      FrameSpec f;
      const int kind = pick(10);
      f.opcode = kind < 4 ? 0x1 : kind < 7 ? 0x0 : kind == 7 ? 0x9 : kind == 8 ? 0xA : 0x2;
      f.fin = pick(3) != 0;
      f.mask = static_cast<std::uint32_t>(rng());
      if (pick(3) == 0) f.rsv = 0x40;
      if (pick(30) == 0) f.rsv = 0x20;
      in += frame(f, payloads[static_cast<std::size_t>(pick(static_cast<int>(payloads.size())))]);
    }
    const std::size_t max = pick(2) ? 8 : kMax;
    const std::vector<Event> whole = run_whole(in, max, kDeflate);
    expect_events(in, whole, max, kDeflate);
    if (HasFatalFailure()) return;
  }
}

// ---- split invariance on random streams -------------------------------------

// Random mixes of valid and invalid frames: whatever happens, every split of
// the input gives the same events as the whole input.
TEST(FrameParser, RandomStreamsAreSplitInvariant) {
  std::mt19937 rng(4242);
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  const std::vector<std::string> texts = {"",         "a",    "{\"type\":\"ping\"}", "\xe2\x82\xac", "\xe2",
                                          "\x82\xac", "\xff", std::string(130, 'z')};
  for (int round = 0; round < 300; ++round) {
    std::string in;
    const int frames = 1 + pick(6);
    for (int i = 0; i < frames; ++i) {
      FrameSpec f;
      const int kind = pick(10);
      f.opcode = kind < 4    ? 0x1
                 : kind < 7  ? 0x0
                 : kind == 7 ? 0x9
                 : kind == 8 ? 0xA
                             : static_cast<std::uint8_t>(pick(16));
      f.fin = pick(3) != 0;
      f.mask = static_cast<std::uint32_t>(rng());
      f.len_bytes = pick(4) == 0 ? 2 : -1;
      if (pick(40) == 0) f.masked = false;
      if (pick(40) == 0) f.rsv = 0x40;
      in += frame(f, texts[static_cast<std::size_t>(pick(static_cast<int>(texts.size())))]);
    }
    if (pick(4) == 0) in += control(0x8, close_payload(1000, "end"));
    const std::size_t max = pick(2) ? 8 : kMax;
    const std::vector<Event> whole = run_whole(in, max);
    expect_events(in, whole, max);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
