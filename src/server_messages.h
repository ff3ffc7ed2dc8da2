// JSON bodies of the messages the server originates (SPEC section 3).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "channels.h"

namespace ps {

// History (SPEC section 8) adds to "connected": "epoch" when history is on,
// and "recovered" when the client asked to resume.
struct ConnectedHistory {
  std::string_view epoch;
  std::string_view offset;  // where the connection starts ("" = unknown): resume from here
  bool resumed = false;     // the client sent since/epoch: say "recovered"
  bool recovered = false;
};

std::string connected_message(std::string_view user_id, ChannelMask channels, std::int64_t batch_window_ms,
                              std::int64_t heartbeat_ms, std::int64_t server_time_ms,
                              const ConnectedHistory* history = nullptr);
std::string status_message(bool live);  // {"type":"status","state":"live"|"degraded"}
// {"type":"status","state":"live","recovered":false} (SPEC section 8: events
// missed during an outage could not be replayed), with the history's new
// "epoch" when it changed, so the client can resume from here next time.
std::string status_live_not_recovered(std::string_view new_epoch);
std::string subscribed_message(ChannelMask channels);
std::string pong_message(std::int64_t server_time_ms);
std::string error_message(std::string_view code, std::string_view message);

// Appends s as a JSON string literal (quotes included) to out.
void append_json_string(std::string& out, std::string_view s);

}  // namespace ps
