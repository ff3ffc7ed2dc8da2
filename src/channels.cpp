#include "channels.h"

namespace ps {

std::string_view channel_name(Channel c) {
  switch (c) {
    case Channel::positions:
      return "positions";
    case Channel::orders:
      return "orders";
    case Channel::account:
      return "account";
    case Channel::trades:
      return "trades";
  }
  return {};  // not one of the four (a cast from a bad integer)
}

std::optional<Channel> channel_from_name(std::string_view name) {
  // Exact, case-sensitive: the names are part of the wire protocol.
  if (name == "positions") return Channel::positions;
  if (name == "orders") return Channel::orders;
  if (name == "account") return Channel::account;
  if (name == "trades") return Channel::trades;
  return std::nullopt;
}

}  // namespace ps
