// History and resume: query parsing, offsets, the read reply and the decision.
#include "history.h"

#include "ascii.h"

namespace ps {
namespace {

bool json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes in into out[0..cap); false on a bad escape ('%' not
// followed by two hex digits) or when the result would exceed cap bytes.
// Stops at the first problem, so it costs at most O(cap) after a long input.
bool percent_decode(std::string_view in, char* out, std::size_t cap, std::size_t& len) noexcept {
  len = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (in.size() - i < 3) return false;
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (len == cap) return false;
    out[len++] = c;
  }
  return true;
}

bool epoch_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == ':' || c == '-';
}

constexpr std::string_view kOffsetMember = "\"offset\":\"";

ResumeDecision decide(std::string_view epoch, StreamId since, HistoryRead* read, std::size_t limit) noexcept {
  ResumeDecision d;
  if (!read) {
    d.reason = ResumeReason::unreadable;
    return d;
  }
  if (read->epoch != epoch) {
    d.reason = ResumeReason::epoch_changed;
  } else if (since > read->last_id) {
    d.reason = ResumeReason::from_future;
  } else if (since < read->max_deleted) {
    d.reason = ResumeReason::too_old;
  } else {
    // Keep ids > since, strictly increasing, in place (moves, no allocation).
    auto& e = read->entries;
    std::size_t kept = 0;
    StreamId prev = since;
    for (std::size_t i = 0; i < e.size(); ++i) {
      if (!(e[i].first > prev)) continue;
      prev = e[i].first;
      if (kept != i) e[kept] = std::move(e[i]);
      ++kept;
    }
    e.erase(e.begin() + static_cast<std::ptrdiff_t>(kept), e.end());
    if (kept > limit) {
      d.reason = ResumeReason::over_limit;
    } else {
      d.recovered = true;
      d.reason = ResumeReason::ok;
      d.replayed_upto = prev;
      return d;
    }
  }
  read->entries.clear();
  return d;
}

}  // namespace

bool valid_epoch(std::string_view epoch) noexcept {
  if (epoch.empty() || epoch.size() > kEpochMaxLen) return false;
  for (const char c : epoch) {
    if (!epoch_char(c)) return false;
  }
  return true;
}

ResumeRequest parse_resume_query(std::string_view args) {
  ResumeRequest r;
  unsigned since_seen = 0;
  unsigned epoch_seen = 0;
  bool since_ok = false;
  bool epoch_ok = false;
  char epoch_buf[kEpochMaxLen];
  std::size_t epoch_len = 0;

  while (!args.empty()) {
    const std::size_t amp = args.find('&');
    const std::string_view pair = args.substr(0, amp);
    args.remove_prefix(amp == std::string_view::npos ? args.size() : amp + 1);
    if (pair.empty()) continue;

    const std::size_t eq = pair.find('=');
    const std::string_view raw_name = pair.substr(0, eq);
    const std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    char name_buf[5];
    std::size_t name_len = 0;
    if (!percent_decode(raw_name, name_buf, sizeof name_buf, name_len)) continue;
    const std::string_view name(name_buf, name_len);

    if (iequals(name, "since")) {
      if (++since_seen > 1) continue;
      char buf[kStreamIdMaxLen];
      std::size_t len = 0;
      if (!percent_decode(raw_value, buf, sizeof buf, len)) continue;
      if (const auto id = parse_stream_id(std::string_view(buf, len))) {
        r.since = *id;
        since_ok = true;
      }
    } else if (iequals(name, "epoch")) {
      if (++epoch_seen > 1) continue;
      if (!percent_decode(raw_value, epoch_buf, sizeof epoch_buf, epoch_len)) continue;
      epoch_ok = valid_epoch(std::string_view(epoch_buf, epoch_len));
    }
  }

  r.present = since_seen > 0 || epoch_seen > 0;
  r.valid = since_seen == 1 && epoch_seen == 1 && since_ok && epoch_ok;
  if (r.valid) {
    r.epoch.assign(epoch_buf, epoch_len);
  } else {
    r.since = StreamId{};
  }
  return r;
}

