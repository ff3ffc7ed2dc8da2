// libFuzzer target: the upgrade validator (collect_upgrade_header +
// check_upgrade), Sec-WebSocket-Accept, and the Origin checks that run in
// the same handshake step.
//
// Input: byte 0 = HTTP version selector, then "name: value" lines split on
// '\n'; the first line is the method. Oracles: an accepted upgrade has
// exactly one 24-byte key ending in "==", exactly one version "13", and the
// accept value is 28 base64 characters ending in '='.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "origin.h"
#include "ws_handshake.h"

#include "fuzz_util.h"

namespace {

bool is_b64(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static constexpr unsigned kVersions[] = {1000, 1001, 2000, 9, 1002, 3000};
  const unsigned version = kVersions[ps_fuzz::take_byte(in) % 6];

  std::size_t nl = in.find('\n');
  const std::string_view method = in.substr(0, nl);
  in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);

  ps::UpgradeHeaders h;
  std::string_view host, origin;
  for (int guard = 0; !in.empty() && guard < 100000; ++guard) {
    nl = in.find('\n');
    const std::string_view line = in.substr(0, nl);
    in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
    const std::size_t colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    const std::string_view value =
        colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
    ps::collect_upgrade_header(h, name, value);
    if (name == "Host") host = value;
    if (name == "Origin") origin = value;
  }

  const ps::UpgradeCheck rc = ps::check_upgrade(method, version, h);
  if (rc == ps::UpgradeCheck::ok) {
    PS_FUZZ_CHECK(method == "GET" && version >= 1001);
    PS_FUZZ_CHECK(h.upgrade_websocket && h.connection_upgrade);
    PS_FUZZ_CHECK(h.key_count == 1 && h.key.size() == 24 && h.key.substr(22) == "==");
    PS_FUZZ_CHECK(h.version_count == 1 && h.version == "13");
  }
  if (rc != ps::UpgradeCheck::bad_request) PS_FUZZ_CHECK(h.key_count == 1);

  // The accept value for any key the client sends (valid or not).
  const auto accept = ps::websocket_accept(h.key);
  for (std::size_t i = 0; i < 27; ++i) PS_FUZZ_CHECK(is_b64(accept[i]));
  PS_FUZZ_CHECK(accept[27] == '=');

  // Origin checks on attacker-controlled Origin and Host.
  const bool same = ps::origin_same_host(origin, host);
  if (same) PS_FUZZ_CHECK(origin != "null");
  // The scheme rule only narrows the host check, and "any" is the host check.
  for (const auto policy : {ps::OriginScheme::automatic, ps::OriginScheme::https, ps::OriginScheme::any}) {
    for (const bool tls : {false, true}) {
      const bool with_scheme = ps::origin_same_host(origin, host, policy, tls);
      if (with_scheme) PS_FUZZ_CHECK(same);
      if (policy == ps::OriginScheme::any) PS_FUZZ_CHECK(with_scheme == same);
    }
  }
  (void)ps::origin_equals(origin, host);
  (void)ps::origin_equals(host, origin);
  return 0;
}
