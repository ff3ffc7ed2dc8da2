// libFuzzer target: client text messages (parse_client_message) and the
// error reply built from them (server_messages).
//
// Only UTF-8-valid input is a text message (the frame parser guarantees
// it). Oracles: an error reply is valid UTF-8 (it goes into a text frame)
// and bounded; a subscribe/unsubscribe names only the four channels.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "channels.h"
#include "client_message.h"
#include "server_messages.h"
#include "utf8.h"

#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!ps::is_valid_utf8(text)) return 0;
  const ps::ClientMessage m = ps::parse_client_message(text);
  switch (m.kind) {
    case ps::ClientMessage::Kind::subscribe:
    case ps::ClientMessage::Kind::unsubscribe:
      PS_FUZZ_CHECK((m.channels & ~ps::kAllChannels) == 0);
      (void)ps::subscribed_message(m.channels);
      break;
    case ps::ClientMessage::Kind::ping:
      break;
    case ps::ClientMessage::Kind::invalid: {
      PS_FUZZ_CHECK(m.error_code == "bad_request" || m.error_code == "unknown_channel");
      // At most two echoed names of 64 bytes plus fixed text.
      PS_FUZZ_CHECK(m.error_message.size() <= 200);
      PS_FUZZ_CHECK(ps::is_valid_utf8(m.error_message));
      const std::string reply = ps::error_message(m.error_code, m.error_message);
      PS_FUZZ_CHECK(ps::is_valid_utf8(reply));
      break;
    }
  }
  return 0;
}
