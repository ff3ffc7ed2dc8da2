// libFuzzer target: ps::FrameParser (client frames, fragmentation, UTF-8,
// close payloads, the size limit).
//
// Input layout: byte 0 selects max_message_size, byte 1 the chunking of the
// rest. Oracles: every event satisfies the header's promises (text is valid
// UTF-8 and within the limit, control payloads <= 125 bytes, close codes are
// sendable), and the event sequence is the same whether the bytes arrive at
// once, one at a time or in the chosen chunks.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "frame_parser.h"
#include "utf8.h"

#include "fuzz_util.h"

namespace {

using ps::FrameParser;
using Status = FrameParser::Status;

struct Event {
  Status status;
  std::uint16_t code;
  std::string payload;
  bool operator==(const Event& o) const {
    return status == o.status && code == o.code && payload == o.payload;
  }
};

bool sendable_close(std::uint16_t c) {
  return c == 1005 || (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

// Feeds `data` in chunks of the sizes `chunk(i)` yields; collects events.
template <typename Chunk>
std::vector<Event> run(std::string_view data, std::size_t max, Chunk chunk) {
  FrameParser p(max);
  std::vector<Event> events;
  std::size_t i = 0;
  while (!data.empty()) {
    std::string_view piece = ps_fuzz::take(data, chunk(i++));
    // Bounded: every parse() call either consumes input or returns need_more.
    for (int guard = 0; guard < 1 << 20; ++guard) {
      const std::size_t before = piece.size();
      const Status st = p.parse(piece);
      if (st == Status::need_more) {
        PS_FUZZ_CHECK(piece.empty());
        break;
      }
      Event e{st, 0, {}};
      switch (st) {
        case Status::text:
          PS_FUZZ_CHECK(p.payload().size() <= max);
          PS_FUZZ_CHECK(ps::is_valid_utf8(p.payload()));
          e.payload.assign(p.payload());
          break;
        case Status::ping:
        case Status::pong:
          PS_FUZZ_CHECK(p.payload().size() <= 125);
          e.payload.assign(p.payload());
          break;
        case Status::close:
          PS_FUZZ_CHECK(sendable_close(p.close_code()));
          PS_FUZZ_CHECK(p.close_reason().size() <= 123);
          PS_FUZZ_CHECK(ps::is_valid_utf8(p.close_reason()));
          e.code = p.close_code();
          e.payload.assign(p.close_reason());
          break;
        case Status::error:
          PS_FUZZ_CHECK(p.close_code() == 1002 || p.close_code() == 1003 || p.close_code() == 1007 ||
                        p.close_code() == 1009);
          PS_FUZZ_CHECK(p.buffered() == 0);
          e.code = p.close_code();
          break;
        case Status::need_more:
          break;
      }
      PS_FUZZ_CHECK(p.buffered() <= max);
      events.push_back(std::move(e));
      if (st == Status::close || st == Status::error) {
        // Sticky: nothing more is consumed.
        std::string_view rest = piece;
        PS_FUZZ_CHECK(p.parse(rest) == st && rest.size() == piece.size());
        return events;
      }
      (void)before;
    }
  }
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static constexpr std::size_t kMaxes[] = {0, 1, 2, 3, 4, 7, 16, 125, 126, 127, 1000, 65535, 65536, 1 << 20};
  const std::size_t max = kMaxes[ps_fuzz::take_byte(in) % (sizeof kMaxes / sizeof kMaxes[0])];
  const unsigned char split = ps_fuzz::take_byte(in);

  const auto whole = run(in, max, [&](std::size_t) { return in.size(); });
  const auto bytes = run(in, max, [](std::size_t) { return std::size_t{1}; });
  PS_FUZZ_CHECK(whole == bytes);
  // Chunk sizes cycling through 1 .. split+1 with a twist, so cuts land
  // inside headers, mask keys and multi-byte code points.
  const auto chunks = run(
      in, max, [&](std::size_t i) { return std::size_t{1} + (split * (i + 1) + (i >> 1)) % (split + 1u); });
  PS_FUZZ_CHECK(whole == chunks);
  return 0;
}
