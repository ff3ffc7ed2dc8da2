// Cookie header parsing (RFC 6265 section 5.4 shape, lenient like browsers).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ps {

// The value of the first cookie called `name` in one Cookie header value,
// percent-decoded (%XX; a malformed escape makes the whole value invalid ->
// nullopt), with optional surrounding double quotes removed. nullopt when
// absent or invalid. Values longer than 4096 bytes are refused.
std::optional<std::string> find_cookie(std::string_view header, std::string_view name);

}  // namespace ps
