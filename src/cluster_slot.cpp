#include "cluster_slot.h"

#include <array>
#include <cstddef>

namespace ps {

namespace {

// Table of the CRC of every byte value (MSB first, polynomial 0x1021).
constexpr std::array<std::uint16_t, 256> make_crc_table() {
  std::array<std::uint16_t, 256> t{};
  for (unsigned i = 0; i < 256; ++i) {
    unsigned crc = i << 8;
    for (int b = 0; b < 8; ++b) crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) : (crc << 1);
    t[i] = static_cast<std::uint16_t>(crc & 0xffff);
  }
  return t;
}

constexpr std::array<std::uint16_t, 256> kCrcTable = make_crc_table();

}  // namespace

std::uint16_t crc16_xmodem(std::string_view data) noexcept {
  unsigned crc = 0;
  for (const char ch : data) {
    const unsigned byte = static_cast<unsigned char>(ch);
    crc = ((crc << 8) ^ kCrcTable[((crc >> 8) ^ byte) & 0xff]) & 0xffff;
  }
  return static_cast<std::uint16_t>(crc);
}

std::string_view cluster_hash_tag(std::string_view key) noexcept {
  const std::size_t open = key.find('{');
  if (open == std::string_view::npos) return key;
  const std::size_t close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

bool has_cluster_hash_tag(std::string_view key) noexcept {
  const std::string_view tag = cluster_hash_tag(key);
  return tag.data() != key.data() || tag.size() != key.size();
}

std::uint16_t cluster_key_slot(std::string_view key) noexcept {
  return static_cast<std::uint16_t>(crc16_xmodem(cluster_hash_tag(key)) & (kClusterSlots - 1));
}

std::optional<std::pair<std::string, std::string>> history_keys_for_channel(std::string_view channel,
                                                                            bool cluster) {
  const std::string ch(channel);
  if (has_cluster_hash_tag(channel)) return std::make_pair("ps:" + ch + ":history", "ps:" + ch + ":epoch");
  if (cluster && (channel.empty() || channel.find('}') != std::string_view::npos)) return std::nullopt;
  return std::make_pair("{" + ch + "}:history", "{" + ch + "}:epoch");
}

}  // namespace ps
