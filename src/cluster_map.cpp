#include "cluster_map.h"

#include <algorithm>
#include <utility>

namespace ps {

std::string format_host_port(std::string_view host, std::uint16_t port) {
  std::string out;
  const bool v6 = host.find(':') != std::string_view::npos;
  out.reserve(host.size() + 8);
  if (v6) out += '[';
  out.append(host.data(), host.size());
  if (v6) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

ClusterMap::ClusterMap() : owner_(kClusterSlots, kNoClusterNode) {}

ClusterNodeIndex ClusterMap::slot_owner(std::uint16_t slot) const noexcept {
  return slot < kClusterSlots ? owner_[slot] : kNoClusterNode;
}

std::vector<ClusterNodeIndex> ClusterMap::masters() const {
  std::vector<bool> seen(nodes_.size());
  for (const ClusterNodeIndex o : owner_) {
    if (o != kNoClusterNode) seen[o] = true;
  }
  std::vector<ClusterNodeIndex> out;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    if (seen[i]) out.push_back(static_cast<ClusterNodeIndex>(i));
  }
  return out;
}

std::vector<ClusterNodeIndex> ClusterMap::replicas_of(ClusterNodeIndex master) const {
  std::vector<ClusterNodeIndex> out;
  for (std::size_t i = 0; i < replica_.size(); ++i) {
    if (replica_[i] == master && master != kNoClusterNode) out.push_back(static_cast<ClusterNodeIndex>(i));
  }
  return out;
}

ClusterNodeIndex ClusterMap::find_node(std::string_view host, std::uint16_t port) const noexcept {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].port == port && nodes_[i].host == host) return static_cast<ClusterNodeIndex>(i);
  }
  return kNoClusterNode;
}

ClusterNodeIndex ClusterMap::add_node(std::string_view host, std::uint16_t port) {
  if (port == 0 || host.empty()) return kNoClusterNode;
  const ClusterNodeIndex found = find_node(host, port);
  if (found != kNoClusterNode) return found;
  if (nodes_.size() >= kClusterMaxNodes) return kNoClusterNode;
  ClusterNode n;
  n.host.assign(host.data(), host.size());
  n.port = port;
  nodes_.push_back(std::move(n));
  replica_.push_back(kNoClusterNode);
  return static_cast<ClusterNodeIndex>(nodes_.size() - 1);
}

bool ClusterMap::set_slot_owner(std::uint16_t slot, ClusterNodeIndex node) noexcept {
  if (slot >= kClusterSlots || node >= nodes_.size()) return false;
  if (owner_[slot] == kNoClusterNode) ++assigned_;
  owner_[slot] = node;
  nodes_[node].master = true;
  replica_[node] = kNoClusterNode;
  return true;
}

// Builds a map from parsed parts; the parsers below fill one and move it
// into the caller's map only when the whole reply made sense.
class ClusterMapBuilder {
 public:
  explicit ClusterMapBuilder(std::string_view source_host) : source_host_(source_host) {}

