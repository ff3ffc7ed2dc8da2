#include "resp_guard.h"

#include <algorithm>
#include <cstring>

namespace ps {

namespace {

// hiredis 0.14's string2ll: "0", or an optional '-' and a digit 1-9 then
// digits, within int64 ("-0", "01", "+1", "" are all refused).
bool parse_int(const char* s, std::size_t n, std::int64_t* out) {
  if (n == 0) return false;
  if (n == 1 && s[0] == '0') {
    *out = 0;
    return true;
  }
  const bool negative = s[0] == '-';
  std::size_t i = negative ? 1 : 0;
  if (i == n || s[i] < '1' || s[i] > '9') return false;
  constexpr std::uint64_t kMaxMagnitude = std::uint64_t(1) << 63;  // |INT64_MIN|
  std::uint64_t v = 0;
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    const auto d = static_cast<std::uint64_t>(s[i] - '0');
    if (v > (kMaxMagnitude - d) / 10) return false;  // v * 10 + d > 2^63
    v = v * 10 + d;
  }
  if (negative) {
    *out = v == kMaxMagnitude ? INT64_MIN : -static_cast<std::int64_t>(v);
    return true;
  }
  if (v == kMaxMagnitude) return false;  // 2^63 > INT64_MAX
  *out = static_cast<std::int64_t>(v);
  return true;
}

}  // namespace

void RespGuard::reset(RespGuardLimits limits) noexcept {
  limits_ = limits;
  state_ = State::type;
  malformed_ = false;
  error_ = "";
  hold_len_ = 0;
  line_len_ = 0;
  remaining_ = 0;
  depth_ = 0;
  for (auto& d : due_) d = 0;
  discarded_ = 0;
  last_discarded_ = 0;
  dropped_ = 0;
}

bool RespGuard::fail(const char* why) noexcept {
  malformed_ = true;
  error_ = why;
  return false;
}

// A reply (or an array element) is complete: count it off the enclosing
// arrays, closing each one whose last element it was.
void RespGuard::complete_item() noexcept {
  state_ = State::type;
  while (depth_ > 0) {
    if (--due_[depth_ - 1] != 0) return;
    depth_--;
  }
}

const char* RespGuard::number_error() const noexcept {
  return hold_[0] == ':' ? "bad integer" : hold_[0] == '$' ? "bad bulk string length" : "bad array length";
}

// hold_ has a whole ":" "$" or "*" line (type byte and digits, no CRLF):
// takes it into the state and says what goes out for it.
RespGuard::Number RespGuard::take_number() noexcept {
  const char type = hold_[0];
  const std::size_t len = hold_len_;
  hold_len_ = 0;
  std::int64_t v = 0;
  if (!parse_int(hold_ + 1, len - 1u, &v) || (type != ':' && v < -1)) {
    fail(number_error());
    return Number::malformed;
  }
  if (type == ':' || v == -1) {  // an integer, a null bulk or a null array
    complete_item();
    return Number::pass;
  }
  const auto u = static_cast<std::uint64_t>(v);
  if (type == '$') {
    remaining_ = u;
    if (u > limits_.max_bulk) {
      discarded_++;
      last_discarded_ = u;
      state_ = u != 0 ? State::skip : State::skip_cr;
      return Number::marker;
    }
    state_ = u != 0 ? State::bulk : State::bulk_cr;
    return Number::pass;
  }
  // '*'; the depth was checked at its type byte.
  if (u > limits_.max_elements) {
    fail("array longer than the limit");
    return Number::malformed;
  }
  if (u == 0) {
    complete_item();
  } else {
    due_[depth_++] = u;
    state_ = State::type;
  }
  return Number::pass;
}

