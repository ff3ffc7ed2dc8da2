// The four client-visible channels and the event types that feed them.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ps {

enum class Channel : std::uint8_t { positions = 0, orders = 1, account = 2, trades = 3 };

using ChannelMask = std::uint8_t;  // bit (1 << Channel)
inline constexpr ChannelMask kAllChannels = 0x0f;

inline constexpr ChannelMask channel_bit(Channel c) { return ChannelMask(1u << unsigned(c)); }

std::string_view channel_name(Channel c);
std::optional<Channel> channel_from_name(std::string_view name);

}  // namespace ps
