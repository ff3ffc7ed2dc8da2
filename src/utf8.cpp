#include "utf8.h"

#include <cstring>

namespace ps {

namespace {

// DFA states. Each non-accepting state names exactly the byte range the next
// byte must fall in, so overlongs (E0 80, F0 80), surrogates (ED A0) and code
// points above U+10FFFF (F4 90) fail at the first byte that proves them bad.
enum : std::uint8_t {
  kAccept = 0,
  kTail1,    // 80..BF, then accept
  kTail2,    // 80..BF, then kTail1
  kTail3,    // 80..BF, then kTail2
  kAfterE0,  // A0..BF (no overlong 3-byte form)
  kAfterED,  // 80..9F (no UTF-16 surrogates)
  kAfterF0,  // 90..BF (no overlong 4-byte form)
  kAfterF4,  // 80..8F (nothing above U+10FFFF)
  kReject,
};

inline std::uint8_t step(std::uint8_t state, std::uint8_t b) {
  switch (state) {
    case kAccept:
      if (b < 0x80) return kAccept;
      if (b < 0xC2) return kReject;  // stray continuation or overlong C0/C1
      if (b < 0xE0) return kTail1;
      if (b == 0xE0) return kAfterE0;
      if (b == 0xED) return kAfterED;
      if (b < 0xF0) return kTail2;
      if (b == 0xF0) return kAfterF0;
      if (b < 0xF4) return kTail3;
      if (b == 0xF4) return kAfterF4;
      return kReject;
    case kTail1:
      return (b & 0xC0) == 0x80 ? kAccept : kReject;
    case kTail2:
      return (b & 0xC0) == 0x80 ? kTail1 : kReject;
    case kTail3:
      return (b & 0xC0) == 0x80 ? kTail2 : kReject;
    case kAfterE0:
      return (b >= 0xA0 && b <= 0xBF) ? kTail1 : kReject;
    case kAfterED:
      return (b >= 0x80 && b <= 0x9F) ? kTail1 : kReject;
    case kAfterF0:
      return (b >= 0x90 && b <= 0xBF) ? kTail2 : kReject;
    case kAfterF4:
      return (b >= 0x80 && b <= 0x8F) ? kTail2 : kReject;
    default:
      return kReject;
  }
}

}  // namespace

bool Utf8Validator::feed(std::string_view bytes) {
  std::uint8_t s = state_;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  while (p != end) {
    if (s == kReject) break;
    // JSON is mostly ASCII: skip 8 ASCII bytes at a time between code points.
    if (s == kAccept) {
      while (end - p >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, sizeof w);
        if (w & 0x8080808080808080ULL) break;
        p += 8;
      }
      if (p == end) break;
    }
    s = step(s, *p++);
  }
  state_ = s;
  return s != kReject;
}

bool is_valid_utf8(std::string_view bytes) {
  Utf8Validator v;
  return v.feed(bytes) && v.complete();
}

}  // namespace ps
