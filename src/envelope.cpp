#include "envelope.h"

#include <utility>

#include "json_scan.h"

namespace ps {
namespace {

struct TypeEntry {
  std::string_view name;
  EventType type;
  Channel channel;
};

constexpr TypeEntry kTypes[] = {
    {"position_update", EventType::position_update, Channel::positions},
    {"account_update", EventType::account_update, Channel::account},
    {"order_update", EventType::order_update, Channel::orders},
    {"trade_executed", EventType::trade_executed, Channel::trades},
};

// position_update: "key" when a string or an integer (its digits, any
// number of them), else data.symbol when a string; empty (never coalesced)
// otherwise.
std::string position_key(json::Value key, json::Value data) {
  if (key.is_string()) return key.string();
  if (key.is_integer()) return std::string(key.integer_text());
  const json::Value symbol = data.find("symbol");
  if (symbol.is_string()) return symbol.string();
  return {};
}

}  // namespace

EventError parse_event(std::string_view bytes, std::size_t max_size, EventInfo& out) {
  if (bytes.size() > max_size) return EventError::too_large;
  const json::Value root = json::parse(bytes);
  if (!root) return EventError::invalid_json;
  if (!root.is_object()) return EventError::not_object;

  // One walk over the top level for the members we read; the last of
  // duplicate keys wins.
  json::Value type, key, data, ts;
  json::Value k, v;
  for (json::Members m(root); m.next(k, v);) {
    if (k.string_equals("type")) {
      type = v;
    } else if (k.string_equals("key")) {
      key = v;
    } else if (k.string_equals("data")) {
      data = v;
    } else if (k.string_equals("ts")) {
      ts = v;
    }
  }

  const TypeEntry* entry = nullptr;
  for (const TypeEntry& e : kTypes) {
    if (type.string_equals(e.name)) entry = &e;
  }
  if (entry == nullptr) return EventError::unknown_type;

  EventInfo info{entry->type, entry->channel, {}, ts.int64()};
  if (entry->type == EventType::position_update) info.key = position_key(key, data);
  out = std::move(info);
  return EventError::none;
}

}  // namespace ps