  // The node at endpoint:port with id, or kNoClusterNode with error set.
  ClusterNodeIndex node(const RespValue* endpoint, long long port, std::string_view id, std::string& error,
                        const std::string& where) {
    if (port < 1 || port > 65535) {
      error = where + ": port " + std::to_string(port) + " is not 1..65535";
      return kNoClusterNode;
    }
    std::string host;
    bool known = true;
    if (endpoint == nullptr || endpoint->is_nil() || (endpoint->is_text() && endpoint->str.empty())) {
      host.assign(source_host_.data(), source_host_.size());
    } else if (!endpoint->is_text()) {
      error = where + ": the endpoint is " + resp_describe(*endpoint) + ", not a string";
      return kNoClusterNode;
    } else if (endpoint->str == "?") {
      known = false;
    } else {
      for (const char c : endpoint->str) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) {
          error = where + ": the endpoint " + resp_describe(*endpoint) + " has a space or control byte";
          return kNoClusterNode;
        }
      }
      host = endpoint->str;
    }
    const auto p = static_cast<std::uint16_t>(port);
    // "?" nodes are told apart by id (or port): they share no host
    for (std::size_t i = 0; i < map_.nodes_.size(); ++i) {
      const ClusterNode& n = map_.nodes_[i];
      const bool same = known ? (n.known_endpoint && n.port == p && n.host == host)
                              : (!n.known_endpoint && n.port == p && n.id == id);
      if (same) {
        if (n.id.empty()) map_.nodes_[i].id.assign(id.data(), id.size());
        return static_cast<ClusterNodeIndex>(i);
      }
    }
    if (map_.nodes_.size() >= kClusterMaxNodes) {
      error = where + ": more than " + std::to_string(kClusterMaxNodes) + " nodes";
      return kNoClusterNode;
    }
    ClusterNode n;
    n.host = std::move(host);
    n.port = p;
    n.id.assign(id.data(), id.size());
    n.known_endpoint = known;
    map_.nodes_.push_back(std::move(n));
    map_.replica_.push_back(kNoClusterNode);
    return static_cast<ClusterNodeIndex>(map_.nodes_.size() - 1);
  }

  bool assign(long long start, long long end, ClusterNodeIndex owner, std::string& error,
              const std::string& where) {
    if (start < 0 || end < 0 || start >= kClusterSlots || end >= kClusterSlots) {
      error = where + ": slot range " + std::to_string(start) + "-" + std::to_string(end) +
              " is outside 0..16383";
      return false;
    }
    if (start > end) {
      error = where + ": slot range " + std::to_string(start) + "-" + std::to_string(end) +
              " starts after it ends";
      return false;
    }
    for (long long s = start; s <= end; ++s) {
      if (map_.owner_[s] != kNoClusterNode) {
        error = where + ": slot " + std::to_string(s) + " is listed twice";
        return false;
      }
      map_.owner_[s] = owner;
    }
    map_.assigned_ += static_cast<std::size_t>(end - start + 1);
    map_.nodes_[owner].master = true;
    return true;
  }

  void replica(ClusterNodeIndex r, ClusterNodeIndex master) {
    if (r != master && !map_.nodes_[r].master) map_.replica_[r] = master;
  }

  void mark_failed(ClusterNodeIndex n) { map_.nodes_[n].failed = true; }

  // A node that became a master after being listed as a replica stays a master.
  void finish(ClusterMap& out) {
    for (std::size_t i = 0; i < map_.nodes_.size(); ++i) {
      if (map_.nodes_[i].master) map_.replica_[i] = kNoClusterNode;
    }
    out = std::move(map_);
  }

 private:
  std::string_view source_host_;
  ClusterMap map_;
};

