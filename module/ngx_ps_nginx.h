// The one place nginx's C headers are included: they have no extern "C"
// guards, and they define unprefixed macros, so standard and third-party
// headers must come before them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <string_view>

extern "C" {
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>
}

inline std::string_view ngx_ps_sv(const ngx_str_t& s) {
  return {reinterpret_cast<const char*>(s.data), s.len};
}
