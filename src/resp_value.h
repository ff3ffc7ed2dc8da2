// A Redis reply as a plain tree (RESP2: what hiredis 0.14 gives), so that the
// cluster code of src/ can read CLUSTER SLOTS / CLUSTER SHARDS replies and
// errors without hiredis. Not for the pub/sub hot path: converting copies
// every string.
//
//   module/: ps::RespValue v; if (ps::resp_from_hiredis(reply, v)) ...
//   tests:   ps::resp_decode("*1\r\n:5\r\n", v, used)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ps {

struct RespValue {
  // The RESP2 types; `nil` is the null bulk string and the null array.
  enum class Kind : std::uint8_t { nil, status, error, integer, string, array };

  Kind kind = Kind::nil;
  std::string str;                  // status, error (without the '-'), string
  long long integer = 0;            // integer
  std::vector<RespValue> elements;  // array

  bool is_nil() const noexcept { return kind == Kind::nil; }
  bool is_array() const noexcept { return kind == Kind::array; }
  bool is_integer() const noexcept { return kind == Kind::integer; }
  bool is_error() const noexcept { return kind == Kind::error; }
  // A bulk string or a status (both are text to a reader of replies).
  bool is_text() const noexcept { return kind == Kind::string || kind == Kind::status; }

  // Builders, for tests and for the hiredis conversion. Throw std::bad_alloc.
  static RespValue nil_value() { return RespValue{}; }
  static RespValue status_value(std::string_view s);
  static RespValue error_value(std::string_view s);
  static RespValue integer_value(long long n);
  static RespValue string_value(std::string_view s);
  static RespValue array_value(std::vector<RespValue> elements);
};

bool operator==(const RespValue& a, const RespValue& b) noexcept;
inline bool operator!=(const RespValue& a, const RespValue& b) noexcept { return !(a == b); }

// Deepest nesting accepted by the decoder and the hiredis conversion (CLUSTER
// SHARDS nests 4 deep).
inline constexpr std::size_t kRespMaxDepth = 16;
// Most array elements and most string bytes the decoder accepts in one value.
inline constexpr std::size_t kRespMaxElements = 1u << 20;
inline constexpr std::size_t kRespMaxBulk = 64u << 20;

enum class RespDecodeResult : std::uint8_t { ok, incomplete, malformed };

// Decodes one RESP2 value from the front of in (wire bytes, as redis-server
// sends them). ok: out holds it and used the number of bytes it took;
// incomplete: in is a proper prefix of a value (out unspecified); malformed:
// not RESP2, nested deeper than kRespMaxDepth, or over the size limits above.
// Never reads past in. Throws std::bad_alloc only.
RespDecodeResult resp_decode(std::string_view in, RespValue& out, std::size_t& used);

// The wire form of v (arrays and strings with lengths; status and error text
// must have no CR/LF, or the result does not decode back). Throws bad_alloc.
std::string resp_encode(const RespValue& v);

// A short human-readable rendering for error messages ("[1, \"a\", nil]"),
// at most about max_len bytes. Throws std::bad_alloc only.
std::string resp_describe(const RespValue& v, std::size_t max_len = 120);

// Converts a hiredis reply (redisReply of hiredis 0.14/1.x: type, integer,
// len, str, elements, element) into out. Header-only so that src/ needs no
// hiredis: pass the reply pointer. False (out unspecified) for a null
// reply, an unknown type, or nesting deeper than kRespMaxDepth. RESP3 types of
// hiredis 1.x (double, bool, map, set, push, ...) are refused too.
// Throws std::bad_alloc only.
template <class Reply>
bool resp_from_hiredis(const Reply* r, RespValue& out, std::size_t depth = 0) {
  // hiredis's REDIS_REPLY_* values
  enum : int { kString = 1, kArray = 2, kInteger = 3, kNil = 4, kStatus = 5, kError = 6 };
  if (r == nullptr || depth > kRespMaxDepth) return false;
  out.elements.clear();
  out.str.clear();
  out.integer = 0;
  switch (r->type) {
    case kString:
    case kStatus:
    case kError:
      out.kind = r->type == kString ? RespValue::Kind::string
                                    : (r->type == kStatus ? RespValue::Kind::status : RespValue::Kind::error);
      if (r->len > 0) out.str.assign(r->str, r->len);
      return true;
    case kInteger:
      out.kind = RespValue::Kind::integer;
      out.integer = r->integer;
      return true;
    case kNil:
      out.kind = RespValue::Kind::nil;
      return true;
    case kArray:
      out.kind = RespValue::Kind::array;
      out.elements.resize(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) {
        if (!resp_from_hiredis(r->element[i], out.elements[i], depth + 1)) return false;
      }
      return true;
    default:
      return false;
  }
}

}  // namespace ps
