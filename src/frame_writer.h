// Server-to-client frames: unmasked, FIN set, never fragmented.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shared_bytes.h"

namespace ps {

enum class Opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA
};

inline constexpr std::size_t kMaxFrameHeader = 10;

// Writes the header for a payload of `len` bytes into out; returns its size (2, 4 or 10).
std::size_t write_frame_header(Opcode op, std::uint64_t len, std::uint8_t* out);

// Header + payload in one string.
std::string make_frame(Opcode op, std::string_view payload);

// Header + payload in one shared block (one allocation, no intermediate
// string): what the connection queues take. Throws std::bad_alloc.
SharedBytes make_shared_frame(Opcode op, std::string_view payload);

// A close frame: code (omitted when 1005), reason truncated to fit 125 bytes
// on a UTF-8 boundary.
std::string make_close_frame(std::uint16_t code, std::string_view reason = {});

}  // namespace ps
