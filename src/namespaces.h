// Channel namespaces of the stream locations (issue 15), checked once at
// configuration time.
//
// A worker keys its Redis subscriptions by the full channel name only, and a
// user's channel is channel_prefix + user id. So:
//  * two locations whose prefixes overlap (one is a proper prefix of the
//    other: "t:u:" and "t:u:1") share events across users: channel "t:u:12"
//    is user "12" of the first and user "2" of the second;
//  * a broadcast channel that starts with a channel prefix ("portfolio:user:all"
//    under "portfolio:user:") is also a user's channel: that user's private
//    events go to every connection.
// Identical prefixes are fine: the locations share one namespace on purpose.
// Sans-I/O, no allocation except in describe_conflict().
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ps {

// One enabled stream location as the check sees it. The views must outlive
// the calls below.
struct NamespaceEntry {
  std::string_view prefix;     // effective portfolio_stream_channel_prefix (may be empty)
  std::string_view broadcast;  // effective portfolio_stream_broadcast_channel; empty: none
  std::string_view where;      // for messages, e.g. location "/ws" at /etc/nginx/nginx.conf:12
};

struct NamespaceConflict {
  enum class Kind {
    prefixes_overlap,        // entries[first].prefix is a proper prefix of entries[second].prefix
    broadcast_in_namespace,  // entries[first].broadcast starts with entries[second].prefix
  };
  Kind kind;
  std::size_t first;
  std::size_t second;  // may equal first for broadcast_in_namespace (the location's own prefix)
};

// The first conflict among entries[0..count), or nullopt when there is none.
// "First": entries are taken in order, and entry i is checked against the
// entries before it and against its own prefix, in this order: its prefix
// against earlier prefixes, its broadcast against earlier and its own
// prefix, its prefix against earlier broadcasts. O(count^2) comparisons.
std::optional<NamespaceConflict> find_namespace_conflict(const NamespaceEntry* entries, std::size_t count);

// A one-line explanation for the [emerg] message, naming both values and both
// entries' `where`, e.g.
//   portfolio_stream_channel_prefix "t:u:" (location "/a" at n.conf:3) and "t:u:1"
//   (location "/b" at n.conf:9) overlap: channel "t:u:12" would be user "12" of the
//   first and user "2" of the second; give each location a prefix that does not
//   start with the other's
// Throws std::bad_alloc.
std::string describe_conflict(const NamespaceConflict& c, const NamespaceEntry* entries);

}  // namespace ps
