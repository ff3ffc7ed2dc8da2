#include "batcher.h"

#include <cstring>
#include <string_view>
#include <utility>

#include "frame_writer.h"

namespace ps {

namespace {

constexpr std::string_view kBatchHead = "{\"type\":\"batch\",\"events\":[";
constexpr std::string_view kBatchTail = "]}";
constexpr std::size_t kNoSlot = static_cast<std::size_t>(-1);

bool is_urgent(EventType t) { return t == EventType::order_update || t == EventType::trade_executed; }

}  // namespace

SharedBytes make_batch_frame(const std::vector<EventPtr>& events) {
  std::size_t payload = kBatchHead.size() + kBatchTail.size();
  for (const auto& ev : events) payload += ev->json_size();
  if (events.size() > 1) payload += events.size() - 1;  // commas

  std::uint8_t header[kMaxFrameHeader];
  const std::size_t header_len = write_frame_header(Opcode::text, payload, header);
  SharedBytes frame = SharedBytes::allocate(header_len + payload);
  char* out = frame.mutable_data();
  auto put = [&out](std::string_view s) {
    if (!s.empty()) std::memcpy(out, s.data(), s.size());
    out += s.size();
  };
  put(std::string_view(reinterpret_cast<const char*>(header), header_len));
  put(kBatchHead);
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i != 0) put(",");
    put(events[i]->json());
  }
  put(kBatchTail);
  return frame;
}

namespace {
std::uint32_t clamp_u32(std::size_t v) { return v > UINT32_MAX ? UINT32_MAX : std::uint32_t(v); }
}  // namespace

Batcher::Batcher(std::int64_t window_ms, Limits limits)
    : window_(window_ms <= 0          ? 0
              : window_ms > INT32_MAX ? INT32_MAX
                                      : std::int32_t(window_ms)),
      max_events_(limits.max_events == 0 ? 1 : clamp_u32(limits.max_events)),
      max_bytes_(clamp_u32(limits.max_bytes)) {}

void Batcher::clamp_time(std::int64_t now_ms) {
  if (has_last_frame_ && now_ms < last_frame_ms_) last_frame_ms_ = now_ms;
}

std::optional<std::int64_t> Batcher::deadline() const {
  if (pending_.empty()) return std::nullopt;
  return last_frame_ms_ + window_;
}

void Batcher::emit_bare(EventPtr ev, std::int64_t now_ms, Output& out) {
  out.frame = ev->frame;
  out.events.clear();
  out.events.push_back(std::move(ev));
  last_frame_ms_ = now_ms;
  has_last_frame_ = true;
}

void Batcher::emit_pending(std::int64_t now_ms, Output& out) {
  // Build first: if this throws, nothing has changed.
  out.frame = pending_.size() == 1 ? pending_.front()->frame : make_batch_frame(pending_);
  std::vector<EventPtr> events;
  events.swap(pending_);  // pending_ is left without a buffer: idle means no heap
  out.events = std::move(events);
  pending_bytes_ = 0;
  last_frame_ms_ = now_ms;
  has_last_frame_ = true;
}

std::size_t Batcher::find_slot(const PublishedEvent& ev) const {
  if (ev.type == EventType::position_update) {
    if (ev.key.empty()) return kNoSlot;
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      const PublishedEvent& p = *pending_[i];
      if (p.type == EventType::position_update && p.key == ev.key) return i;
    }
  } else if (ev.type == EventType::account_update) {
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      if (pending_[i]->type == EventType::account_update) return i;
    }
  }
  return kNoSlot;
}

bool Batcher::on_event(EventPtr ev, std::int64_t now_ms, Output& out) {
  if (!ev) return false;
  clamp_time(now_ms);

  if (window_ == 0) {
    emit_bare(std::move(ev), now_ms, out);
    return true;
  }

  if (is_urgent(ev->type)) {
    if (pending_.empty()) {
      emit_bare(std::move(ev), now_ms, out);
    } else {
      const std::size_t size = ev->json_size();
      pending_.push_back(std::move(ev));  // if this throws, nothing has changed
      pending_bytes_ += size;
      emit_pending(now_ms, out);
    }
    return true;
  }

  if (pending_.empty() && (!has_last_frame_ || now_ms - last_frame_ms_ >= window_)) {
    emit_bare(std::move(ev), now_ms, out);
    return true;
  }

  // Held: replace a pending event of the same coalescing key, or append.
  const std::size_t slot = find_slot(*ev);
  const std::size_t count = pending_.size() + (slot == kNoSlot ? 1 : 0);
  const std::size_t bytes =
      pending_bytes_ - (slot == kNoSlot ? 0 : pending_[slot]->json_size()) + ev->json_size();

  if (!pending_.empty() && (count > max_events_ || bytes > max_bytes_)) {
    // Over a bound: the pending batch goes out as it is, ev starts the next.
    std::vector<EventPtr> next;
    const std::size_t next_bytes = ev->json_size();
    next.push_back(std::move(ev));
    emit_pending(now_ms, out);
    pending_ = std::move(next);
    pending_bytes_ = next_bytes;
    return true;
  }

  if (slot != kNoSlot) {
    pending_[slot] = std::move(ev);
    ++coalesced_;
  } else {
    pending_.push_back(std::move(ev));
  }
  pending_bytes_ = bytes;

  if (now_ms - last_frame_ms_ >= window_) {  // the timer is late: go now
    emit_pending(now_ms, out);
    return true;
  }
  return false;
}

bool Batcher::on_timer(std::int64_t now_ms, Output& out) {
  if (pending_.empty()) return false;
  clamp_time(now_ms);
  if (now_ms - last_frame_ms_ < window_) return false;
  emit_pending(now_ms, out);
  return true;
}

bool Batcher::flush(std::int64_t now_ms, Output& out) {
  if (pending_.empty()) return false;
  clamp_time(now_ms);
  emit_pending(now_ms, out);
  return true;
}

std::size_t Batcher::discard() {
  const std::size_t n = pending_.size();
  std::vector<EventPtr>().swap(pending_);
  pending_bytes_ = 0;
  return n;
}

}  // namespace ps
