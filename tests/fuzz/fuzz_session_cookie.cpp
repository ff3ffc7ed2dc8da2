// libFuzzer target: the Cookie header parser and the signed session value
// (express-session "s:<sid>.<sig>").
//
// Input: byte 0 = cookie-name length, byte 1 = secret selector, then the
// name, then the header. Oracles: a found value is at most 4096 bytes; a
// session id is within its bounds; a value we sign ourselves always
// verifies and yields the same sid; any change to its signature fails.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cookie.h"
#include "session_cookie.h"

#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t name_len = ps_fuzz::take_byte(in) % 24;
  const unsigned char sel = ps_fuzz::take_byte(in);
  const std::string_view name = ps_fuzz::take(in, name_len);
  const std::string_view header = in;

  static const std::string_view kSecrets[] = {"keyboard cat", "", "rotated-secret", "x"};
  const std::string_view* secrets = kSecrets + (sel & 3);
  const std::size_t secret_count = (sel >> 2) % (4 - (sel & 3) + 1);

  const std::optional<std::string> value = ps::find_cookie(header, name.empty() ? "connect.sid" : name);
  if (value) {
    PS_FUZZ_CHECK(value->size() <= 4096);
    const auto sid = ps::session_id_from_cookie(*value, secrets, secret_count);
    if (sid) {
      PS_FUZZ_CHECK(!sid->empty() && sid->size() <= 256);
      // The view points into the value.
      PS_FUZZ_CHECK(sid->data() >= value->data() &&
                    sid->data() + sid->size() <= value->data() + value->size());
    }
  }

  // Round trip: the header bytes (cut to a sid's size) as a session id.
  const std::string_view sid = header.substr(0, 256);
  if (!sid.empty()) {
    for (const std::string_view secret : {std::string_view("keyboard cat"), std::string_view("x")}) {
      const std::string value2 = "s:" + ps::sign_session_id(sid, secret);
      const auto got = ps::session_id_from_cookie(value2, &secret, 1);
      PS_FUZZ_CHECK(got && *got == sid);
      // Right length, wrong bytes: flip one signature character.
      std::string forged = value2;
      char& c = forged[forged.size() - 1 - (sel % 43)];
      c = c == 'A' ? 'B' : 'A';
      PS_FUZZ_CHECK(!ps::session_id_from_cookie(forged, &secret, 1));
      // An empty secret never validates anything.
      const std::string_view empty;
      const std::string unsigned_by_empty = "s:" + ps::sign_session_id(sid, empty);
      PS_FUZZ_CHECK(!ps::session_id_from_cookie(unsigned_by_empty, &empty, 1));
    }
  }
  return 0;
}