std::optional<StreamId> event_offset(std::string_view json) noexcept {
  std::size_t i = 0;
  while (i < json.size() && json_ws(json[i])) ++i;
  if (i >= json.size() || json[i] != '{') return std::nullopt;
  ++i;
  if (json.substr(i, kOffsetMember.size()) != kOffsetMember) return std::nullopt;
  i += kOffsetMember.size();
  const std::size_t start = i;
  while (i < json.size() && i - start <= kStreamIdMaxLen && json[i] != '"') ++i;
  if (i >= json.size() || json[i] != '"') return std::nullopt;
  const std::optional<StreamId> id = parse_stream_id(json.substr(start, i - start));
  if (!id) return std::nullopt;
  ++i;
  if (i >= json.size() || !(json[i] == ',' || json[i] == '}' || json_ws(json[i]))) return std::nullopt;
  return id;
}

std::string with_offset(std::string_view json, StreamId id) {
  std::size_t brace = 0;
  while (brace < json.size() && json_ws(json[brace])) ++brace;
  if (brace >= json.size() || json[brace] != '{') return std::string(json);
  std::size_t j = brace + 1;
  while (j < json.size() && json_ws(json[j])) ++j;
  const bool empty_object = j < json.size() && json[j] == '}';

  char idbuf[kStreamIdMaxLen];
  const std::size_t idlen = format_stream_id(id, idbuf);
  std::string out;
  out.reserve(json.size() + kOffsetMember.size() + idlen + 2);
  out.append(json.data(), brace + 1);
  out.append(kOffsetMember);
  out.append(idbuf, idlen);
  out.push_back('"');
  if (!empty_object) out.push_back(',');
  out.append(json.data() + brace + 1, json.size() - brace - 1);
  return out;
}

bool parse_history_reply(const std::string_view* items, std::size_t n, HistoryRead& out) {
  if (n < 3 || (n - 3) % 2 != 0) return false;
  if (!valid_epoch(items[0])) return false;
  const auto last = parse_stream_id(items[1]);
  const auto maxdel = parse_stream_id(items[2]);
  if (!last || !maxdel) return false;
  std::vector<std::pair<StreamId, std::string>> entries;
  entries.reserve((n - 3) / 2);
  for (std::size_t i = 3; i < n; i += 2) {
    const auto id = parse_stream_id(items[i]);
    if (!id) return false;
    entries.emplace_back(*id, std::string(items[i + 1]));
  }
  out.epoch.assign(items[0].data(), items[0].size());
  out.last_id = *last;
  out.max_deleted = *maxdel;
  out.entries = std::move(entries);
  return true;
}

const char* resume_reason_name(ResumeReason r) noexcept {
  switch (r) {
    case ResumeReason::ok:
      return "ok";
    case ResumeReason::malformed:
      return "malformed";
    case ResumeReason::epoch_changed:
      return "epoch_changed";
    case ResumeReason::too_old:
      return "too_old";
    case ResumeReason::from_future:
      return "from_future";
    case ResumeReason::over_limit:
      return "over_limit";
    case ResumeReason::unreadable:
      return "unreadable";
  }
  return "unknown";
}

ResumeDecision decide_resume(const ResumeRequest& req, HistoryRead* read, std::size_t replay_limit) noexcept {
  if (!req.valid) {
    if (read) read->entries.clear();
    ResumeDecision d;
    d.reason = ResumeReason::malformed;
    return d;
  }
  return decide(req.epoch, req.since, read, replay_limit);
}

ResumeDecision decide_catch_up(std::string_view epoch, StreamId since, HistoryRead* read,
                               std::size_t replay_limit) noexcept {
  return decide(epoch, since, read, replay_limit);
}

}  // namespace ps
