// One published event, parsed once per PUBLISH and shared (read-only) by every
// local connection of its user: the WebSocket text frame carrying the
// published JSON is built once here and queued by reference everywhere.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "envelope.h"
#include "shared_bytes.h"
#include "stream_id.h"

namespace ps {

struct PublishedEvent {
  // The complete unmasked text frame (FIN set): header, then the JSON bytes
  // exactly as published. Sent as is when the event goes out bare.
  SharedBytes frame;
  std::uint8_t header_len = 0;  // 2, 4 or 10
  EventType type = EventType::position_update;
  Channel channel = Channel::positions;
  std::string key;  // coalescing key (envelope.h); empty: never coalesced
  std::optional<std::int64_t> ts;
  // Its history offset (SPEC section 8: published with the history function,
  // whose bytes start with "offset"); none for a plain PUBLISH.
  std::optional<StreamId> offset;
  // When the worker read it (a monotonic clock in microseconds; 0: unknown),
  // for the dispatch stage of the latency figures.
  std::int64_t received_us = 0;
  // The frame for permessage-deflate connections, built by the first one that
  // needs it (permessage_deflate.h, deflated_frame_cached) and then shared:
  // RSV1 set and the JSON deflated, or `frame` itself when too small.
  mutable SharedBytes deflated;

  // The published JSON bytes (the frame's payload); valid while *this lives.
  std::string_view json() const { return frame.view().substr(header_len); }
  // Size of the payload (json().size()).
  std::size_t json_size() const { return frame.size() - header_len; }
};

using EventPtr = std::shared_ptr<const PublishedEvent>;

// Builds the event: one allocation for the frame (header + copy of json) and
// one for the shared object. `json` is not validated here (parse_event did
// that). Throws std::bad_alloc.
EventPtr make_event(std::string_view json, EventInfo info, std::int64_t received_us = 0);

}  // namespace ps
