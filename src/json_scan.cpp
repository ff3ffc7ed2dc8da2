#include "json_scan.h"

#include <cstring>

namespace ps::json {
namespace {

// ---------------------------------------------------------------------------
// Validation (parse): every byte checked, pointers bounded by `end`.
// Each scan_* takes the position of a token and returns the position just
// past it, or nullptr when the bytes are not valid JSON.

bool is_ws(char c) noexcept { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

const char* skip_ws(const char* p, const char* end) noexcept {
  while (p != end && is_ws(*p)) ++p;
  return p;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Four hex digits at p (at least 4 bytes must be readable: callers check).
int hex4(const char* p) noexcept {
  int v = 0;
  for (int i = 0; i < 4; ++i) {
    const int h = hex_value(p[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

// p just after a backslash.
const char* scan_escape(const char* p, const char* end) noexcept {
  if (p == end) return nullptr;
  switch (*p) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
      return p + 1;
    case 'u':
      break;
    default:
      return nullptr;
  }
  ++p;
  if (end - p < 4) return nullptr;
  const int cp = hex4(p);
  if (cp < 0) return nullptr;
  p += 4;
  if (cp >= 0xdc00 && cp <= 0xdfff) return nullptr;  // a low surrogate first
  if (cp < 0xd800 || cp > 0xdbff) return p;
  // A high surrogate needs "\u" and a low surrogate right after it.
  if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return nullptr;
  const int lo = hex4(p + 2);
  if (lo < 0xdc00 || lo > 0xdfff) return nullptr;
  return p + 6;
}

// One UTF-8 sequence starting with a byte >= 0x80 (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF).
const char* scan_utf8(const char* p, const char* end) noexcept {
  const auto b0 = static_cast<unsigned char>(p[0]);
  std::size_t len;
  unsigned char lo = 0x80, hi = 0xbf;  // bounds of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    if (b0 == 0xe0) lo = 0xa0;  // overlong
    if (b0 == 0xed) hi = 0x9f;  // U+D800..U+DFFF
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    if (b0 == 0xf0) lo = 0x90;  // overlong
    if (b0 == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return nullptr;  // continuation byte, C0/C1, F5..FF
  }
  if (static_cast<std::size_t>(end - p) < len) return nullptr;
  const auto b1 = static_cast<unsigned char>(p[1]);
  if (b1 < lo || b1 > hi) return nullptr;
  for (std::size_t i = 2; i < len; ++i) {
    if ((static_cast<unsigned char>(p[i]) & 0xc0) != 0x80) return nullptr;
  }
  return p + len;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr bool kSwar = true;
#else
constexpr bool kSwar = false;
#endif

// High bit set in each byte of an 8-byte word that a string scan must look
// at: < 0x20, '"', '\\', >= 0x80. The lowest flagged byte is exact (the
// borrows of the subtractions only run upwards), which is all we use.
std::uint64_t special_bytes(std::uint64_t w) noexcept {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  const std::uint64_t quote = w ^ (kOnes * '"');
  const std::uint64_t backslash = w ^ (kOnes * '\\');
  const std::uint64_t control = (w - kOnes * 0x20) & ~w;
  const std::uint64_t has_quote = (quote - kOnes) & ~quote;
  const std::uint64_t has_backslash = (backslash - kOnes) & ~backslash;
  return (control | has_quote | has_backslash | w) & kHigh;
}

// p just after the opening quote; returns the position after the closing one.
const char* scan_string(const char* p, const char* end) noexcept {
  for (;;) {
    if constexpr (kSwar) {
      while (end - p >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        const std::uint64_t special = special_bytes(w);
        if (special != 0) {
          p += __builtin_ctzll(special) >> 3;
          break;
        }
        p += 8;
      }
    }
    if (p == end) return nullptr;
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"') return p + 1;
    if (c == '\\') {
      p = scan_escape(p + 1, end);
    } else if (c < 0x20) {
      return nullptr;
    } else if (c < 0x80) {
      ++p;
      continue;
    } else {
      p = scan_utf8(p, end);
    }
    if (p == nullptr) return nullptr;
  }
}

// RFC 8259 section 6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
const char* scan_number(const char* p, const char* end) noexcept {
  if (p != end && *p == '-') ++p;
  if (p == end || !is_digit(*p)) return nullptr;
  if (*p++ != '0') {
    while (p != end && is_digit(*p)) ++p;
  }
  if (p != end && *p == '.') {
    ++p;
    if (p == end || !is_digit(*p)) return nullptr;
    while (p != end && is_digit(*p)) ++p;
  }
  if (p != end && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p != end && (*p == '+' || *p == '-')) ++p;
    if (p == end || !is_digit(*p)) return nullptr;
    while (p != end && is_digit(*p)) ++p;
  }
  return p;
}

const char* scan_literal(const char* p, const char* end, std::string_view word) noexcept {
  if (static_cast<std::size_t>(end - p) < word.size() || std::memcmp(p, word.data(), word.size()) != 0)
    return nullptr;
  return p + word.size();
}

// A member's key and colon at p; returns the position of its value.
const char* scan_key(const char* p, const char* end) noexcept {
  if (p == end || *p != '"') return nullptr;
  p = scan_string(p + 1, end);
  if (p == nullptr) return nullptr;
  p = skip_ws(p, end);
  if (p == end || *p != ':') return nullptr;
  return skip_ws(p + 1, end);
}

// ---------------------------------------------------------------------------
// Walking validated bytes: no bounds or grammar checks needed, since every
// Value comes from parse() and the buffer is complete and well-formed.

Kind kind_of(std::string_view raw) noexcept {
  switch (raw[0]) {
    case '{':
      return Kind::object;
    case '[':
      return Kind::array;
    case '"':
      return Kind::string;
    case 't':
    case 'f':
      return Kind::boolean;
    case 'n':
      return Kind::null;
    default:
      return raw.find_first_of(".eE") == std::string_view::npos ? Kind::integer : Kind::number;
  }
}

// High bit set in each byte of w that is '"' or '\\' (the lowest one exact).
std::uint64_t quote_or_backslash(std::uint64_t w) noexcept {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  const std::uint64_t quote = w ^ (kOnes * '"');
  const std::uint64_t backslash = w ^ (kOnes * '\\');
  return (((quote - kOnes) & ~quote) | ((backslash - kOnes) & ~backslash)) & kHigh;
}

// p at an opening quote; returns the position after the closing one.
const char* skip_string(const char* p, const char* end) noexcept {
  ++p;
  for (;;) {
    if constexpr (kSwar) {
      while (end - p >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        const std::uint64_t hit = quote_or_backslash(w);
        if (hit != 0) {
          p += __builtin_ctzll(hit) >> 3;
          break;
        }
        p += 8;
      }
    }
    if (*p == '"') return p + 1;
    p += *p == '\\' ? 2 : 1;  // an escape's second byte is never its end
  }
}

// The bytes a walk over a container must look at.
struct Structural {
  bool at[256] = {};
  constexpr Structural() {
    at[static_cast<unsigned char>('"')] = true;
    at[static_cast<unsigned char>('{')] = true;
    at[static_cast<unsigned char>('}')] = true;
    at[static_cast<unsigned char>('[')] = true;
    at[static_cast<unsigned char>(']')] = true;
  }
};
constexpr Structural kStructural;

bool is_number_char(char c) noexcept {
  return is_digit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

const char* skip_value(const char* p, const char* end) noexcept {
  switch (*p) {
    case '"':
      return skip_string(p, end);
    case '{':
    case '[': {
      std::size_t depth = 0;
      for (;;) {
        while (!kStructural.at[static_cast<unsigned char>(*p)]) ++p;  // the closer is there
        const char c = *p;
        if (c == '"') {
          p = skip_string(p, end);
          continue;
        }
        ++p;
        if (c == '{' || c == '[') {
          ++depth;
        } else if (--depth == 0) {
          return p;
        }
      }
    }
    case 't':
    case 'n':
      return p + 4;
    case 'f':
      return p + 5;
    default:
      while (p != end && is_number_char(*p)) ++p;
      return p;
  }
}

// Decodes the escape after a backslash at p into UTF-8 (1..4 bytes in out);
// returns the position after it.
const char* decode_escape(const char* p, char out[4], std::size_t& n) noexcept {
  n = 1;
  switch (*p) {
    case 'b':
      out[0] = '\b';
      return p + 1;
    case 'f':
      out[0] = '\f';
      return p + 1;
    case 'n':
      out[0] = '\n';
      return p + 1;
    case 'r':
      out[0] = '\r';
      return p + 1;
    case 't':
      out[0] = '\t';
      return p + 1;
    case 'u':
      break;
    default:  // '"', '\\', '/'
      out[0] = *p;
      return p + 1;
  }
  auto cp = static_cast<std::uint32_t>(hex4(p + 1));
  p += 5;
  if (cp >= 0xd800 && cp <= 0xdbff) {
    const auto lo = static_cast<std::uint32_t>(hex4(p + 2));
    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    p += 6;
  }
  if (cp < 0x80) {
    out[0] = static_cast<char>(cp);
  } else if (cp < 0x800) {
    out[0] = static_cast<char>(0xc0 | (cp >> 6));
    out[1] = static_cast<char>(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    out[0] = static_cast<char>(0xe0 | (cp >> 12));
    out[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out[2] = static_cast<char>(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    out[0] = static_cast<char>(0xf0 | (cp >> 18));
    out[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out[3] = static_cast<char>(0x80 | (cp & 0x3f));
    n = 4;
  }
  return p;
}

// Calls sink(const char*, size_t) with the unescaped value of the string
// contents [p, end) piece by piece; stops early when sink returns false.
// Returns false when it stopped early.
template <typename Sink>
bool unescape(const char* p, const char* end, Sink&& sink) {
  while (p != end) {
    const void* bs = std::memchr(p, '\\', static_cast<std::size_t>(end - p));
    const char* run_end = bs == nullptr ? end : static_cast<const char*>(bs);
    if (run_end != p && !sink(p, static_cast<std::size_t>(run_end - p))) return false;
    if (run_end == end) break;
    char buf[4];
    std::size_t n = 0;
    p = decode_escape(run_end + 1, buf, n);
    if (!sink(buf, n)) return false;
  }
  return true;
}

}  // namespace

Value parse(std::string_view bytes) noexcept {
  if (bytes.empty()) return {};
  const char* const end = bytes.data() + bytes.size();
  const char* p = skip_ws(bytes.data(), end);
  const char* const root = p;
  // One bit per open container: set for an object, clear for an array.
  std::uint64_t is_object[kMaxDepth / 64] = {};
  std::size_t depth = 0;
  for (;;) {
    // A value starts at p.
    if (p == end) return {};
    switch (*p) {
      case '{':
      case '[': {
        if (depth == kMaxDepth) return {};
        const bool obj = *p == '{';
        const std::uint64_t bit = std::uint64_t{1} << (depth % 64);
        if (obj) {
          is_object[depth / 64] |= bit;
        } else {
          is_object[depth / 64] &= ~bit;
        }
        ++depth;
        p = skip_ws(p + 1, end);
        if (p != end && *p == (obj ? '}' : ']')) {
          ++p;
          --depth;
          break;  // an empty container is a complete value
        }
        if (obj && (p = scan_key(p, end)) == nullptr) return {};
        continue;  // the first element or member value
      }
      case '"':
        p = scan_string(p + 1, end);
        break;
      case 't':
        p = scan_literal(p, end, "true");
        break;
      case 'f':
        p = scan_literal(p, end, "false");
        break;
      case 'n':
        p = scan_literal(p, end, "null");
        break;
      default:
        p = scan_number(p, end);
        break;
    }
    if (p == nullptr) return {};
    // After a complete value: close containers until a comma or the end.
    for (;;) {
      const char* const value_end = p;
      p = skip_ws(p, end);
      if (depth == 0) {
        if (p != end) return {};  // trailing garbage
        const std::string_view raw(root, static_cast<std::size_t>(value_end - root));
        return Value(raw, kind_of(raw));
      }
      if (p == end) return {};
      const bool obj = (is_object[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1;
      if (*p == ',') {
        p = skip_ws(p + 1, end);
        if (obj && (p = scan_key(p, end)) == nullptr) return {};
        break;  // the next value
      }
      if (*p != (obj ? '}' : ']')) return {};
      ++p;
      --depth;
    }
  }
}

// ---------------------------------------------------------------------------

Members::Members(Value object) noexcept {
  if (!object.is_object()) return;
  p_ = object.raw_.data() + 1;
  end_ = object.raw_.data() + object.raw_.size();
}

bool Members::next(Value& key, Value& value) noexcept {
  if (p_ == end_) return false;
  const char* p = skip_ws(p_, end_);
  if (*p == ',') p = skip_ws(p + 1, end_);
  if (*p == '}') {
    p_ = end_;
    return false;
  }
  const char* k = skip_string(p, end_);
  key = Value(std::string_view(p, static_cast<std::size_t>(k - p)), Kind::string);
  p = skip_ws(k, end_);
  p = skip_ws(p + 1, end_);  // the colon
  const char* v = skip_value(p, end_);
  const std::string_view raw(p, static_cast<std::size_t>(v - p));
  value = Value(raw, kind_of(raw));
  p_ = v;
  return true;
}

Elements::Elements(Value array) noexcept {
  if (!array.is_array()) return;
  p_ = array.raw_.data() + 1;
  end_ = array.raw_.data() + array.raw_.size();
}

bool Elements::next(Value& value) noexcept {
  if (p_ == end_) return false;
  const char* p = skip_ws(p_, end_);
  if (*p == ',') p = skip_ws(p + 1, end_);
  if (*p == ']') {
    p_ = end_;
    return false;
  }
  const char* v = skip_value(p, end_);
  const std::string_view raw(p, static_cast<std::size_t>(v - p));
  value = Value(raw, kind_of(raw));
  p_ = v;
  return true;
}

Value Value::find(std::string_view key) const noexcept {
  Value found;
  Value k, v;
  for (Members m(*this); m.next(k, v);) {
    if (k.string_equals(key)) found = v;
  }
  return found;
}

Value Value::find_path(std::string_view dotted) const noexcept {
  if (dotted.empty()) return {};
  Value node = *this;
  std::size_t pos = 0;
  for (;;) {
    std::size_t dot = dotted.find('.', pos);
    if (dot == std::string_view::npos) dot = dotted.size();
    const std::string_view key = dotted.substr(pos, dot - pos);
    if (key.empty()) return {};
    node = node.find(key);
    if (!node || dot == dotted.size()) return node;
    pos = dot + 1;
  }
}

std::string_view Value::string_contents() const noexcept {
  if (kind_ != Kind::string) return {};
  return raw_.substr(1, raw_.size() - 2);
}

bool Value::string_is_plain() const noexcept {
  return kind_ == Kind::string && string_contents().find('\\') == std::string_view::npos;
}

bool Value::string_equals(std::string_view s) const noexcept {
  if (kind_ != Kind::string) return false;
  const std::string_view c = string_contents();
  // Every escape is longer than what it stands for, so the unescaped value
  // is never longer than the contents, and equally long only without escapes.
  if (c.size() < s.size()) return false;
  if (c.size() == s.size()) return c == s && c.find('\\') == std::string_view::npos;
  if (c.find('\\') == std::string_view::npos) return false;
  std::size_t at = 0;
  const bool same = unescape(c.data(), c.data() + c.size(), [&](const char* piece, std::size_t n) {
    if (n > s.size() - at || std::memcmp(piece, s.data() + at, n) != 0) return false;
    at += n;
    return true;
  });
  return same && at == s.size();
}

std::string Value::string() const {
  std::string out;
  if (kind_ != Kind::string) return out;
  const std::string_view c = string_contents();
  out.reserve(c.size());
  unescape(c.data(), c.data() + c.size(), [&](const char* piece, std::size_t n) {
    out.append(piece, n);
    return true;
  });
  return out;
}

std::size_t Value::string_size() const noexcept {
  if (kind_ != Kind::string) return 0;
  const std::string_view c = string_contents();
  std::size_t n = 0;
  unescape(c.data(), c.data() + c.size(), [&](const char*, std::size_t piece) {
    n += piece;
    return true;
  });
  return n;
}

std::string_view Value::integer_text() const noexcept {
  if (kind_ != Kind::integer) return {};
  if (raw_ == "-0") return raw_.substr(1);
  return raw_;
}

std::optional<std::int64_t> Value::int64() const noexcept {
  if (kind_ != Kind::integer) return std::nullopt;
  const bool negative = raw_[0] == '-';
  // Accumulate as a negative number: its range is one larger.
  std::int64_t v = 0;
  constexpr std::int64_t kMin = INT64_MIN;
  for (std::size_t i = negative ? 1 : 0; i < raw_.size(); ++i) {
    const int d = raw_[i] - '0';
    if (v < (kMin + d) / 10) return std::nullopt;
    v = v * 10 - d;
  }
  if (negative) return v;
  if (v == kMin) return std::nullopt;
  return -v;
}

}  // namespace ps::json
