// libFuzzer target: published events (parse_event: size limit, json_scan,
// type table, coalescing key, ts).
//
// Input: byte 0 = max_event_size selector, then the event bytes. Oracles:
// an accepted event fits the limit; only position_update has a key; an
// over-size event is reported as too_large before parsing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "envelope.h"

#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static constexpr std::size_t kMaxes[] = {0, 1, 16, 256, 4096, 262144};
  const std::size_t max = kMaxes[ps_fuzz::take_byte(in) % 6];

  ps::EventInfo info{};
  const ps::EventError rc = ps::parse_event(in, max, info);
  if (in.size() > max) PS_FUZZ_CHECK(rc == ps::EventError::too_large);
  if (rc == ps::EventError::none) {
    PS_FUZZ_CHECK(in.size() <= max);
    if (info.type != ps::EventType::position_update) PS_FUZZ_CHECK(info.key.empty());
    PS_FUZZ_CHECK(static_cast<unsigned>(info.channel) < 4);
  }
  return 0;
}
