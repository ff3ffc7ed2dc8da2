// libFuzzer target: the history core (history.h, stream_id.h): the resume
// query, offsets in event bytes, with_offset, the read reply and the decision.
//
// Input: byte 0 = replay limit selector, byte 1 = 8 bits of a StreamId seed,
// then the rest, used whole as a query string, as event bytes, as a stream
// id, and split at '\n' as [query, reply item 0, item 1, ...].
// Oracles: a valid request has a valid epoch and a since that round-trips;
// event_offset(with_offset(j, id)) == id for objects, and removing the
// inserted member gives j back; non-objects come back unchanged; a parsed
// id formats and parses to itself; a recovered decision replays strictly
// increasing ids > since, at most limit of them; not recovered replays none.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "history.h"
#include "stream_id.h"

#include "fuzz_util.h"

namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void check_with_offset(std::string_view j, ps::StreamId id) {
  const std::string out = ps::with_offset(j, id);
  std::size_t b = 0;
  while (b < j.size() && is_ws(j[b])) ++b;
  if (b >= j.size() || j[b] != '{') {
    PS_FUZZ_CHECK(out == j);
    PS_FUZZ_CHECK(!ps::event_offset(out));
    return;
  }
  const auto back = ps::event_offset(out);
  PS_FUZZ_CHECK(back && *back == id);
  const std::string member = "\"offset\":\"" + ps::to_string(id) + "\"";
  PS_FUZZ_CHECK(out.compare(b + 1, member.size(), member) == 0);
  std::string rest = out.substr(b + 1 + member.size());
  if (!rest.empty() && rest[0] == ',') {
    rest.erase(0, 1);
  } else {
    // no comma only for an empty object
    std::size_t k = 0;
    while (k < rest.size() && is_ws(rest[k])) ++k;
    PS_FUZZ_CHECK(k < rest.size() && rest[k] == '}');
  }
  PS_FUZZ_CHECK(std::string(j.substr(0, b + 1)) + rest == j);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static constexpr std::size_t kLimits[] = {0, 1, 2, 3, 10, 1000};
  const std::size_t limit = kLimits[ps_fuzz::take_byte(in) % 6];
  const unsigned seed = ps_fuzz::take_byte(in);
  const ps::StreamId seed_id{(seed & 1) ? UINT64_MAX : seed * 1000003ull, (seed & 2) ? UINT64_MAX : seed};

  // the whole input as a query
  const ps::ResumeRequest q = ps::parse_resume_query(in);
  if (q.valid) {
    PS_FUZZ_CHECK(q.present);
    PS_FUZZ_CHECK(ps::valid_epoch(q.epoch));
    const auto back = ps::parse_stream_id(ps::to_string(q.since));
    PS_FUZZ_CHECK(back && *back == q.since);
  } else {
    PS_FUZZ_CHECK(q.epoch.empty());
  }

  // as a stream id
  if (const auto id = ps::parse_stream_id(in)) {
    const std::string s = ps::to_string(*id);
    PS_FUZZ_CHECK(s.size() <= ps::kStreamIdMaxLen);
    const auto back = ps::parse_stream_id(s);
    PS_FUZZ_CHECK(back && *back == *id);
    PS_FUZZ_CHECK(in.size() >= 3);
  }

  // as event bytes
  if (const auto off = ps::event_offset(in)) {
    PS_FUZZ_CHECK(in.find("{\"offset\":\"") != std::string_view::npos);
  }
  check_with_offset(in, seed_id);
  if (const auto off = ps::event_offset(in)) check_with_offset(in, *off);

  // as [query, reply items...]
  std::vector<std::string_view> parts;
  std::string_view rest = in;
  while (parts.size() < 4096) {
    const std::size_t nl = rest.find('\n');
    parts.push_back(rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  const ps::ResumeRequest rq = ps::parse_resume_query(parts[0]);
  ps::HistoryRead read;
  const bool ok = ps::parse_history_reply(parts.data() + 1, parts.size() - 1, read);
  const ps::ResumeDecision d = ps::decide_resume(rq, ok ? &read : nullptr, limit);
  if (d.recovered) {
    PS_FUZZ_CHECK(rq.valid && ok);
    PS_FUZZ_CHECK(d.reason == ps::ResumeReason::ok);
    PS_FUZZ_CHECK(read.entries.size() <= limit);
    PS_FUZZ_CHECK(read.epoch == rq.epoch);
    PS_FUZZ_CHECK(rq.since <= read.last_id && rq.since >= read.max_deleted);
    ps::StreamId prev = rq.since;
    for (const auto& e : read.entries) {
      PS_FUZZ_CHECK(e.first > prev);
      prev = e.first;
      check_with_offset(e.second, e.first);
    }
    PS_FUZZ_CHECK(d.replayed_upto == prev);
    // the hold drops exactly the replayed range
    ps::ReplayHold<int> h(8, 64);
    h.hold(1, rq.since, 1);
    h.hold(2, std::nullopt, 1);
    h.hold(3, d.replayed_upto, 1);
    h.hold(4, seed_id, 1);
    const std::vector<int> out = h.release(d.replayed_upto);
    PS_FUZZ_CHECK(out.size() == (seed_id > d.replayed_upto ? 2u : 1u));
    PS_FUZZ_CHECK(out[0] == 2);
  } else {
    PS_FUZZ_CHECK(d.reason != ps::ResumeReason::ok);
    if (ok) PS_FUZZ_CHECK(read.entries.empty());
    if (!rq.valid) PS_FUZZ_CHECK(d.reason == ps::ResumeReason::malformed);
  }
  return 0;
}
