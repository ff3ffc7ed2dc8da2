#include "event.h"

#include <cstring>
#include <utility>

#include "frame_writer.h"

namespace ps {

EventPtr make_event(std::string_view json, EventInfo info) {
  std::uint8_t header[kMaxFrameHeader];
  const std::size_t header_len = write_frame_header(Opcode::text, json.size(), header);

  auto ev = std::make_shared<PublishedEvent>();
  ev->frame = SharedBytes::allocate(header_len + json.size());
  char* out = ev->frame.mutable_data();
  std::memcpy(out, header, header_len);
  if (!json.empty()) std::memcpy(out + header_len, json.data(), json.size());
  ev->header_len = static_cast<std::uint8_t>(header_len);
  ev->type = info.type;
  ev->channel = info.channel;
  ev->key = std::move(info.key);
  ev->ts = info.ts;
  return ev;
}

}  // namespace ps
