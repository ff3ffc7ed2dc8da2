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
  // Coalescing key: position_update -> "key" if a string (unescaped) or an
  // integer (its decimal digits as written, any number of them; "-0" is
  // "0"), else data.symbol if a string; empty when there is none (then
  // never coalesced). A number with a fraction or exponent is no key.
  std::string key;
  // "ts" when an integer that fits int64_t (ms since epoch).
  std::optional<std::int64_t> ts;
};

enum class EventError : std::uint8_t { none, too_large, invalid_json, not_object, unknown_type };

// bytes must be a JSON object (RFC 8259, strict: see json_scan.h; numbers
// of any magnitude; nesting up to json::kMaxDepth; no trailing garbage)
// with a string "type" naming one of the four event types. Of duplicate
// keys the last wins. Only `out` is written, and only on success (none).
// Allocates only for info.key.
EventError parse_event(std::string_view bytes, std::size_t max_size, EventInfo& out);

}  // namespace ps
