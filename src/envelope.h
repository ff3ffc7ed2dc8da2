// A published event: validated and classified once per PUBLISH (SPEC section 4).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "channels.h"

namespace ps {

enum class EventType : std::uint8_t { position_update, account_update, order_update, trade_executed };

struct EventInfo {
  EventType type;
  Channel channel;
  // Coalescing key: position_update -> "key" if a string/number, else
  // data.symbol; empty when there is none (then never coalesced).
  std::string key;
  std::optional<std::int64_t> ts;  // "ts" when an integer (ms since epoch)
};

enum class EventError : std::uint8_t { none, too_large, invalid_json, not_object, unknown_type };

// bytes must be a JSON object (jansson, depth-limited, no trailing garbage)
// with a string "type" naming one of the four event types.
EventError parse_event(std::string_view bytes, std::size_t max_size, EventInfo& out);

}  // namespace ps