namespace {

bool reply_is_error(const RespValue& reply, std::string_view what, std::string& error) {
  if (reply.is_error()) {
    error = std::string(what) + " failed: " + reply.str.substr(0, 200);
    return true;
  }
  if (!reply.is_array()) {
    error = std::string(what) + ": the reply is " + resp_describe(reply) + ", not an array";
    return true;
  }
  return false;
}

bool as_integer(const RespValue& v, long long& out) {
  if (v.is_integer()) {
    out = v.integer;
    return true;
  }
  // some proxies send numbers as bulk strings
  if (!v.is_text() || v.str.empty() || v.str.size() > 18) return false;
  long long n = 0;
  std::size_t i = 0;
  const bool neg = v.str[0] == '-';
  if (neg) i = 1;
  if (i == v.str.size()) return false;
  for (; i < v.str.size(); ++i) {
    const char c = v.str[i];
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  out = neg ? -n : n;
  return true;
}

// A RESP2 "map": an array of alternating text keys and values.
const RespValue* map_get(const RespValue& m, std::string_view key) {
  for (std::size_t i = 0; i + 1 < m.elements.size(); i += 2) {
    if (m.elements[i].is_text() && m.elements[i].str == key) return &m.elements[i + 1];
  }
  return nullptr;
}

bool is_flat_map(const RespValue& m) {
  if (!m.is_array() || m.elements.size() % 2 != 0) return false;
  for (std::size_t i = 0; i < m.elements.size(); i += 2) {
    if (!m.elements[i].is_text()) return false;
  }
  return true;
}

}  // namespace

bool parse_cluster_slots(const RespValue& reply, std::string_view source_host, ClusterMap& out,
                         std::string& error) {
  if (reply_is_error(reply, "CLUSTER SLOTS", error)) return false;
  ClusterMapBuilder b(source_host);
  for (std::size_t i = 0; i < reply.elements.size(); ++i) {
    const RespValue& e = reply.elements[i];
    const std::string where = "CLUSTER SLOTS entry " + std::to_string(i);
    long long start = 0, end = 0;
    if (!e.is_array() || e.elements.size() < 3) {
      error = where + " is " + resp_describe(e) + ", not [start, end, master, ...]";
      return false;
    }
    if (!as_integer(e.elements[0], start) || !as_integer(e.elements[1], end)) {
      error = where + ": the slot range is not two integers";
      return false;
    }
    ClusterNodeIndex master = kNoClusterNode;
    for (std::size_t j = 2; j < e.elements.size(); ++j) {
      const RespValue& n = e.elements[j];
      const std::string nwhere = where + " node " + std::to_string(j - 2);
      long long port = 0;
      if (!n.is_array() || n.elements.size() < 2 || !as_integer(n.elements[1], port)) {
        error = nwhere + " is " + resp_describe(n) + ", not [host, port, id, ...]";
        return false;
      }
      std::string_view id;
      if (n.elements.size() >= 3) {
        if (!n.elements[2].is_text()) {
          error = nwhere + ": the node id is " + resp_describe(n.elements[2]) + ", not a string";
          return false;
        }
        id = n.elements[2].str;
      }
      const ClusterNodeIndex idx = b.node(&n.elements[0], port, id, error, nwhere);
      if (idx == kNoClusterNode) return false;
      if (j == 2) {
        master = idx;
        if (!b.assign(start, end, master, error, where)) return false;
      } else {
        b.replica(idx, master);
      }
    }
  }
  b.finish(out);
  return true;
}

bool parse_cluster_shards(const RespValue& reply, std::string_view source_host, ClusterMap& out,
                          std::string& error) {
  if (reply_is_error(reply, "CLUSTER SHARDS", error)) return false;
  ClusterMapBuilder b(source_host);
  for (std::size_t i = 0; i < reply.elements.size(); ++i) {
    const RespValue& shard = reply.elements[i];
    const std::string where = "CLUSTER SHARDS shard " + std::to_string(i);
    if (!is_flat_map(shard)) {
      error = where + " is " + resp_describe(shard) + ", not a map";
      return false;
    }
    const RespValue* slots = map_get(shard, "slots");
    const RespValue* nodes = map_get(shard, "nodes");
    if (slots == nullptr || !slots->is_array() || slots->elements.size() % 2 != 0) {
      error = where + ": \"slots\" is missing or not an even list of integers";
      return false;
    }
    if (nodes == nullptr || !nodes->is_array()) {
      error = where + ": \"nodes\" is missing or not a list";
      return false;
    }
    std::vector<ClusterNodeIndex> members;
    std::vector<bool> is_master, healthy;
    for (std::size_t j = 0; j < nodes->elements.size(); ++j) {
      const RespValue& n = nodes->elements[j];
      const std::string nwhere = where + " node " + std::to_string(j);
      if (!is_flat_map(n)) {
        error = nwhere + " is " + resp_describe(n) + ", not a map";
        return false;
      }
      const RespValue* port = map_get(n, "port");
      const RespValue* id = map_get(n, "id");
      const RespValue* role = map_get(n, "role");
      const RespValue* health = map_get(n, "health");
      const RespValue* endpoint = map_get(n, "endpoint");
      if (endpoint == nullptr || (endpoint->is_text() && endpoint->str.empty())) {
        const RespValue* ip = map_get(n, "ip");
        if (ip != nullptr) endpoint = ip;
      }
      long long p = 0;
      if (port == nullptr || !as_integer(*port, p)) {
        error = nwhere + ": \"port\" is missing or not an integer";
        return false;
      }
      if (role == nullptr || !role->is_text() || (role->str != "master" && role->str != "replica")) {
        error = nwhere + ": \"role\" is missing or not master/replica";
        return false;
      }
      if ((id != nullptr && !id->is_text()) || (health != nullptr && !health->is_text())) {
        error = nwhere + ": \"id\" or \"health\" is not a string";
        return false;
      }
      const ClusterNodeIndex idx =
          b.node(endpoint, p, id ? std::string_view(id->str) : std::string_view(), error, nwhere);
      if (idx == kNoClusterNode) return false;
      // Redis 7.0 says "fail" (7.2 documents "failed")
      const bool failed = health != nullptr && (health->str == "fail" || health->str == "failed");
      if (failed) b.mark_failed(idx);
      members.push_back(idx);
      is_master.push_back(role->str == "master");
      healthy.push_back(!failed);
    }
    // the shard's master: a healthy one, else any
    ClusterNodeIndex master = kNoClusterNode;
    for (std::size_t j = 0; j < members.size() && master == kNoClusterNode; ++j) {
      if (is_master[j] && healthy[j]) master = members[j];
    }
    for (std::size_t j = 0; j < members.size() && master == kNoClusterNode; ++j) {
      if (is_master[j]) master = members[j];
    }
    if (master == kNoClusterNode) {
      if (!slots->elements.empty()) {
        error = where + " has slots but no master";
        return false;
      }
      continue;
    }
    for (std::size_t k = 0; k < slots->elements.size(); k += 2) {
      long long start = 0, end = 0;
      if (!as_integer(slots->elements[k], start) || !as_integer(slots->elements[k + 1], end)) {
        error = where + ": \"slots\" has " + resp_describe(*slots) + ", not integers";
        return false;
      }
      if (!b.assign(start, end, master, error, where)) return false;
    }
    for (const ClusterNodeIndex m : members) b.replica(m, master);
  }
  b.finish(out);
  return true;
}

std::vector<std::uint16_t> changed_slots(const ClusterMap& before, const ClusterMap& after) {
  std::vector<std::uint16_t> out;
  for (std::uint16_t s = 0; s < kClusterSlots; ++s) {
    const ClusterNode* a = before.node(before.slot_owner(s));
    const ClusterNode* b = after.node(after.slot_owner(s));
    if (a == nullptr && b == nullptr) continue;
    if (a == nullptr || b == nullptr || a->port != b->port || a->host != b->host ||
        a->known_endpoint != b->known_endpoint) {
      out.push_back(s);
    }
  }
  return out;
}

// --- errors and redirects -------------------------------------------------------

ClusterError classify_cluster_error(std::string_view error) noexcept {
  if (!error.empty() && error[0] == '-') error.remove_prefix(1);
  const std::string_view word = error.substr(0, error.find(' '));
  if (word == "MOVED") return ClusterError::moved;
  if (word == "ASK") return ClusterError::ask;
  if (word == "TRYAGAIN") return ClusterError::tryagain;
  if (word == "CLUSTERDOWN") return ClusterError::clusterdown;
  if (word == "CROSSSLOT") return ClusterError::crossslot;
  return ClusterError::other;
}

namespace {

bool parse_decimal(std::string_view s, unsigned long max, unsigned long& out) {
  if (s.empty() || s.size() > 5) return false;
  unsigned long v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned long>(c - '0');
  }
  if (v > max) return false;
  out = v;
  return true;
}

}  // namespace

