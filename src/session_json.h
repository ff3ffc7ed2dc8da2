// The user id inside a stored session (connect-redis JSON value).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ps {

// Follows a dotted path ("userId", "passport.user") through JSON objects.
// A non-empty string (at most 256 bytes, no control characters) or an
// integer (rendered in decimal) is a user id; anything else -> nullopt.
// Never throws; invalid JSON -> nullopt.
std::optional<std::string> session_user_id(std::string_view json, std::string_view dotted_path);

}  // namespace ps
