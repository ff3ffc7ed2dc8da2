#include "out_queue.h"

#include <algorithm>
#include <utility>

namespace ps {

namespace {
// Vectors that grew beyond this are released when drained: an idle
// connection should not keep a burst's worth of slots.
constexpr std::size_t kKeepCapacity = 16;
}  // namespace

// A frame larger than `limit` is refused even on an empty queue: it could
// never be sent within the budget, so the caller treats the client as slow
// (or sends it with push_unlimited when it must go out).
bool OutQueue::push(SharedBytes frame, std::size_t limit) {
  if (bytes_ > limit || frame.size() > limit - bytes_) return false;
  push_unlimited(std::move(frame));
  return true;
}

void OutQueue::push_unlimited(SharedBytes frame) {
  // An empty frame would leave front() empty on a non-empty queue.
  if (frame.size() == 0) return;
  // Reclaim the sent slots at the front once they are the majority, so a
  // queue that never fully drains does not grow without bound.
  if (head_ >= kKeepCapacity && head_ * 2 >= items_.size()) {
    items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
  bytes_ += frame.size();
  items_.push_back(Item{std::move(frame), 0, nullptr, 0});
}

bool OutQueue::push_event(SharedBytes frame, const EventPtr& ev, std::size_t limit, std::int64_t stamp) {
  if (!push(std::move(frame), limit)) return false;
  if (empty()) return true;  // an empty frame was dropped
  if (ev && conflatable(*ev)) items_.back().event = ev;
  items_.back().stamp = stamp;
  return true;
}

bool OutQueue::conflate(const EventPtr& ev, SharedBytes& frame, std::size_t limit) {
  if (!ev || !conflatable(*ev) || empty()) return false;
  const std::size_t stop = items_.size() - std::min(items_.size() - head_, kConflateScan);
  for (std::size_t i = items_.size(); i-- > stop;) {
    Item& it = items_[i];
    if (it.offset > 0) break;  // the front frame is partly written: it stays
    if (!it.event || it.event->type != ev->type) continue;
    if (ev->type == EventType::position_update && it.event->key != ev->key) continue;
    const std::size_t old = it.frame.size();
    if (frame.size() > old && (bytes_ - old > limit || frame.size() > limit - (bytes_ - old))) return false;
    bytes_ = bytes_ - old + frame.size();
    it.frame = std::move(frame);
    it.event = ev;
    return true;
  }
  return false;
}

std::string_view OutQueue::front() const {
  if (empty()) return {};
  const Item& it = items_[head_];
  return it.frame.view().substr(it.offset);
}

std::size_t OutQueue::gather(std::string_view* out, std::size_t max) const {
  std::size_t n = 0;
  for (std::size_t i = head_; i < items_.size() && n < max; ++i, ++n) {
    out[n] = items_[i].frame.view().substr(items_[i].offset);
  }
  return n;
}

// Also accepts n spanning several frames (a writev of many), up to bytes().
std::int64_t OutQueue::consume(std::size_t n) {
  std::int64_t earliest = 0;
  while (n > 0 && !empty()) {
    Item& it = items_[head_];
    const std::size_t left = it.frame.size() - it.offset;
    const std::size_t k = n < left ? n : left;
    it.offset += k;
    bytes_ -= k;
    n -= k;
    if (it.offset == it.frame.size()) {
      it.frame = SharedBytes();  // drop our references as soon as it is sent
      it.event.reset();
      if (it.stamp != 0 && (earliest == 0 || it.stamp < earliest)) earliest = it.stamp;
      ++head_;
    }
  }
  if (empty()) {
    if (items_.capacity() > kKeepCapacity) {
      std::vector<Item>().swap(items_);
    } else {
      items_.clear();
    }
    head_ = 0;
  }
  return earliest;
}

void OutQueue::discard_unstarted() {
  if (empty()) return;
  std::size_t keep = items_[head_].offset > 0 ? 1 : 0;
  for (std::size_t i = head_ + keep; i < items_.size(); i++) bytes_ -= items_[i].frame.size();
  items_.resize(head_ + keep);
  if (empty()) clear();
}

void OutQueue::release() {
  if (!empty()) return;
  std::vector<Item>().swap(items_);
  head_ = 0;
}

void OutQueue::clear() {
  std::vector<Item>().swap(items_);
  head_ = 0;
  bytes_ = 0;
}

}  // namespace ps
