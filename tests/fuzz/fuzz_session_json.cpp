// libFuzzer target: the user id inside a stored session (json_scan, depth
// limit, dotted path).
//
// Input: byte 0 = path selector, then the JSON. Oracle: a user id is
// non-empty, at most 256 bytes (a string) or a decimal integer, and has no
// control characters.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "session_json.h"

#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static constexpr std::string_view kPaths[] = {"userId", "passport.user", "a.b.c.d", "",
                                                ".",      "userId.",       "x..y"};
  const std::string_view path = kPaths[ps_fuzz::take_byte(in) % 7];
  const auto id = ps::session_user_id(in, path);
  if (id) {
    PS_FUZZ_CHECK(!id->empty());
    PS_FUZZ_CHECK(id->size() <= 256);
    for (const char c : *id) {
      const auto u = static_cast<unsigned char>(c);
      PS_FUZZ_CHECK(u >= 0x20 && u != 0x7f);
    }
    PS_FUZZ_CHECK(!path.empty());
  }
  return 0;
}
