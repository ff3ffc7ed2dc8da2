#include "frame_writer.h"

#include <cstring>

namespace ps {

std::size_t write_frame_header(Opcode op, std::uint64_t len, std::uint8_t* out) {
  out[0] = static_cast<std::uint8_t>(0x80 | static_cast<std::uint8_t>(op));  // FIN, no RSV
  // Server frames are never masked (RFC 6455 5.1): mask bit stays clear.
  if (len < 126) {
    out[1] = static_cast<std::uint8_t>(len);
    return 2;
  }
  if (len <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<std::uint8_t>(len >> 8);
    out[3] = static_cast<std::uint8_t>(len);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<std::uint8_t>(len >> (56 - 8 * i));
  return 10;
}

std::string make_frame(Opcode op, std::string_view payload) {
  std::uint8_t header[kMaxFrameHeader];
  const std::size_t n = write_frame_header(op, payload.size(), header);
  std::string frame;
  frame.reserve(n + payload.size());
  frame.append(reinterpret_cast<const char*>(header), n);
  frame.append(payload);
  return frame;
}

SharedBytes make_shared_frame(Opcode op, std::string_view payload) {
  std::uint8_t header[kMaxFrameHeader];
  const std::size_t n = write_frame_header(op, payload.size(), header);
  SharedBytes frame = SharedBytes::allocate(n + payload.size());
  std::memcpy(frame.mutable_data(), header, n);
  if (!payload.empty()) std::memcpy(frame.mutable_data() + n, payload.data(), payload.size());
  return frame;
}

std::string make_close_frame(std::uint16_t code, std::string_view reason) {
  // 1005 means "no status": an empty close, and then no reason either.
  if (code == 1005) return make_frame(Opcode::close, {});
  constexpr std::size_t kMaxReason = 125 - 2;
  if (reason.size() > kMaxReason) {
    std::size_t cut = kMaxReason;
    // Back off to the start of the code point straddling the cut (at most 3
    // continuation bytes), so a valid reason stays valid UTF-8.
    for (int i = 0; i < 3 && cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80; ++i) --cut;
    reason = reason.substr(0, cut);
  }
  char payload[125];
  payload[0] = static_cast<char>(code >> 8);
  payload[1] = static_cast<char>(code & 0xFF);
  reason.copy(payload + 2, reason.size());
  return make_frame(Opcode::close, {payload, 2 + reason.size()});
}

}  // namespace ps