std::optional<Redirect> parse_redirect(std::string_view error) {
  if (!error.empty() && error[0] == '-') error.remove_prefix(1);
  Redirect r;
  if (error.substr(0, 6) == "MOVED ") {
    error.remove_prefix(6);
  } else if (error.substr(0, 4) == "ASK ") {
    r.ask = true;
    error.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  const std::size_t sp = error.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  unsigned long slot = 0;
  if (!parse_decimal(error.substr(0, sp), kClusterSlots - 1, slot)) return std::nullopt;
  std::string_view addr = error.substr(sp + 1);
  const std::size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  unsigned long port = 0;
  if (!parse_decimal(addr.substr(colon + 1), 65535, port) || port == 0) return std::nullopt;
  std::string_view host = addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (host.empty()) return std::nullopt;
  }
  for (const char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '[' || c == ']') return std::nullopt;
  }
  r.slot = static_cast<std::uint16_t>(slot);
  r.host.assign(host.data(), host.size());
  r.port = static_cast<std::uint16_t>(port);
  return r;
}

RedirectStep RedirectBudget::on_error(std::string_view error, ClusterNodeIndex from, ClusterMap& map) {
  RedirectStep step;
  const ClusterError kind = classify_cluster_error(error);
  switch (kind) {
    case ClusterError::other:
      step.reason = "not a cluster error";
      return step;
    case ClusterError::crossslot:
      step.reason = "CROSSSLOT";
      return step;
    case ClusterError::clusterdown:
      step.refresh_map = true;
      step.reason = "CLUSTERDOWN";
      return step;
    default:
      break;
  }
  if (used_ >= kMaxRedirects) {
    step.refresh_map = true;
    step.reason = "too many redirects";
    return step;
  }
  if (kind == ClusterError::tryagain) {
    if (from >= map.nodes().size()) {
      step.reason = "TRYAGAIN from an unknown node";
      return step;
    }
    ++used_;
    step.action = RedirectStep::Action::retry_later;
    step.node = from;
    step.reason = "TRYAGAIN";
    return step;
  }
  const std::optional<Redirect> r = parse_redirect(error);
  if (!r) {
    step.refresh_map = true;
    step.reason = "malformed MOVED/ASK";
    return step;
  }
  std::string_view host = r->host;
  if (host.empty()) {
    const ClusterNode* f = map.node(from);
    if (f == nullptr || !f->known_endpoint) {
      step.refresh_map = true;
      step.reason = "redirect to an empty endpoint from an unknown node";
      return step;
    }
    host = f->host;
  }
  if (host == "?") {
    step.refresh_map = true;
    step.reason = "redirect to an unknown endpoint";
    return step;
  }
  const ClusterNodeIndex target = map.add_node(host, r->port);
  if (target == kNoClusterNode) {
    step.refresh_map = true;
    step.reason = "redirect target does not fit the map";
    return step;
  }
  ++used_;
  step.action = RedirectStep::Action::retry;
  step.node = target;
  if (r->ask) {
    step.asking = true;
    step.reason = "ASK";
  } else {
    map.set_slot_owner(r->slot, target);
    step.refresh_map = true;
    step.reason = "MOVED";
  }
  return step;
}

