#include "envelope.h"

#include <cinttypes>
#include <cstdio>
#include <utility>

#include "json_util.h"

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

std::string_view string_of(const json_t* j) { return {json_string_value(j), json_string_length(j)}; }

std::string integer_text(const json_t* j) {
  char buf[24];
  const int n = std::snprintf(buf, sizeof buf, "%" PRId64, static_cast<std::int64_t>(json_integer_value(j)));
  return std::string(buf, static_cast<std::size_t>(n));
}

// position_update: "key" when a string or an integer, else data.symbol when
// a string; empty (never coalesced) otherwise.
std::string position_key(const json_t* root) {
  const json_t* key = json_object_get(root, "key");
  if (json_is_string(key)) return std::string(string_of(key));
  if (json_is_integer(key)) return integer_text(key);
  const json_t* data = json_object_get(root, "data");
  if (json_is_object(data)) {
    const json_t* symbol = json_object_get(data, "symbol");
    if (json_is_string(symbol)) return std::string(string_of(symbol));
  }
  return {};
}

}  // namespace

EventError parse_event(std::string_view bytes, std::size_t max_size, EventInfo& out) {
  if (bytes.size() > max_size) return EventError::too_large;
  // JSON_DECODE_ANY so a scalar is reported as not_object rather than as
  // invalid JSON; JSON_ALLOW_NUL because the bytes are forwarded untouched
  // and "\u0000" in a string is valid JSON.
  const detail::JsonPtr root = detail::json_parse(bytes, JSON_DECODE_ANY | JSON_ALLOW_NUL);
  if (!root) return EventError::invalid_json;
  if (!json_is_object(root.get())) return EventError::not_object;

  const json_t* type = json_object_get(root.get(), "type");
  if (!json_is_string(type)) return EventError::unknown_type;
  const std::string_view type_name = string_of(type);
  const TypeEntry* entry = nullptr;
  for (const TypeEntry& e : kTypes) {
    if (e.name == type_name) entry = &e;
  }
  if (entry == nullptr) return EventError::unknown_type;

  EventInfo info{entry->type, entry->channel, {}, std::nullopt};
  if (entry->type == EventType::position_update) info.key = position_key(root.get());
  const json_t* ts = json_object_get(root.get(), "ts");
  if (json_is_integer(ts)) info.ts = static_cast<std::int64_t>(json_integer_value(ts));
  out = std::move(info);
  return EventError::none;
}

}  // namespace ps
