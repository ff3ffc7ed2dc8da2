#include "resp_value.h"

#include <utility>

namespace ps {

RespValue RespValue::status_value(std::string_view s) {
  RespValue v;
  v.kind = Kind::status;
  v.str.assign(s.data(), s.size());
  return v;
}

RespValue RespValue::error_value(std::string_view s) {
  RespValue v;
  v.kind = Kind::error;
  v.str.assign(s.data(), s.size());
  return v;
}

RespValue RespValue::integer_value(long long n) {
  RespValue v;
  v.kind = Kind::integer;
  v.integer = n;
  return v;
}

RespValue RespValue::string_value(std::string_view s) {
  RespValue v;
  v.kind = Kind::string;
  v.str.assign(s.data(), s.size());
  return v;
}

RespValue RespValue::array_value(std::vector<RespValue> elements) {
  RespValue v;
  v.kind = Kind::array;
  v.elements = std::move(elements);
  return v;
}

bool operator==(const RespValue& a, const RespValue& b) noexcept {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case RespValue::Kind::nil:
      return true;
    case RespValue::Kind::integer:
      return a.integer == b.integer;
    case RespValue::Kind::array:
      if (a.elements.size() != b.elements.size()) return false;
      for (std::size_t i = 0; i < a.elements.size(); ++i) {
        if (a.elements[i] != b.elements[i]) return false;
      }
      return true;
    default:
      return a.str == b.str;
  }
}

namespace {

// One CRLF-terminated line starting at pos (the type byte excluded): the
// text before the CRLF; false when there is no CRLF yet.
bool line_at(std::string_view in, std::size_t pos, std::string_view& text, std::size_t& next) {
  const std::size_t cr = in.find('\r', pos);
  if (cr == std::string_view::npos || cr + 1 >= in.size()) return false;
  text = in.substr(pos, cr - pos);
  next = cr + 2;
  return true;
}

// A RESP integer: optional '-', 1-19 digits, fits long long.
bool parse_ll(std::string_view s, long long& out) {
  bool neg = false;
  if (!s.empty() && s[0] == '-') {
    neg = true;
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 19) return false;
  unsigned long long v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  const unsigned long long lim = neg ? 9223372036854775808ull : 9223372036854775807ull;
  if (v > lim) return false;
  out = neg ? static_cast<long long>(0 - v) : static_cast<long long>(v);
  return true;
}

class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}

  RespDecodeResult value(RespValue& out, std::size_t& pos, std::size_t depth) {
    if (depth > kRespMaxDepth) return RespDecodeResult::malformed;
    if (pos >= in_.size()) return RespDecodeResult::incomplete;
    const char type = in_[pos];
    std::string_view text;
    std::size_t next = 0;
    if (!line_at(in_, pos + 1, text, next)) {
      // a type byte we do not know is malformed however much follows
      if (type != '+' && type != '-' && type != ':' && type != '$' && type != '*') {
        return RespDecodeResult::malformed;
      }
      return RespDecodeResult::incomplete;
    }
    if (in_[next - 1] != '\n') return RespDecodeResult::malformed;
    out.elements.clear();
    out.str.clear();
    out.integer = 0;
    switch (type) {
      case '+':
      case '-':
        if (text.find('\n') != std::string_view::npos) return RespDecodeResult::malformed;
        out.kind = type == '+' ? RespValue::Kind::status : RespValue::Kind::error;
        out.str.assign(text.data(), text.size());
        pos = next;
        return RespDecodeResult::ok;
      case ':':
        if (!parse_ll(text, out.integer)) return RespDecodeResult::malformed;
        out.kind = RespValue::Kind::integer;
        pos = next;
        return RespDecodeResult::ok;
      case '$': {
        long long n = 0;
        if (!parse_ll(text, n) || n < -1 || n > static_cast<long long>(kRespMaxBulk)) {
          return RespDecodeResult::malformed;
        }
        if (n == -1) {
          out.kind = RespValue::Kind::nil;
          pos = next;
          return RespDecodeResult::ok;
        }
        const std::size_t len = static_cast<std::size_t>(n);
        if (in_.size() - next < len + 2) {
          // what is there must still be able to end in CRLF
          if (in_.size() - next > len && in_[next + len] != '\r') return RespDecodeResult::malformed;
          return RespDecodeResult::incomplete;
        }
        if (in_[next + len] != '\r' || in_[next + len + 1] != '\n') return RespDecodeResult::malformed;
        out.kind = RespValue::Kind::string;
        out.str.assign(in_.data() + next, len);
        pos = next + len + 2;
        return RespDecodeResult::ok;
      }
      case '*': {
        long long n = 0;
        if (!parse_ll(text, n) || n < -1 || n > static_cast<long long>(kRespMaxElements)) {
          return RespDecodeResult::malformed;
        }
        if (n == -1) {
          out.kind = RespValue::Kind::nil;
          pos = next;
          return RespDecodeResult::ok;
        }
        // every element takes at least 3 bytes: do not reserve for a lie
        out.kind = RespValue::Kind::array;
        pos = next;
        for (long long i = 0; i < n; ++i) {
          out.elements.emplace_back();
          const RespDecodeResult r = value(out.elements.back(), pos, depth + 1);
          if (r != RespDecodeResult::ok) return r;
        }
        return RespDecodeResult::ok;
      }
      default:
        return RespDecodeResult::malformed;
    }
  }

 private:
  std::string_view in_;
};

