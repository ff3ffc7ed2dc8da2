#include "namespaces.h"

namespace ps {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// a and b overlap: different, and one starts with the other.
bool overlap(std::string_view a, std::string_view b) {
  return a != b && (starts_with(a, b) || starts_with(b, a));
}

std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

}  // namespace

std::optional<NamespaceConflict> find_namespace_conflict(const NamespaceEntry* entries, std::size_t count) {
  using Kind = NamespaceConflict::Kind;
  for (std::size_t i = 0; i < count; ++i) {
    const NamespaceEntry& e = entries[i];
    for (std::size_t j = 0; j < i; ++j) {
      if (overlap(e.prefix, entries[j].prefix)) {
        // The shorter prefix first.
        return e.prefix.size() < entries[j].prefix.size() ? NamespaceConflict{Kind::prefixes_overlap, i, j}
                                                          : NamespaceConflict{Kind::prefixes_overlap, j, i};
      }
    }
    if (!e.broadcast.empty()) {
      for (std::size_t j = 0; j <= i; ++j) {
        if (starts_with(e.broadcast, entries[j].prefix))
          return NamespaceConflict{Kind::broadcast_in_namespace, i, j};
      }
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (!entries[j].broadcast.empty() && starts_with(entries[j].broadcast, e.prefix)) {
        return NamespaceConflict{Kind::broadcast_in_namespace, j, i};
      }
    }
  }
  return std::nullopt;
}

std::string describe_conflict(const NamespaceConflict& c, const NamespaceEntry* entries) {
  const NamespaceEntry& a = entries[c.first];
  const NamespaceEntry& b = entries[c.second];
  std::string m;
  if (c.kind == NamespaceConflict::Kind::prefixes_overlap) {
    // a.prefix is the shorter: channel b.prefix + "2" is user (rest + "2") of a.
    const std::string_view rest = std::string_view(b.prefix).substr(a.prefix.size());
    m = "portfolio_stream_channel_prefix " + quoted(a.prefix) + " (" + std::string(a.where) + ") and " +
        quoted(b.prefix) + " (" + std::string(b.where) + ") overlap: channel " +
        quoted(std::string(b.prefix) + "2") + " would be user " + quoted(std::string(rest) + "2") +
        " of the first and user \"2\" of the second; give each location a prefix that does not start with "
        "the other's";
    return m;
  }
  const std::string_view user = a.broadcast.substr(b.prefix.size());
  m = "portfolio_stream_broadcast_channel " + quoted(a.broadcast) + " (" + std::string(a.where) +
      ") starts with the portfolio_stream_channel_prefix " + quoted(b.prefix);
  if (c.first == c.second) {
    m += " of the same location";
  } else {
    m += " (" + std::string(b.where) + ")";
  }
  m += user.empty() ? std::string(": it is the channel of an empty user id")
                    : ": it is also the channel of user " + quoted(user) +
                          ", whose private events would go to every connection";
  m += "; use a broadcast channel outside every user namespace";
  return m;
}

}  // namespace ps
