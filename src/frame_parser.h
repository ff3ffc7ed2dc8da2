// Incremental parser for client-to-server WebSocket frames (RFC 6455 section 5),
// sans-I/O: bytes in, one event at a time out. Reassembles fragmented text
// messages, validates UTF-8 as fragments arrive and enforces the size limit
// before buffering. Peer violations become an error with the close code to send.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "utf8.h"

namespace ps {

namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t no_status = 1005;  // never sent on the wire
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t too_big = 1009;
inline constexpr std::uint16_t internal_error = 1011;
inline constexpr std::uint16_t session_expired = 4401;
}  // namespace close_code

class FrameParser {
 public:
  enum class Status {
    need_more,  // input used up, no complete event
    text,       // a complete text message: payload()
    ping,       // payload(): at most 125 bytes, to echo in a pong
    pong,       // payload()
    close,      // peer's close: close_code() (1005 when none), close_reason()
    error,      // peer violated the protocol: close_code() is what to send
  };

  explicit FrameParser(std::size_t max_message_size) : max_message_size_(max_message_size) {}

  // Consumes bytes from the front of `input` up to and including the frame
  // that completes an event, then returns it. Call again with the rest until
  // need_more. After error or close the parser consumes nothing more.
  Status parse(std::string_view& input);

  // Valid until the next parse() call.
  std::string_view payload() const;
  std::uint16_t close_code() const { return close_code_; }
  std::string_view close_reason() const;

  // Bytes held for a message in progress (for memory accounting).
  std::size_t buffered() const { return message_.size(); }
  // Releases the message buffer's memory (call when idle to stay small).
  void shrink() { std::string().swap(message_); }

 private:
  // ... state fields are private to the implementation; keep this object small
  // (an idle connection holds one): no per-parser buffer larger than 125 bytes
  // beyond the std::string used only while a message is being reassembled.
  std::size_t max_message_size_;
  std::string message_;
  std::uint16_t close_code_ = 0;
  // implementation-defined state follows (see frame_parser.cpp)
  std::uint64_t remaining_ = 0;  // payload bytes left in the current frame
  std::array<std::uint8_t, 4> mask_{};
  std::uint8_t mask_pos_ = 0;
  std::uint8_t header_[14]{};
  std::uint8_t header_len_ = 0;
  std::uint8_t opcode_ = 0;          // of the current frame
  std::uint8_t message_opcode_ = 0;  // 0 when no fragmented message is open
  std::uint8_t state_ = 0;
  bool fin_ = false;
  Utf8Validator utf8_;
  std::uint8_t control_len_ = 0;
  std::array<char, 125> control_{};
};

}  // namespace ps
