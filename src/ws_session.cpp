#include "ws_session.h"

#include <algorithm>

#include "frame_writer.h"
#include "permessage_deflate.h"

namespace ps {

namespace {

const SharedBytes& ping_frame() {
  static const SharedBytes frame = make_shared_frame(Opcode::ping, {});
  return frame;
}

}  // namespace

WsSession::WsSession(const SessionConfig& config, std::int64_t now, bool permessage_deflate)
    : config_(config), parser_(config.max_message_size), last_seen_(now) {
  parser_.set_permessage_deflate(permessage_deflate);
  if (config_.heartbeat_ms > 0) next_ping_() = now + config_.heartbeat_ms;
}

void WsSession::track_message(std::int64_t now) {
  if (state_ != State::open) return;  // the slot holds close_wait_until_ then
  if (parser_.idle()) {
    message_started_() = -1;
  } else if (message_started_() < 0) {
    message_started_() = now;
  }
}

WsSession::Feed WsSession::feed(std::string_view& in, std::int64_t now, Inflater* inflater) {
  text_ = {};
  if (state_ == State::closed) {
    in = {};
    return Feed::done;
  }
  if (!in.empty()) last_seen_ = now;
  while (!in.empty() && state_ != State::closed && !peer_closed_) {
    const FrameParser::Status st = parser_.parse(in);
    switch (st) {
      case FrameParser::Status::need_more:
        track_message(now);
        return Feed::done;
      case FrameParser::Status::text:
        track_message(now);
        if (state_ != State::open) break;  // closing: only the peer's close matters
        if (!parser_.compressed()) {
          text_ = parser_.payload();
          return Feed::text;
        }
        if (inflater == nullptr) {
          begin_close(close_code::internal_error, "internal error", CloseCause::server, now, true);
          return Feed::done;
        }
        if (const std::uint16_t code =
                inflater->inflate_text(parser_.payload(), config_.max_message_size, text_)) {
          text_ = {};
          parser_.shrink();
          begin_close(code,
                      code == close_code::too_big           ? "message too big"
                      : code == close_code::invalid_payload ? "invalid compressed message"
                                                            : "internal error",
                      code == close_code::internal_error ? CloseCause::server : CloseCause::protocol, now,
                      false);
          // Parsed on for the peer's close only; the rest of this input is dropped.
          in = {};
          return Feed::done;
        }
        return Feed::text;
      case FrameParser::Status::ping:
        track_message(now);
        // Under send_limit like everything else: a peer that pings without
        // reading must not grow its queue without bound.
        if (state_ == State::open) {
          if (send(make_shared_frame(Opcode::pong, parser_.payload()), now) == Send::queued)
            control_frames_++;
        }
        break;
      case FrameParser::Status::pong:
        track_message(now);
        break;
      case FrameParser::Status::close:
        peer_closed_ = true;
        if (state_ == State::open) {
          // Echo the peer's code (RFC 6455 5.5.1); frames already queued go first.
          begin_close(parser_.close_code(), {}, CloseCause::peer, now, false);
        } else if (close_written_) {
          finish(false);
        }
        in = {};
        return Feed::done;
      case FrameParser::Status::error:
        // Failing the connection. The peer's unread bytes would turn our
        // FIN into a RST that can destroy the close frame before the peer
        // reads it, so we half-close and drain (the sticky parser consumes
        // nothing more) until EOF or close_wait (found by tests/conformance).
        if (state_ == State::open) {
          begin_close(parser_.close_code(), "protocol error", CloseCause::protocol, now, false);
        }
        in = {};
        return Feed::done;
    }
  }
  if (parser_.buffered() == 0) parser_.shrink();
  return Feed::done;
}

void WsSession::peer_eof() {
  if (state_ == State::closed) return;
  if (state_ == State::open) cause_ = CloseCause::eof;
  peer_closed_ = true;
  finish(!out_.empty());
}

WsSession::Send WsSession::send(SharedBytes frame, std::int64_t now) {
  if (state_ != State::open) return Send::not_open;
  if (!out_.push(std::move(frame), config_.send_limit)) {
    begin_close(close_code::policy_violation, "slow consumer", CloseCause::slow_consumer, now, true);
    return Send::slow_consumer;
  }
  return Send::queued;
}

WsSession::Send WsSession::send_event(SharedBytes frame, const EventPtr& ev, std::int64_t now,
                                      std::int64_t stamp) {
  if (state_ != State::open) return Send::not_open;
  if (config_.conflate && blocked_ && out_.conflate(ev, frame, config_.send_limit)) return Send::conflated;
  if (!out_.push_event(std::move(frame), ev, config_.send_limit, stamp)) {
    begin_close(close_code::policy_violation, "slow consumer", CloseCause::slow_consumer, now, true);
    return Send::slow_consumer;
  }
  return Send::queued;
}

void WsSession::send_unlimited(SharedBytes frame) {
  if (state_ == State::closed) return;
  out_.push_unlimited(std::move(frame));
}

void WsSession::close(std::uint16_t code, std::string_view reason, std::int64_t now) {
  if (state_ != State::open) return;
  begin_close(code, reason, CloseCause::server, now, false);
}

void WsSession::begin_close(std::uint16_t code, std::string_view reason, CloseCause cause, std::int64_t now,
                            bool discard_queued) {
  state_ = State::closing;
  cause_ = cause;
  close_code_ = code;
  text_ = {};
  message_started_() = -1;
  if (discard_queued) out_.discard_unstarted();
  // The deadline is set before anything can fail: it is what guarantees the end.
  close_deadline_() = now + std::max<std::int64_t>(config_.close_timeout_ms, 0);
  out_.push_unlimited(SharedBytes::concat({make_close_frame(code, reason)}));
  control_frames_++;
}

void WsSession::finish(bool abortive) {
  state_ = State::closed;
  abortive_ = abortive;
  text_ = {};
  out_.clear();
  parser_.shrink();
}

void WsSession::abort() {
  if (state_ == State::closed) return;
  if (cause_ == CloseCause::none) cause_ = CloseCause::server;
  finish(!out_.empty());
}

void WsSession::timer(std::int64_t now) {
  if (state_ == State::closed) return;
  if (state_ == State::closing) {
    if (now >= close_deadline_()) {
      finish(!out_.empty());
    } else if (close_written_ && now >= close_wait_until_()) {
      finish(false);  // the peer never answered our close; all of ours is out
    }
    return;
  }
  if (recheck_at_ >= 0 && now >= recheck_at_) {
    recheck_at_ = -1;
    recheck_due_ = true;
  }
  if (config_.message_timeout_ms > 0 && message_started_() >= 0 &&
      now - message_started_() >= config_.message_timeout_ms) {
    begin_close(close_code::policy_violation, "message timeout", CloseCause::message_timeout, now, false);
    return;
  }
  if (config_.heartbeat_ms > 0 && now >= next_ping_()) {
    if (now - last_seen_ >= 2 * config_.heartbeat_ms) {
      peer_closed_ = true;  // a silent peer will not answer our close
      begin_close(close_code::going_away, "heartbeat timeout", CloseCause::heartbeat_timeout, now, false);
      return;
    }
    out_.push_unlimited(ping_frame());
    release_when_drained_ = true;
    control_frames_++;
    next_ping_() = now + config_.heartbeat_ms;
  }
}

std::string_view WsSession::pending() const {
  if (state_ == State::closed) return {};
  return out_.front();
}

std::int64_t WsSession::written(std::size_t n, std::int64_t now) {
  if (state_ == State::closed) return 0;
  const std::int64_t stamp = out_.consume(n);
  if (out_.empty()) {
    blocked_ = false;
    if (release_when_drained_) {
      out_.release();
      release_when_drained_ = false;
    }
  }
  if (state_ == State::closing && out_.empty() && !close_written_) {
    close_written_ = true;
    if (peer_closed_) {
      finish(false);
      return stamp;
    }
    close_wait_until_() = std::min(now + std::max<std::int64_t>(config_.close_wait_ms, 0), close_deadline_());
  }
  return stamp;
}

void WsSession::write_failed() {
  if (state_ == State::closed) return;
  if (state_ == State::open) cause_ = CloseCause::write_error;
  finish(true);
}

std::optional<std::int64_t> WsSession::deadline() const {
  switch (state_) {
    case State::closed:
      return std::nullopt;
    case State::closing:
      return close_written_ ? std::min(close_wait_until_(), close_deadline_()) : close_deadline_();
    case State::open:
      break;
  }
  std::optional<std::int64_t> d;
  if (config_.heartbeat_ms > 0) d = next_ping_();
  if (recheck_at_ >= 0) d = d ? std::min(*d, recheck_at_) : recheck_at_;
  if (config_.message_timeout_ms > 0 && message_started_() >= 0) {
    const std::int64_t m = message_started_() + config_.message_timeout_ms;
    d = d ? std::min(*d, m) : m;
  }
  return d;
}

}  // namespace ps
