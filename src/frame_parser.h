// Incremental parser for client-to-server WebSocket frames (RFC 6455 section 5),
// sans-I/O: bytes in, one event at a time out. Reassembles fragmented text
// messages, validates UTF-8 as fragments arrive and enforces the size limit
// before buffering. Peer violations become an error with the close code to send.
// With permessage-deflate (RFC 7692) on, a text message whose first frame has
// RSV1 set is returned still compressed, without UTF-8 validation: the caller
// inflates it (permessage_deflate.h), which checks the size and UTF-8.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
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

  explicit FrameParser(std::size_t max_message_size)
      : max_message_size_(max_message_size > UINT32_MAX ? UINT32_MAX : std::uint32_t(max_message_size)),
        fin_(false),
        in_payload_(false),
        message_open_(false),
        deflate_(false),
        compressed_(false) {}

  // permessage-deflate was negotiated: RSV1 is then allowed on the first frame
  // of a text message (on a continuation or control frame it stays 1002).
  // Set before the first parse().
  void set_permessage_deflate(bool on) { deflate_ = on; }

  // Consumes bytes from the front of `input` up to and including the frame
  // that completes an event, then returns it. Call again with the rest until
  // need_more. After error or close the parser consumes nothing more.
  Status parse(std::string_view& input);

  // Valid until the next parse() call. text/ping/pong: the payload; close:
  // the reason; otherwise empty. For a compressed text message: the payload
  // as received (deflated, not UTF-8-checked); see compressed().
  std::string_view payload() const;
  // The text message just returned had RSV1 set (permessage-deflate).
  bool compressed() const;
  std::uint16_t close_code() const { return close_code_; }
  std::string_view close_reason() const;

  // No frame or fragmented message is in progress (nothing partial held).
  bool idle() const { return header_len_ == 0 && !in_payload_ && !message_open_; }
  // Bytes held for a message in progress (for memory accounting).
  std::size_t buffered() const { return message_ ? message_->size() : 0; }
  // Heap memory is held (a message buffer, or the control payload's).
  bool holds_memory() const { return message_ != nullptr || control_ != nullptr; }
  // Releases the message buffer's memory, and the control payload's unless a
  // control frame is in progress or the peer's close (close_reason()) is in
  // it (call when idle to stay small).
  void shrink() {
    message_.reset();
    if (!done_ && !(in_payload_ && (opcode_ & 0x08))) {
      control_.reset();
      control_len_ = 0;
    }
  }

 private:
  // ... state fields are private to the implementation; keep this object small
  // (an idle connection holds one): no buffer is held while idle; the
  // message's and a control frame's payload are allocated when one comes.
  // Implementation state (see frame_parser.cpp); sizeof(FrameParser) is 56
  // on LP64 (the flags share one byte).
  Status fail(std::uint16_t code);
  std::uint16_t header_byte(std::size_t i);
  std::uint16_t set_length(std::uint64_t len);
  Status finish_frame();
  std::string_view close_reason_raw() const;

  // The text message being reassembled: made with its first payload byte,
  // freed by shrink() (a std::string in place would cost 32 bytes always).
  std::unique_ptr<std::string> message_;
  std::uint64_t remaining_ = 0;     // payload bytes left in the current frame
  std::uint32_t max_message_size_;  // clamped to UINT32_MAX
  std::uint16_t close_code_ = 0;
  std::uint8_t header_[14]{};     // raw frame header (mask key in its last 4 bytes)
  std::uint8_t header_len_ = 0;   // header bytes received so far
  std::uint8_t header_need_ = 2;  // header size, known once byte 1 is in
  std::uint8_t mask_pos_ = 0;     // payload bytes unmasked so far, mod 4
  std::uint8_t opcode_ = 0;       // of the current frame
  bool fin_ : 1;                  // of the current frame
  bool in_payload_ : 1;           // header done, payload bytes pending
  bool message_open_ : 1;         // a fragmented text message awaits continuations
  bool deflate_ : 1;              // permessage-deflate negotiated: RSV1 allowed
  bool compressed_ : 1;           // the current text message had RSV1 set
  std::uint8_t done_ = 0;         // Status close/error once reached (sticky), else 0
  std::uint8_t last_ = 0;         // Status returned by the previous parse()
  Utf8Validator utf8_;            // of the text message being reassembled
  std::uint8_t control_len_ = 0;
  // Ping/pong/close payload, unmasked: 125 bytes, made for the first control
  // frame with a payload (a browser answers our empty pings with empty pongs,
  // so most connections never need it) and freed by shrink().
  std::unique_ptr<char[]> control_;
};

}  // namespace ps
