// Origin checks for the handshake (SPEC section 2, 403 row).
#pragma once

#include <string_view>

namespace ps {

// The default policy: the Origin's host (and port, defaults 80/443 from its
// scheme normalised away) equals the Host header's. "null" and anything that
// is not scheme://host[:port] never match.
bool origin_same_host(std::string_view origin, std::string_view host_header);

// One configured entry of portfolio_stream_allowed_origins: scheme and host
// compared case-insensitively, a default port and a trailing "/" ignored.
bool origin_equals(std::string_view origin, std::string_view allowed);

}  // namespace ps
