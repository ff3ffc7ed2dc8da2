// Origin checks for the handshake (SPEC section 2, 403 row).
#pragma once

#include <cstdint>
#include <string_view>

namespace ps {

// What the default (same-host) check asks of the Origin's scheme
// (portfolio_stream_origin_scheme). The Origin is the page's origin; "wss"
// counts as https and "ws" as http.
enum class OriginScheme : std::uint8_t {
  // "auto" (default): a connection that arrived over TLS needs an https page:
  // a plain http page of the same host (which anyone on the path can forge)
  // must not open it. A plain connection takes http and https pages, since a
  // TLS-terminating proxy in front may not say that it is there.
  automatic = 0,
  // "https": always an https page, whatever the connection: the operator
  // declares that TLS ends at a proxy in front and no page is served over http.
  https = 1,
  // "any": host and port only (the behaviour before issue 15).
  any = 2,
};

// The default policy: the Origin's host (and port, defaults 80/443 from its
// scheme normalised away) equals the Host header's. "null" and anything that
// is not scheme://host[:port] never match.
bool origin_same_host(std::string_view origin, std::string_view host_header);

// origin_same_host() plus the scheme rule of `policy`; `tls`: the connection
// arrived over TLS. Explicit portfolio_stream_allowed_origins entries are
// not subject to it: origin_equals() compares their scheme exactly.
bool origin_same_host(std::string_view origin, std::string_view host_header, OriginScheme policy, bool tls);

// One configured entry of portfolio_stream_allowed_origins: scheme and host
// compared case-insensitively, a default port and a trailing "/" ignored.
bool origin_equals(std::string_view origin, std::string_view allowed);

}  // namespace ps
