// JSON bodies of the messages the server originates (SPEC section 3).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "channels.h"

namespace ps {

std::string connected_message(std::string_view user_id, ChannelMask channels, std::int64_t batch_window_ms,
                              std::int64_t heartbeat_ms, std::int64_t server_time_ms);
std::string status_message(bool live);  // {"type":"status","state":"live"|"degraded"}
std::string subscribed_message(ChannelMask channels);
std::string pong_message(std::int64_t server_time_ms);
std::string error_message(std::string_view code, std::string_view message);

// Appends s as a JSON string literal (quotes included) to out.
void append_json_string(std::string& out, std::string_view s);

}  // namespace ps