// --- refresh ---------------------------------------------------------------------

bool SlotMapRefresh::due(std::uint64_t now_ms) const noexcept {
  if (!requested_ || in_flight_) return false;
  if (!started_once_) return true;
  const std::uint64_t wait = std::max(pause_, min_interval_);
  return now_ms >= last_start_ && now_ms - last_start_ >= wait;
}

std::uint64_t SlotMapRefresh::next_due(std::uint64_t now_ms) const noexcept {
  if (!requested_ || in_flight_) return UINT64_MAX;
  if (!started_once_) return now_ms;
  const std::uint64_t wait = std::max(pause_, min_interval_);
  if (now_ms < last_start_) return last_start_ + wait;  // a clock that went back: wait from last start
  return std::max(now_ms, last_start_ + wait);
}

void SlotMapRefresh::started(std::uint64_t now_ms) noexcept {
  in_flight_ = true;
  started_once_ = true;
  last_start_ = now_ms;
  requested_during_flight_ = false;
}

void SlotMapRefresh::finished(bool ok) noexcept {
  if (!in_flight_) return;
  in_flight_ = false;
  if (ok) {
    pause_ = 0;
    requested_ = requested_during_flight_;
  } else {
    pause_ = pause_ == 0 ? min_interval_ : std::min(pause_ * 2, max_backoff_);
    requested_ = true;
  }
  requested_during_flight_ = false;
}

// --- shard channels -----------------------------------------------------------------

std::vector<SlotBatch> group_by_slot(const ClusterMap& map, const std::string_view* channels, std::size_t n) {
  std::vector<std::pair<std::uint32_t, std::size_t>> keyed;  // (node << 14 | slot, index)
  keyed.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint16_t slot = cluster_key_slot(channels[i]);
    const std::uint32_t node = map.slot_owner(slot);
    keyed.emplace_back((node << 14) | slot, i);
  }
  std::sort(keyed.begin(), keyed.end());
  std::vector<SlotBatch> out;
  for (const auto& [k, i] : keyed) {
    const auto node = static_cast<ClusterNodeIndex>(k >> 14);
    const auto slot = static_cast<std::uint16_t>(k & (kClusterSlots - 1));
    if (out.empty() || out.back().node != node || out.back().slot != slot) {
      out.emplace_back();
      out.back().node = node;
      out.back().slot = slot;
    }
    out.back().items.push_back(i);
  }
  return out;
}

std::vector<ClusterNodeIndex> shards_spanned(const ClusterMap& map, const std::string_view* channels,
                                             std::size_t n) {
  std::vector<ClusterNodeIndex> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(map.key_owner(channels[i]));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace ps
