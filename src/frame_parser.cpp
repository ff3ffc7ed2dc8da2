#include "frame_parser.h"

#include <algorithm>

namespace ps {

namespace {

constexpr std::uint8_t kContinuation = 0x0;
constexpr std::uint8_t kText = 0x1;
constexpr std::uint8_t kBinary = 0x2;
constexpr std::uint8_t kClose = 0x8;
constexpr std::uint8_t kPing = 0x9;
constexpr std::uint8_t kPong = 0xA;
constexpr std::size_t kMaxControlPayload = 125;  // RFC 6455 5.5

using Status = FrameParser::Status;

constexpr std::uint8_t raw(Status s) { return static_cast<std::uint8_t>(s); }

// IANA "WebSocket Close Code Number Registry": codes a peer may send.
// 1004-1006 and 1015 are reserved / never on the wire, 1016-2999 unassigned.
bool valid_close_code(std::uint16_t code) {
  if (code >= 1000 && code <= 1003) return true;
  if (code >= 1007 && code <= 1014) return true;
  return code >= 3000 && code <= 4999;
}

}  // namespace

FrameParser::Status FrameParser::fail(std::uint16_t code) {
  close_code_ = code;
  done_ = last_ = raw(Status::error);
  // Nothing more will be parsed: give the partial message back now.
  message_.reset();
  return Status::error;
}

// Checks header byte i as soon as it arrives, so a violation is reported at
// the same byte however the input is split. Returns 0 or the close code.
std::uint16_t FrameParser::header_byte(std::size_t i) {
  const std::uint8_t b = header_[i];
  if (i == 0) {
    fin_ = b & 0x80;
    opcode_ = b & 0x0F;
    // RSV2/RSV3: no extension uses them. RSV1: permessage-deflate, on the
    // first frame of a data message only (RFC 7692 6.1).
    if (b & 0x30) return close_code::protocol_error;
    if ((b & 0x40) && (!deflate_ || (opcode_ & 0x08) || opcode_ == kContinuation))
      return close_code::protocol_error;
    if (opcode_ & 0x08) {
      if (opcode_ > kPong) return close_code::protocol_error;
      // RFC 6455 5.5: control frames are never fragmented.
      if (!fin_) return close_code::protocol_error;
      return 0;
    }
    if (opcode_ > kBinary) return close_code::protocol_error;
    if (opcode_ == kContinuation && !message_open_) return close_code::protocol_error;
    if (opcode_ != kContinuation && message_open_) return close_code::protocol_error;
    // Reported at the header so the payload is never buffered.
    if (opcode_ == kBinary) return close_code::unsupported_data;
    return 0;
  }
  const std::uint8_t len7 = header_[1] & 0x7F;
  if (i == 1) {
    if (!(b & 0x80)) return close_code::protocol_error;  // client frames are masked
    if ((opcode_ & 0x08) && len7 > kMaxControlPayload) return close_code::protocol_error;
    header_need_ = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
    return len7 >= 126 ? 0 : set_length(len7);
  }
  if (len7 == 126 && i == 3) return set_length(std::uint64_t{header_[2]} << 8 | header_[3]);
  if (len7 == 127) {
    if (i == 2 && (b & 0x80)) return close_code::protocol_error;
    if (i == 9) {
      std::uint64_t len = 0;
      for (int k = 2; k < 10; ++k) len = len << 8 | header_[k];
      return set_length(len);
    }
  }
  return 0;
}

// The payload length is known: enforce max_message_size before buffering.
std::uint16_t FrameParser::set_length(std::uint64_t len) {
  remaining_ = len;
  if (opcode_ & 0x08) return 0;
  // message_ holds the earlier fragments, never more than the limit.
  const std::size_t max = max_message_size_;
  const std::size_t room = max - std::min(buffered(), max);
  return len > room ? close_code::too_big : 0;
}

FrameParser::Status FrameParser::finish_frame() {
  switch (opcode_) {
    case kText:
    case kContinuation:
      if (!fin_) return Status::need_more;
      message_open_ = false;
      if (!compressed_ && !utf8_.complete()) return fail(close_code::invalid_payload);
      return Status::text;
    case kPing:
      return Status::ping;
    case kPong:
      return Status::pong;
    default:
      break;
  }
  // Close (RFC 6455 5.5.1): empty, or a 2-byte code plus a UTF-8 reason.
  if (control_len_ == 0) {
    close_code_ = close_code::no_status;
  } else if (control_len_ == 1) {
    return fail(close_code::protocol_error);
  } else {
    const auto code = static_cast<std::uint16_t>(static_cast<std::uint8_t>(control_[0]) << 8 |
                                                 static_cast<std::uint8_t>(control_[1]));
    if (!valid_close_code(code)) return fail(close_code::protocol_error);
    if (!is_valid_utf8(close_reason_raw())) return fail(close_code::invalid_payload);
    close_code_ = code;
  }
  done_ = raw(Status::close);
  message_.reset();
  return Status::close;
}

FrameParser::Status FrameParser::parse(std::string_view& input) {
  if (done_) return static_cast<Status>(done_);
  // The previous text message's view ends here; keep the capacity for the next.
  if (last_ == raw(Status::text) && message_) message_->clear();
  last_ = raw(Status::need_more);

  for (;;) {
    if (!in_payload_) {
      while (header_len_ < header_need_) {
        if (input.empty()) return Status::need_more;
        header_[header_len_] = static_cast<std::uint8_t>(input.front());
        input.remove_prefix(1);
        if (const std::uint16_t code = header_byte(header_len_++)) return fail(code);
      }
      in_payload_ = true;
      mask_pos_ = 0;
      if (opcode_ & 0x08) {
        control_len_ = 0;
        if (remaining_ > 0 && !control_) control_ = std::make_unique<char[]>(kMaxControlPayload);
      } else if (opcode_ == kText) {
        message_open_ = true;
        compressed_ = (header_[0] & 0x40) != 0;
        utf8_.reset();
      }
    }

    if (remaining_ > 0) {
      if (input.empty()) return Status::need_more;
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, input.size()));
      const std::uint8_t* mask = header_ + header_need_ - 4;
      char* out;
      if (opcode_ & 0x08) {
        out = control_.get() + control_len_;  // fits: control length <= 125
        std::copy_n(input.data(), n, out);
        control_len_ += static_cast<std::uint8_t>(n);
      } else {
        if (!message_) message_ = std::make_unique<std::string>();
        const std::size_t old = message_->size();
        message_->append(input.data(), n);
        out = message_->data() + old;
      }
      for (std::size_t k = 0; k < n; ++k) out[k] ^= static_cast<char>(mask[(mask_pos_ + k) & 3]);
      mask_pos_ = static_cast<std::uint8_t>((mask_pos_ + n) & 3);
      remaining_ -= n;
      input.remove_prefix(n);
      // Fail fast: an invalid sequence is reported mid-frame, not at its end.
      // A compressed message is checked once inflated.
      if (!(opcode_ & 0x08) && !compressed_ && !utf8_.feed({out, n}))
        return fail(close_code::invalid_payload);
      if (remaining_ > 0) return Status::need_more;
    }

    in_payload_ = false;
    header_len_ = 0;
    header_need_ = 2;
    const Status st = finish_frame();
    if (st != Status::need_more) {
      last_ = raw(st);
      return st;
    }
  }
}

std::string_view FrameParser::payload() const {
  switch (static_cast<Status>(last_)) {
    case Status::text:
      return message_ ? std::string_view(*message_) : std::string_view{};
    case Status::ping:
    case Status::pong:
      return control_ ? std::string_view(control_.get(), control_len_) : std::string_view{};
    case Status::close:
      return close_reason();
    default:
      return {};
  }
}

bool FrameParser::compressed() const { return last_ == raw(Status::text) && compressed_; }

std::string_view FrameParser::close_reason() const {
  return done_ == raw(Status::close) ? close_reason_raw() : std::string_view{};
}

std::string_view FrameParser::close_reason_raw() const {
  if (control_len_ <= 2 || !control_) return {};
  return {control_.get() + 2, static_cast<std::size_t>(control_len_ - 2)};
}

}  // namespace ps
