// Origin (RFC 6454 serialisation: scheme "://" host [ ":" port ]) against the
// Host header (RFC 9110 section 7.2: host [ ":" port ]) or a configured entry.
#include "origin.h"
#include "ascii.h"

#include <cstddef>

namespace ps {
namespace {

struct Authority {
  std::string_view host;  // IPv6 literals keep their brackets
  int port = -1;          // -1: none given
};

struct ParsedOrigin {
  std::string_view scheme;
  Authority authority;
};

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// A registered name or IPv4 address as browsers serialise it (punycode,
// no userinfo, no percent-escapes): letters, digits, '-', '.', '_', '~'.
bool valid_reg_name(std::string_view h) {
  if (h.empty()) return false;
  for (const char c : h) {
    if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~')) return false;
  }
  return true;
}

// "[" IPv6 (hex digits, ':', '.' for an embedded IPv4) "]".
bool valid_ip_literal(std::string_view h) {
  if (h.size() < 4 || h.front() != '[' || h.back() != ']') return false;  // "[::]" is the shortest
  for (std::size_t i = 1; i + 1 < h.size(); ++i) {
    if (!(is_hex(h[i]) || h[i] == ':' || h[i] == '.')) return false;
  }
  return true;
}

// 1 to 5 digits, at most 65535; -1 when invalid.
int parse_port(std::string_view p) {
  if (p.empty() || p.size() > 5) return -1;
  int v = 0;
  for (const char c : p) {
    if (!is_digit(c)) return -1;
    v = v * 10 + (c - '0');
  }
  return v <= 65535 ? v : -1;
}

bool parse_authority(std::string_view s, Authority& out) {
  std::string_view port;
  bool has_port = false;
  if (!s.empty() && s.front() == '[') {
    const std::size_t close = s.find(']');
    if (close == std::string_view::npos) return false;
    out.host = s.substr(0, close + 1);
    const std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      has_port = true;
    }
    if (!valid_ip_literal(out.host)) return false;
  } else {
    const std::size_t colon = s.find(':');
    out.host = s.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = s.substr(colon + 1);
      has_port = true;
    }
    if (!valid_reg_name(out.host)) return false;
  }
  out.port = -1;
  if (has_port) {
    out.port = parse_port(port);  // "host:" (empty port) is refused too
    if (out.port < 0) return false;
  }
  return true;
}

bool parse_origin(std::string_view s, bool allow_trailing_slash, ParsedOrigin& out) {
  const std::size_t sep = s.find("://");
  if (sep == std::string_view::npos || sep == 0) return false;
  out.scheme = s.substr(0, sep);
  if (!is_alpha(out.scheme.front())) return false;
  for (const char c : out.scheme) {
    if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.')) return false;
  }
  std::string_view rest = s.substr(sep + 3);
  if (allow_trailing_slash && !rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  return parse_authority(rest, out.authority);
}

// 80 for http/ws, 443 for https/wss, -1 for any other scheme.
int default_port(std::string_view scheme) {
  if (iequals(scheme, "http") || iequals(scheme, "ws")) return 80;
  if (iequals(scheme, "https") || iequals(scheme, "wss")) return 443;
  return -1;
}

int effective_port(const Authority& a, int scheme_default) { return a.port >= 0 ? a.port : scheme_default; }

}  // namespace

bool origin_same_host(std::string_view origin, std::string_view host_header) {
  ParsedOrigin o;
  if (!parse_origin(origin, false, o)) return false;  // "null" lands here
  const int dflt = default_port(o.scheme);
  if (dflt < 0) return false;  // only web origins are judged by the Host header
  Authority h;
  if (!parse_authority(host_header, h)) return false;
  // The Host header carries no scheme: no port there means the default port
  // of the scheme the browser used, which the Origin tells.
  return iequals(o.authority.host, h.host) && effective_port(o.authority, dflt) == effective_port(h, dflt);
}

bool origin_same_host(std::string_view origin, std::string_view host_header, OriginScheme policy, bool tls) {
  if (!origin_same_host(origin, host_header)) return false;
  if (policy == OriginScheme::any || (policy == OriginScheme::automatic && !tls)) return true;
  // origin_same_host() accepted it: "scheme://" is there and the scheme is a web one.
  const std::string_view scheme = origin.substr(0, origin.find("://"));
  return iequals(scheme, "https") || iequals(scheme, "wss");
}

bool origin_equals(std::string_view origin, std::string_view allowed) {
  ParsedOrigin o;
  ParsedOrigin a;
  if (!parse_origin(origin, true, o) || !parse_origin(allowed, true, a)) return false;
  if (!iequals(o.scheme, a.scheme) || !iequals(o.authority.host, a.authority.host)) return false;
  const int dflt = default_port(o.scheme);
  return effective_port(o.authority, dflt) == effective_port(a.authority, dflt);
}

}  // namespace ps
