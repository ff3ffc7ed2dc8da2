// Helpers shared by the unit tests (header-only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ps::test_support {

struct ParsedFrame {
  bool ok = false;
  bool fin = false;
  unsigned opcode = 0;
  bool masked = false;
  std::size_t header = 0;
  std::string_view payload;
};

// An independent reading of an RFC 6455 frame header (server frames): ok
// only for one whole frame whose payload length is minimally encoded.
inline ParsedFrame parse_frame(std::string_view b) {
  ParsedFrame f;
  if (b.size() < 2) return f;
  const auto* p = reinterpret_cast<const unsigned char*>(b.data());
  f.fin = (p[0] & 0x80) != 0;
  f.opcode = p[0] & 0x0f;
  f.masked = (p[1] & 0x80) != 0;
  std::uint64_t len = p[1] & 0x7f;
  std::size_t h = 2;
  if (len == 126) {
    if (b.size() < 4) return f;
    len = (std::uint64_t(p[2]) << 8) | p[3];
    if (len < 126) return f;  // not minimal
    h = 4;
  } else if (len == 127) {
    if (b.size() < 10) return f;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
    if (len <= 0xffff) return f;  // not minimal
    h = 10;
  }
  if (b.size() - h != len) return f;
  f.ok = true;
  f.header = h;
  f.payload = b.substr(h);
  return f;
}

}  // namespace ps::test_support
