// A strict RFC 8259 JSON scanner that builds no tree and allocates nothing.
//
// parse() validates a complete document in one pass: objects, arrays,
// strings (every escape, \uXXXX with surrogate pairs; the bytes must be
// valid UTF-8, raw control characters U+0000..U+001F are refused), numbers
// of any magnitude and precision (the RFC grammar only: "-0", "1E+2",
// "1e400" and 40-digit integers are fine; "01", "1.", ".5", "+1", "1e",
// "NaN", "Infinity", hex are not), the literals true/false/null, nesting of
// at most kMaxDepth arrays/objects, and nothing after the value but
// whitespace (space, tab, CR, LF). A byte order mark is not whitespace.
//
// The result is a Value: a view of the bytes of one JSON value. Members of
// objects and elements of arrays are found by walking the (already
// validated) bytes again, so a lookup is linear in the size of the object
// it searches, and values nobody asks for are never decoded.
//
// Duplicate keys: the LAST member with a key wins, as with JavaScript's
// JSON.parse (and jansson, which this scanner replaced). Keys are compared
// after unescaping ("\u0074ype" is "type").
//
// Ownership: a Value (and a Members or Elements walk) points into the
// buffer given to parse() and owns nothing: the buffer must outlive it and
// stay unchanged. Nothing here throws except string() (std::bad_alloc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ps::json {

// Deepest nesting of arrays/objects parse() accepts: 256 levels are valid,
// the 257th is refused (no real event, session or client message comes close).
inline constexpr std::size_t kMaxDepth = 256;

enum class Kind : std::uint8_t {
  none,     // no value: invalid document, missing member, or asked of the wrong kind
  null,     // null
  boolean,  // true or false (see Value::is_true)
  integer,  // a number with neither fraction nor exponent: -0, 7, 12345678901234567890
  number,   // a number with a fraction and/or an exponent: 1.5, 1e400, 1E+2
  string,
  array,
  object,
};

class Value {
 public:
  Value() = default;  // Kind::none

  Kind kind() const noexcept { return kind_; }
  explicit operator bool() const noexcept { return kind_ != Kind::none; }
  bool is_object() const noexcept { return kind_ == Kind::object; }
  bool is_array() const noexcept { return kind_ == Kind::array; }
  bool is_string() const noexcept { return kind_ == Kind::string; }
  bool is_integer() const noexcept { return kind_ == Kind::integer; }
  bool is_true() const noexcept { return kind_ == Kind::boolean && raw_[0] == 't'; }

  // The value's bytes exactly as written (a string keeps its quotes and
  // escapes); empty for Kind::none.
  std::string_view raw() const noexcept { return raw_; }

  // --- objects ---
  // The member `key` of an object (last one wins); none when this is not
  // an object or has no such member.
  Value find(std::string_view key) const noexcept;
  // Follows a dotted path ("passport.user") through nested objects. Dots
  // always split (a key containing "." is unreachable); an empty path or
  // an empty segment ("a..b", ".a", "a.") gives none.
  Value find_path(std::string_view dotted) const noexcept;

  // --- strings ---
  // true when this is a string whose unescaped value is `s`.
  bool string_equals(std::string_view s) const noexcept;
  // The unescaped value (UTF-8; "\u0000" becomes a NUL byte); empty when
  // this is not a string. Allocates (only when longer than the SSO buffer).
  std::string string() const;
  // Length in bytes of the unescaped value; 0 when this is not a string.
  std::size_t string_size() const noexcept;
  // true when this is a string with no backslash: string() is then
  // exactly string_contents().
  bool string_is_plain() const noexcept;
  // The bytes between the quotes, escapes not decoded; empty when this is
  // not a string.
  std::string_view string_contents() const noexcept;

  // --- integers (Kind::integer only; numbers with a fraction or exponent
  // are never integers, "1.0" and "1e2" included) ---
  // The integer in canonical decimal form: its text as written (JSON
  // forbids leading zeros and a plus sign) except that "-0" is "0". Any
  // number of digits; empty when this is not an integer.
  std::string_view integer_text() const noexcept;
  // The integer when it fits an int64_t; nullopt otherwise (or not an integer).
  std::optional<std::int64_t> int64() const noexcept;

 private:
  friend Value parse(std::string_view) noexcept;
  friend class Members;
  friend class Elements;
  Value(std::string_view raw, Kind kind) noexcept : raw_(raw), kind_(kind) {}

  std::string_view raw_;
  Kind kind_ = Kind::none;
};

// Validates `bytes` as one complete JSON document (any value at top level).
// Returns its root value, or Kind::none when the bytes are not valid JSON
// (including nesting deeper than kMaxDepth). Linear time, no allocation,
// no recursion.
Value parse(std::string_view bytes) noexcept;

// Walks the members of an object in document order, duplicates included:
//   for (Members m(obj); m.next(key, value);) ...
// Nothing to walk when the value is not an object.
class Members {
 public:
  explicit Members(Value object) noexcept;
  // The next member (key is a Kind::string value); false at the end.
  bool next(Value& key, Value& value) noexcept;

 private:
  const char* p_ = nullptr;
  const char* end_ = nullptr;
};

// Walks the elements of an array in order:
//   for (Elements e(arr); e.next(v);) ...
// Nothing to walk when the value is not an array.
class Elements {
 public:
  explicit Elements(Value array) noexcept;
  bool next(Value& value) noexcept;

 private:
  const char* p_ = nullptr;
  const char* end_ = nullptr;
};

}  // namespace ps::json
