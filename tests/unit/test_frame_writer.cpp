#include "frame_writer.h"

#include <gtest/gtest.h>

#include <string>

#include "frame_parser.h"
#include "utf8.h"

namespace {

using ps::make_close_frame;
using ps::make_frame;
using ps::Opcode;
using ps::write_frame_header;

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s += static_cast<char>(x);
  return s;
}

TEST(FrameWriter, Rfc5_7UnmaskedText) {
  EXPECT_EQ(make_frame(Opcode::text, "Hello"), bytes({0x81, 0x05}) + "Hello");
}

TEST(FrameWriter, Rfc5_7UnmaskedPingAndPong) {
  EXPECT_EQ(make_frame(Opcode::ping, "Hello"), bytes({0x89, 0x05}) + "Hello");
  EXPECT_EQ(make_frame(Opcode::pong, "Hello"), bytes({0x8a, 0x05}) + "Hello");
  EXPECT_EQ(make_frame(Opcode::pong, ""), bytes({0x8a, 0x00}));
}

TEST(FrameWriter, HeaderLengthForms) {
  std::uint8_t h[ps::kMaxFrameHeader];
  auto header = [&](std::uint64_t len) {
    const std::size_t n = write_frame_header(Opcode::text, len, h);
    return std::string(reinterpret_cast<const char*>(h), n);
  };
  EXPECT_EQ(header(0), bytes({0x81, 0x00}));
  EXPECT_EQ(header(125), bytes({0x81, 0x7d}));
  EXPECT_EQ(header(126), bytes({0x81, 0x7e, 0x00, 0x7e}));
  EXPECT_EQ(header(256), bytes({0x81, 0x7e, 0x01, 0x00}));  // RFC 5.7
  EXPECT_EQ(header(65535), bytes({0x81, 0x7e, 0xff, 0xff}));
  EXPECT_EQ(header(65536), bytes({0x81, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}));  // RFC 5.7
  EXPECT_EQ(header(0x0123456789abcdefULL),
            bytes({0x81, 0x7f, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}));
  EXPECT_EQ(write_frame_header(Opcode::binary, 3, h), 2u);
  EXPECT_EQ(h[0], 0x82);
  EXPECT_EQ(write_frame_header(Opcode::close, 2, h), 2u);
  EXPECT_EQ(h[0], 0x88);
}

TEST(FrameWriter, LargeFramesCarryThePayload) {
  const std::string p256(256, 'a');
  const std::string f256 = make_frame(Opcode::text, p256);
  EXPECT_EQ(f256.size(), 4u + 256u);
  EXPECT_EQ(f256.substr(4), p256);
  const std::string p64k(65536, 'b');
  const std::string f64k = make_frame(Opcode::text, p64k);
  EXPECT_EQ(f64k.size(), 10u + 65536u);
  EXPECT_EQ(f64k.substr(10), p64k);
}

TEST(FrameWriter, CloseFrames) {
  EXPECT_EQ(make_close_frame(1000), bytes({0x88, 0x02, 0x03, 0xe8}));
  EXPECT_EQ(make_close_frame(1001, "bye"), bytes({0x88, 0x05, 0x03, 0xe9}) + "bye");
  EXPECT_EQ(make_close_frame(4401, "session expired"), bytes({0x88, 17, 0x11, 0x31}) + "session expired");
  // 1005 means "no status": an empty close frame, reason dropped.
  EXPECT_EQ(make_close_frame(1005), bytes({0x88, 0x00}));
  EXPECT_EQ(make_close_frame(1005, "ignored"), bytes({0x88, 0x00}));
}

TEST(FrameWriter, CloseReasonTruncatedTo125Bytes) {
  const std::string ascii(200, 'r');
  const std::string f = make_close_frame(1008, ascii);
  ASSERT_EQ(f.size(), 2u + 125u);
  EXPECT_EQ(static_cast<unsigned char>(f[1]), 125);
  EXPECT_EQ(f.substr(4), std::string(123, 'r'));
  // Exactly 123 bytes of reason fit untouched.
  EXPECT_EQ(make_close_frame(1000, std::string(123, 'x')).size(), 127u);
}

TEST(FrameWriter, CloseReasonTruncatedOnUtf8Boundary) {
  const std::string euro = "\xe2\x82\xac";
  for (std::size_t pad = 0; pad < 4; ++pad) {
    SCOPED_TRACE(pad);
    // A run of 3-byte code points after `pad` ASCII bytes, crossing byte 123.
    std::string reason(pad, 'a');
    while (reason.size() < 200) reason += euro;
    const std::string f = make_close_frame(1011, reason);
    ASSERT_LE(f.size(), 2u + 125u);
    const std::string r = f.substr(4);
    EXPECT_TRUE(ps::is_valid_utf8(r));
    EXPECT_GT(r.size(), 120u);
    EXPECT_EQ(r, reason.substr(0, r.size()));
    EXPECT_EQ(static_cast<unsigned char>(f[1]), 2 + r.size());
  }
  // A 4-byte code point straddling the cut.
  std::string reason(121, 'a');
  reason += "\xf0\x9f\x93\x88";  // bytes 121..124
  const std::string f = make_close_frame(1000, reason);
  EXPECT_EQ(f.substr(4), std::string(121, 'a'));
}

TEST(FrameWriter, ParserAcceptsOurCloseFramesWhenMasked) {
  // Round trip: mask our close frame as a client would and parse it back.
  std::string f = make_close_frame(1001, std::string(60, 'x') + "\xe2\x82\xac" + std::string(70, 'y'));
  std::string masked;
  masked += f[0];
  masked += static_cast<char>(f[1] | 0x80);
  masked += std::string("\0\0\0\0", 4);
  masked += f.substr(2);
  ps::FrameParser p(1024);
  std::string_view in = masked;
  ASSERT_EQ(p.parse(in), ps::FrameParser::Status::close);
  EXPECT_EQ(p.close_code(), 1001);
  EXPECT_EQ(p.close_reason(), f.substr(4));
}

}  // namespace

TEST(FrameWriter, SharedFrameEqualsStringFrame) {
  for (std::size_t len : {0u, 1u, 125u, 126u, 65535u, 65536u}) {
    const std::string payload(len, 'p');
    const ps::SharedBytes shared = ps::make_shared_frame(ps::Opcode::text, payload);
    EXPECT_EQ(shared.view(), ps::make_frame(ps::Opcode::text, payload)) << len;
    EXPECT_EQ(shared.use_count(), 1u);
  }
  EXPECT_EQ(ps::make_shared_frame(ps::Opcode::ping, {}).view(), std::string("\x89\x00", 2));
}
