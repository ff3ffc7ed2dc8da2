// Incremental UTF-8 validation (Hoehrmann-style DFA): fed in pieces, fails
// at the first byte that cannot start or continue a valid sequence.
#pragma once

#include <cstdint>
#include <string_view>

namespace ps {

class Utf8Validator {
 public:
  // false as soon as the input so far cannot be a prefix of valid UTF-8.
  bool feed(std::string_view bytes);
  // true when everything fed ends on a code point boundary.
  bool complete() const { return state_ == 0; }
  void reset() { state_ = 0; }

 private:
  std::uint8_t state_ = 0;
};

bool is_valid_utf8(std::string_view bytes);

}  // namespace ps
