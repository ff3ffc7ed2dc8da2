// The user id inside a stored session (connect-redis JSON value).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ps {

// Follows a dotted path ("userId", "passport.user") through JSON objects
// (dots always split; of duplicate keys the last wins). A non-empty string
// (unescaped: at most 256 bytes, no control characters U+0000..U+001F or
// U+007F) or an integer (its decimal digits as written, beyond 64 bits too,
// at most 256 bytes with the sign; "-0" is "0") is a user id; anything else (a number with a fraction or an
// exponent, boolean, null, object, array, a missing member) -> nullopt.
// The document must be a JSON object (RFC 8259, strict: see json_scan.h;
// numbers of any magnitude anywhere in it). Invalid JSON -> nullopt.
// Throws only std::bad_alloc.
std::optional<std::string> session_user_id(std::string_view json, std::string_view dotted_path);

}  // namespace ps