RespGuard::Status RespGuard::feed(const char* in, std::size_t n, Sink sink, void* ctx) noexcept {
  if (malformed_) return Status::malformed;
  const char* p = in;
  const char* const end = in + n;
  // Input bytes from run up to p are passed on at the next flush: in the
  // common case, one sink call per feed.
  const char* run = nullptr;
  auto keep = [&](const char* at) {
    if (run == nullptr) run = at;
  };
  auto flush = [&](const char* upto) {
    if (run != nullptr && upto > run) sink(ctx, run, static_cast<std::size_t>(upto - run));
    run = nullptr;
  };
  auto broken = [&](const char* why) {
    flush(p);
    if (!malformed_) fail(why);
    return Status::malformed;
  };

  while (p < end) {
    switch (state_) {
      case State::type:
        switch (*p) {
          case '+':
          case '-':
            keep(p);
            p++;
            line_len_ = 0;
            state_ = State::line;
            break;
          case '*':
            if (depth_ == kMaxDepth) return broken("arrays nested too deep");
            [[fallthrough]];
          case ':':
          case '$': {
            hold_[0] = *p;
            hold_len_ = 1;
            // Usually the whole line is in this input: its bytes stay in the
            // run, unless the marker replaces them.
            const char* digits = p + 1;
            const std::size_t window =
                std::min<std::size_t>(static_cast<std::size_t>(end - digits), kMaxNumber + 1);
            const auto* cr = static_cast<const char*>(std::memchr(digits, '\r', window));
            if (cr == nullptr && window == kMaxNumber + 1) return broken(number_error());
            if (cr != nullptr && cr + 1 < end) {
              if (cr[1] != '\n') return broken("CR not followed by LF");
              std::memcpy(hold_ + 1, digits, static_cast<std::size_t>(cr - digits));
              hold_len_ = static_cast<std::uint8_t>(1 + (cr - digits));
              switch (take_number()) {
                case Number::pass:
                  keep(p);
                  break;
                case Number::marker:
                  flush(p);
                  sink(ctx, kMarker, kMarkerSize);
                  break;
                case Number::malformed:
                  return broken("");  // take_number said why
              }
              p = cr + 2;
              break;
            }
            // Cut by the end of the input: held back until it is complete.
            flush(p);
            p++;
            state_ = State::number;
            break;
          }
          default:
            return broken("unknown reply type byte");
        }
        break;

      case State::line: {
        const auto* cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(end - p)));
        const char* stop = cr != nullptr ? cr : end;
        const auto span = static_cast<std::uint64_t>(stop - p);
        keep(p);
        if (span > limits_.max_line - line_len_) {
          // Passed on up to the limit, whatever the chunks: the same output
          // for every split of the stream.
          p += limits_.max_line - line_len_;
          return broken("status or error line longer than the limit");
        }
        line_len_ += span;
        p = stop;
        if (cr != nullptr) {
          p++;
          state_ = State::line_cr;
        }
        break;
      }

      case State::line_cr:
        // hiredis ends a line at the first CRLF: a CR before anything else is
        // content.
        if (*p == '\n') {
          keep(p);
          p++;
          complete_item();
          break;
        }
        line_len_ += *p == '\r' ? 1 : 2;
        if (line_len_ > limits_.max_line) return broken("status or error line longer than the limit");
        keep(p);
        if (*p != '\r') state_ = State::line;
        p++;
        break;

      case State::number:
        if (*p == '\r') {
          state_ = State::number_lf;
        } else if (hold_len_ == 1 + kMaxNumber) {
          return broken(number_error());
        } else {
          hold_[hold_len_++] = *p;
        }
        p++;
        break;

      case State::number_lf: {
        if (*p != '\n') return broken("CR not followed by LF");
        p++;
        const std::size_t len = hold_len_;
        switch (take_number()) {
          case Number::pass:
            hold_[len] = '\r';
            hold_[len + 1] = '\n';
            sink(ctx, hold_, len + 2);
            break;
          case Number::marker:
            sink(ctx, kMarker, kMarkerSize);
            break;
          case Number::malformed:
            return Status::malformed;  // nothing kept since the type byte
        }
        break;
      }

      case State::bulk:
      case State::skip: {
        const auto avail = static_cast<std::uint64_t>(end - p);
        const std::uint64_t take = remaining_ < avail ? remaining_ : avail;
        if (state_ == State::bulk) {
          keep(p);
        } else {
          dropped_ += take;
        }
        p += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = state_ == State::bulk ? State::bulk_cr : State::skip_cr;
        break;
      }

      case State::bulk_cr:
      case State::skip_cr:
        if (*p != '\r') return broken("bulk string not followed by CRLF");
        if (state_ == State::bulk_cr) keep(p);
        state_ = state_ == State::bulk_cr ? State::bulk_lf : State::skip_lf;
        p++;
        break;

      case State::bulk_lf:
      case State::skip_lf:
        if (*p != '\n') return broken("bulk string not followed by CRLF");
        if (state_ == State::bulk_lf) keep(p);
        p++;
        complete_item();
        break;
    }
  }
  flush(end);
  return Status::ok;
}

}  // namespace ps
