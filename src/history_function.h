// The Redis Functions library "portfolio_stream" (SPEC section 8), embedded
// so that the module can load it: the text of redis/portfolio_stream.lua,
// byte for byte (tests/unit/test_history_function.cpp compares them).
//
// On connect the module sends `FCALL portfolio_stream_version 0`; an error
// reply (no such function, or Redis < 7.0: unknown command) or an integer
// below kHistoryFunctionVersion means
// `FUNCTION LOAD REPLACE <history_function_code()>`. Redis < 7.0 answers that
// with an error too: history is then unavailable (recovered:false).
#pragma once

#include <string_view>

namespace ps {

// The library's VERSION (its `local VERSION = N` line). Bump both together.
inline constexpr int kHistoryFunctionVersion = 2;

inline constexpr std::string_view kHistoryLibraryName = "portfolio_stream";
inline constexpr std::string_view kHistoryPublishFunction = "portfolio_stream_publish";
inline constexpr std::string_view kHistoryReadFunction = "portfolio_stream_read";
inline constexpr std::string_view kHistoryVersionFunction = "portfolio_stream_version";

// The whole library source (starts "#!lua name=portfolio_stream\n"), static
// storage, valid for the life of the process.
std::string_view history_function_code() noexcept;

}  // namespace ps
