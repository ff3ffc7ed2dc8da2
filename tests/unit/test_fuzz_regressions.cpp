// Reproducers of what the libFuzzer targets (tests/fuzz/) found, plus the
// hostile inputs of issue 6 at unit level. Each test names its target.
#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <string>
#include <string_view>

#include "client_message.h"
#include "envelope.h"
#include "permessage_deflate.h"
#include "session_json.h"
#include "ws_handshake.h"

namespace {

// fuzz_ws_handshake, empty input: websocket_accept() of an empty key passed
// a null pointer to memcpy (undefined even for 0 bytes; UBSan's nonnull-
// attribute check aborted). The accept value of "" is base64(SHA-1(GUID)).
TEST(FuzzRegressions, AcceptOfEmptyKeyIsDefined) {
  const std::array<char, 28> a = ps::websocket_accept(std::string_view{});
  EXPECT_EQ(std::string_view(a.data(), a.size()), "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w=");
  const std::array<char, 28> b = ps::websocket_accept(std::string_view("", 0));
  EXPECT_EQ(std::string_view(b.data(), b.size()), "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w=");
}

// The handshake fuzzer's empty input through the whole validator.
TEST(FuzzRegressions, EmptyHandshakeIsBadRequest) {
  ps::UpgradeHeaders h;
  EXPECT_EQ(ps::check_upgrade({}, 1001, h), ps::UpgradeCheck::bad_request);
}

std::string nested(std::size_t depth, std::string_view open, std::string_view inner, std::string_view close) {
  std::string s;
  s.reserve(depth * (open.size() + close.size()) + inner.size());
  for (std::size_t i = 0; i < depth; ++i) s.append(open);
  s.append(inner);
  for (std::size_t i = 0; i < depth; ++i) s.append(close);
  return s;
}

// Issue 6 hostile corpus: 100,000 levels of nesting are refused (json_scan
// stops past json::kMaxDepth, without recursion) in all three parsers.
TEST(FuzzRegressions, HundredThousandLevelsOfNesting) {
  const std::string deep_array = nested(100000, "[", "", "]");
  const std::string deep_event =
      "{\"type\":\"order_update\",\"x\":" + nested(100000, "{\"a\":", "1", "}") + "}";
  ps::EventInfo info{};
  EXPECT_EQ(ps::parse_event(deep_array, 1 << 20, info), ps::EventError::invalid_json);
  EXPECT_EQ(ps::parse_event(deep_event, 1 << 20, info), ps::EventError::invalid_json);
  EXPECT_FALSE(ps::session_user_id(nested(100000, "{\"userId\":", "\"u\"", "}"), "userId"));
  EXPECT_EQ(ps::parse_client_message(deep_array).kind, ps::ClientMessage::Kind::invalid);
  // Unbalanced: only openers.
  EXPECT_EQ(ps::parse_event(std::string(100000, '['), 1 << 20, info), ps::EventError::invalid_json);
}

// Binary garbage and a bare NUL as a published event.
TEST(FuzzRegressions, BinaryGarbageEvent) {
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage.push_back(static_cast<char>((i * 131 + 7) & 0xff));
  ps::EventInfo info{};
  EXPECT_EQ(ps::parse_event(garbage, 1 << 20, info), ps::EventError::invalid_json);
  EXPECT_EQ(ps::parse_event(std::string_view("\0", 1), 1 << 20, info), ps::EventError::invalid_json);
}

// fuzz_json_scan, input "[0,-81\0,2]": jansson 2.14 skips a raw NUL byte
// after a number or a literal and accepted such invalid JSON (so parse_event
// took {"type":...,"n":1\0}); the scanner refuses a raw NUL anywhere.
TEST(FuzzRegressions, RawNulAfterANumberOrLiteralIsInvalid) {
  using namespace std::string_view_literals;  // "...\0..."sv keeps the NUL
  ps::EventInfo info{};
  for (const std::string_view ev :
       {"{\"type\":\"order_update\",\"n\":1\0}"sv, "{\"type\":\"order_update\",\"n\":[true\0]}"sv,
        "{\"type\":\"order_update\",\"n\":[0,-81\0,2]}"sv}) {
    ASSERT_NE(ev.find('\0'), std::string_view::npos);
    EXPECT_EQ(ps::parse_event(ev, 1 << 20, info), ps::EventError::invalid_json) << ev.size();
  }
  EXPECT_FALSE(ps::session_user_id("{\"userId\":1\0}"sv, "userId"));
  EXPECT_EQ(ps::parse_client_message("{\"type\":\"ping\",\"n\":1\0}"sv).kind,
            ps::ClientMessage::Kind::invalid);
}

// One raw deflate stream ending in a final block (BFINAL), as a client may send.
std::string deflate_final(std::string_view msg) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, msg.size()) + 16, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(msg.data()));
  z.avail_in = static_cast<uInt>(msg.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  return out;
}

// fuzz_inflate, input 41 fb fb d0 (max_size 1, payload fb d0: a final block
// of two bytes, completed by the appended 00 00 ff ff): a message ending in a
// final block exactly one byte over max_size was accepted (Z_STREAM_END came
// in the call that filled the max_size + 1 byte buffer), so max_size + 1
// bytes got through; here the extra byte was invalid UTF-8 and it was 1007.
TEST(FuzzRegressions, InflateFinalBlockOneByteOverTheLimit) {
  ps::Inflater inf;
  std::string_view text;
  EXPECT_EQ(inf.inflate_text("\xfb\xd0", 1, text), 1009);
  EXPECT_TRUE(text.empty());
  for (std::size_t n : {1u, 2u, 100u, 1024u, 1025u, 5000u}) {
    SCOPED_TRACE(n);
    const std::string msg(n, 'a');
    const std::string d = deflate_final(msg);
    EXPECT_EQ(inf.inflate_text(d, n - 1, text), 1009);
    EXPECT_TRUE(text.empty());
    ASSERT_EQ(inf.inflate_text(d, n, text), 0);
    EXPECT_EQ(text, msg);
    ps::Inflater takeover(true);
    EXPECT_EQ(takeover.inflate_text(d, n - 1, text), 1009);
    ASSERT_EQ(takeover.inflate_text(d, n, text), 0);
    EXPECT_EQ(text, msg);
  }
}

}  // namespace
