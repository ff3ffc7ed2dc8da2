#include "send_lowat.h"

namespace ps {

const char* check_send_lowat(std::size_t value) {
  if (value != 0 && value < SendLowat::kMin) return "must be off, 0 or at least 1k";
  if (value > SendLowat::kMax) return "must be at most 1024m";
  return nullptr;
}

int send_lowat_option(std::size_t value) {
  return check_send_lowat(value) == nullptr ? static_cast<int>(value) : 0;
}

}  // namespace ps
