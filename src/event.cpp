#include "event.h"

#include <utility>

#include "frame_writer.h"
#include "history.h"

namespace ps {

EventPtr make_event(std::string_view json, EventInfo info, std::int64_t received_us) {
  auto ev = std::make_shared<PublishedEvent>();
  ev->frame = make_shared_frame(Opcode::text, json);
  ev->header_len = static_cast<std::uint8_t>(ev->frame.size() - json.size());
  ev->type = info.type;
  ev->channel = info.channel;
  ev->key = std::move(info.key);
  ev->ts = info.ts;
  ev->offset = event_offset(json);
  ev->received_us = received_us;
  return ev;
}

}  // namespace ps
