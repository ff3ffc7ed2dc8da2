// express-session / cookie-signature values: "s:" + sid + "." + sig where
// sig = base64(HMAC-SHA256(secret, sid)) without '=' padding.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ps {

// With no secrets the decoded cookie value is the session id itself (it must
// be non-empty and at most 256 bytes), except that an express-session signed
// value "s:<sid>.<sig>" yields its sid unverified. With secrets, the value must be a
// signed value valid for at least one of them (compared in constant time,
// every secret tried); the returned view is the sid inside `value`.
// Secrets are given as a pointer range so nginx arrays need no copying.
std::optional<std::string_view> session_id_from_cookie(std::string_view value,
                                                       const std::string_view* secrets,
                                                       std::size_t secret_count);

// cookie-signature's sign(): exposed for tests and the demo.
std::string sign_session_id(std::string_view sid, std::string_view secret);

}  // namespace ps
