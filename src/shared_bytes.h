// An immutable, reference-counted byte buffer: one published event's frame is
// built once and every local connection of that user queues the same bytes.
// Single-threaded (an nginx worker), so the count is a plain integer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <new>
#include <string_view>
#include <utility>

namespace ps {

class SharedBytes {
 public:
  SharedBytes() = default;
  // Copies `parts` into one fresh block. Throws std::bad_alloc.
  static SharedBytes concat(std::initializer_list<std::string_view> parts) {
    std::size_t n = 0;
    for (auto p : parts) n += p.size();
    SharedBytes b = allocate(n);
    char* out = b.block_->data();
    for (auto p : parts) {
      if (!p.empty()) std::memcpy(out, p.data(), p.size());
      out += p.size();
    }
    return b;
  }
  // A block of n bytes to fill through mutable_data() before sharing it.
  static SharedBytes allocate(std::size_t n) {
    void* mem = std::malloc(sizeof(Block) + n);
    if (!mem) throw std::bad_alloc();
    SharedBytes b;
    b.block_ = ::new (mem) Block{1, n};
    return b;
  }

  SharedBytes(const SharedBytes& o) noexcept : block_(o.block_) {
    if (block_) ++block_->refs;
  }
  SharedBytes(SharedBytes&& o) noexcept : block_(std::exchange(o.block_, nullptr)) {}
  SharedBytes& operator=(SharedBytes o) noexcept {
    std::swap(block_, o.block_);
    return *this;
  }
  ~SharedBytes() { release(); }

  explicit operator bool() const { return block_ != nullptr; }
  const char* data() const { return block_ ? block_->data() : nullptr; }
  char* mutable_data() { return block_->data(); }
  std::size_t size() const { return block_ ? block_->size : 0; }
  std::string_view view() const { return {data(), size()}; }
  std::uint32_t use_count() const { return block_ ? block_->refs : 0; }

 private:
  struct Block {
    std::uint32_t refs;
    std::size_t size;
    char* data() { return reinterpret_cast<char*>(this + 1); }
  };
  void release() noexcept {
    if (block_ && --block_->refs == 0) std::free(block_);
    block_ = nullptr;
  }
  Block* block_ = nullptr;
};

}  // namespace ps
