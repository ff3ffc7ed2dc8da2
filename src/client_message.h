// Messages a client may send (SPEC section 4, last paragraph).
#pragma once

#include <string>
#include <string_view>

#include "channels.h"

namespace ps {

struct ClientMessage {
  enum class Kind { subscribe, unsubscribe, ping, invalid } kind = Kind::invalid;
  ChannelMask channels = 0;  // subscribe/unsubscribe
  // For invalid: "bad_request" or "unknown_channel" and a human message.
  std::string_view error_code;
  std::string error_message;
};

// text is a complete, UTF-8 valid text message.
ClientMessage parse_client_message(std::string_view text);

}  // namespace ps