void encode_into(const RespValue& v, std::string& out) {
  switch (v.kind) {
    case RespValue::Kind::nil:
      out += "$-1\r\n";
      return;
    case RespValue::Kind::status:
      out += '+';
      out += v.str;
      out += "\r\n";
      return;
    case RespValue::Kind::error:
      out += '-';
      out += v.str;
      out += "\r\n";
      return;
    case RespValue::Kind::integer:
      out += ':';
      out += std::to_string(v.integer);
      out += "\r\n";
      return;
    case RespValue::Kind::string:
      out += '$';
      out += std::to_string(v.str.size());
      out += "\r\n";
      out += v.str;
      out += "\r\n";
      return;
    case RespValue::Kind::array:
      out += '*';
      out += std::to_string(v.elements.size());
      out += "\r\n";
      for (const RespValue& e : v.elements) encode_into(e, out);
      return;
  }
}

void describe_into(const RespValue& v, std::string& out, std::size_t max_len) {
  if (out.size() > max_len) return;
  switch (v.kind) {
    case RespValue::Kind::nil:
      out += "nil";
      return;
    case RespValue::Kind::integer:
      out += std::to_string(v.integer);
      return;
    case RespValue::Kind::array:
      out += '[';
      for (std::size_t i = 0; i < v.elements.size(); ++i) {
        if (i) out += ", ";
        if (out.size() > max_len) {
          out += "...";
          break;
        }
        describe_into(v.elements[i], out, max_len);
      }
      out += ']';
      return;
    default: {
      out += v.kind == RespValue::Kind::error ? "(error \""
                                              : (v.kind == RespValue::Kind::status ? "(status \"" : "\"");
      std::size_t n = 0;
      for (const char c : v.str) {
        if (++n > 40) {
          out += "...";
          break;
        }
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
          static const char kHex[] = "0123456789abcdef";
          out += "\\x";
          out += kHex[u >> 4];
          out += kHex[u & 15];
        } else {
          out += c;
        }
      }
      out += v.kind == RespValue::Kind::string ? "\"" : "\")";
      return;
    }
  }
}

}  // namespace

RespDecodeResult resp_decode(std::string_view in, RespValue& out, std::size_t& used) {
  Decoder d(in);
  std::size_t pos = 0;
  const RespDecodeResult r = d.value(out, pos, 0);
  used = r == RespDecodeResult::ok ? pos : 0;
  return r;
}

std::string resp_encode(const RespValue& v) {
  std::string out;
  encode_into(v, out);
  return out;
}

std::string resp_describe(const RespValue& v, std::size_t max_len) {
  std::string out;
  describe_into(v, out, max_len);
  return out;
}

}  // namespace ps
