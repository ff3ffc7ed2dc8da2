// Shared helpers for the libFuzzer targets in tests/fuzz/. Invariant
// violations call fuzz_fail(), which aborts so libFuzzer saves the input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace ps_fuzz {

[[noreturn]] inline void fuzz_fail(const char* what) {
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
  std::abort();
}

#define PS_FUZZ_CHECK(cond)                                   \
  do {                                                        \
    if (!(cond)) ::ps_fuzz::fuzz_fail(#cond " at " __FILE__); \
  } while (0)

// Takes n bytes from the front of `in` (fewer when it is shorter).
inline std::string_view take(std::string_view& in, std::size_t n) {
  if (n > in.size()) n = in.size();
  std::string_view out = in.substr(0, n);
  in.remove_prefix(n);
  return out;
}

// One byte from the front of `in` (0 when empty).
inline unsigned char take_byte(std::string_view& in) {
  if (in.empty()) return 0;
  const auto b = static_cast<unsigned char>(in.front());
  in.remove_prefix(1);
  return b;
}

}  // namespace ps_fuzz
