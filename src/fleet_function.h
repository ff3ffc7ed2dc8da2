// The Redis Functions library "portfolio_stream_fleet" (SPEC section 9, the
// fleet-wide per-user limit), embedded so that the module can load it: the
// text of redis/portfolio_stream_fleet.lua, byte for byte
// (tests/unit/test_fleet_function.cpp compares them). Key names and the
// renewal schedule are in fleet.h.
//
// A library of its own, next to "portfolio_stream" (history): each is
// loaded only when its feature is on (history on / limit_scope fleet), each
// is versioned and replaced on its own, and an ACL can allow one without the
// other. With limit_scope fleet the module sends
// `FCALL portfolio_stream_fleet_version 0` on each command connection's
// handshake; an error reply or an integer below kFleetFunctionVersion means
// `FUNCTION LOAD REPLACE <fleet_function_code()>`. If that fails too (Redis
// < 7.0, an ACL without FUNCTION), every fleet-scoped handshake is 503 as
// for any Redis failure (SPEC section 2).
#pragma once

#include <string_view>

namespace ps {

// The library's VERSION (its `local VERSION = N` line). Bump both together.
inline constexpr int kFleetFunctionVersion = 1;

inline constexpr std::string_view kFleetLibraryName = "portfolio_stream_fleet";
inline constexpr std::string_view kFleetAcquireFunction = "portfolio_stream_fleet_acquire";
inline constexpr std::string_view kFleetReleaseFunction = "portfolio_stream_fleet_release";
inline constexpr std::string_view kFleetRenewFunction = "portfolio_stream_fleet_renew";
inline constexpr std::string_view kFleetSyncFunction = "portfolio_stream_fleet_sync";
inline constexpr std::string_view kFleetDropFunction = "portfolio_stream_fleet_drop";
inline constexpr std::string_view kFleetCountFunction = "portfolio_stream_fleet_count";
inline constexpr std::string_view kFleetVersionFunction = "portfolio_stream_fleet_version";

// The whole library source (starts "#!lua name=portfolio_stream_fleet\n"),
// static storage, valid for the life of the process.
std::string_view fleet_function_code() noexcept;

}  // namespace ps
