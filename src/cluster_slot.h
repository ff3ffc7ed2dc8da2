// Redis Cluster key slots (SPEC section 9): CRC16 and the hash-tag rule of
// the Redis Cluster specification, so that the module knows which shard owns
// a session key or a user's channel without asking. No I/O, no allocation
// except where a function returns a std::string.
//
// Sharded pub/sub channels hash exactly like keys: SSUBSCRIBE/SPUBLISH of a
// channel go to the node owning cluster_key_slot(channel).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace ps {

inline constexpr std::uint16_t kClusterSlots = 16384;

// CRC16-CCITT in the XMODEM variant (polynomial 0x1021, initial value 0, no
// reflection, no final xor): the checksum Redis Cluster hashes keys with.
// crc16_xmodem("123456789") == 0x31C3.
std::uint16_t crc16_xmodem(std::string_view data) noexcept;

// The part of key that is hashed: the bytes between the first '{' and the
// first '}' after it, when there is at least one byte between them; else the
// whole key. A view into key.
//   "{user1000}.following" -> "user1000"   "foo{}{bar}" -> "foo{}{bar}"
//   "foo{{bar}}zap" -> "{bar"              "foo{bar}{zap}" -> "bar"
std::string_view cluster_hash_tag(std::string_view key) noexcept;

// True when key has a hash tag in the sense above (a non-empty {...}).
bool has_cluster_hash_tag(std::string_view key) noexcept;

// crc16_xmodem(cluster_hash_tag(key)) mod 16384: always < kClusterSlots.
std::uint16_t cluster_key_slot(std::string_view key) noexcept;

// The two keys the Functions library portfolio_stream (redis/portfolio_stream.lua,
// history_keys()) keeps a channel's history in, so that they share the
// channel's slot: {<channel>}:history and {<channel>}:epoch for a channel
// without a hash tag, ps:<channel>:history and ps:<channel>:epoch for one with
// a tag. In cluster mode a channel with a '}' but no hash tag has no such
// pair (the library answers an error): nullopt; so has the empty channel,
// whose "{}:history" hashes whole (the library does not check that one: Redis
// refuses its FCALL with "Script attempted to access keys that do not hash to
// the same slot"). Throws std::bad_alloc only.
std::optional<std::pair<std::string, std::string>> history_keys_for_channel(std::string_view channel,
                                                                            bool cluster);

}  // namespace ps
