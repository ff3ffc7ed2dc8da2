// libFuzzer target: the Redis Cluster parsers (resp_value.h, cluster_map.h,
// cluster_slot.h, shard_pubsub.h): RESP2 decoding, CLUSTER SLOTS / CLUSTER
// SHARDS replies, sharded pub/sub frames, MOVED/ASK errors, the redirect
// policy and slot batches.
//
// Input: byte 0 = flags (bit 0: start from a map with every slot owned),
// then RESP2 wire bytes; whatever follows the first decoded value is split at
// '\n' and used as error lines (redirects) and as channel names.
// Oracles: a decoded value encodes to bytes that decode to the same value
// within the bytes used; a parse that succeeds gives owners that are nodes of
// the map (or none), a slot count that matches, masters flagged, ports 1..65535;
// a parse that fails says why in one line and leaves the map as it was; a
// parsed redirect formats and parses to itself; a retry goes to a node of the
// map, at most 5 per command, and a MOVED retry owns its slot; slot batches
// cover every channel once, in one slot each.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cluster_map.h"
#include "cluster_slot.h"
#include "resp_value.h"
#include "shard_pubsub.h"

#include "fuzz_util.h"

namespace {

void check_map(const ps::ClusterMap& m) {
  PS_FUZZ_CHECK(m.nodes().size() <= ps::kClusterMaxNodes);
  std::size_t assigned = 0;
  for (std::uint16_t s = 0; s < ps::kClusterSlots; ++s) {
    const ps::ClusterNodeIndex o = m.slot_owner(s);
    if (o == ps::kNoClusterNode) continue;
    PS_FUZZ_CHECK(o < m.nodes().size());
    PS_FUZZ_CHECK(m.node(o)->master);
    ++assigned;
  }
  PS_FUZZ_CHECK(assigned == m.assigned_slots());
  for (const ps::ClusterNode& n : m.nodes()) {
    PS_FUZZ_CHECK(n.port != 0);
    PS_FUZZ_CHECK(n.known_endpoint || n.host.empty());
  }
  for (const ps::ClusterNodeIndex i : m.masters()) {
    PS_FUZZ_CHECK(i < m.nodes().size());
    for (const ps::ClusterNodeIndex r : m.replicas_of(i)) PS_FUZZ_CHECK(r < m.nodes().size() && r != i);
  }
}

void check_parse(bool shards, const ps::RespValue& v, const ps::ClusterMap& start) {
  ps::ClusterMap m = start;
  std::string err;
  const bool ok = shards ? ps::parse_cluster_shards(v, "seed.local", m, err)
                         : ps::parse_cluster_slots(v, "seed.local", m, err);
  if (ok) {
    check_map(m);
    const auto changed = ps::changed_slots(start, m);
    PS_FUZZ_CHECK(changed.size() <= ps::kClusterSlots);
    for (std::size_t i = 1; i < changed.size(); ++i) PS_FUZZ_CHECK(changed[i - 1] < changed[i]);
  } else {
    PS_FUZZ_CHECK(!err.empty());
    PS_FUZZ_CHECK(err.find('\n') == std::string::npos);
    PS_FUZZ_CHECK(m.nodes().size() == start.nodes().size());
    PS_FUZZ_CHECK(m.assigned_slots() == start.assigned_slots());
    for (std::uint16_t s = 0; s < ps::kClusterSlots; s += 97)
      PS_FUZZ_CHECK(m.slot_owner(s) == start.slot_owner(s));
  }
}

void check_redirect(std::string_view line) {
  const auto r = ps::parse_redirect(line);
  ps::ClusterError kind = ps::classify_cluster_error(line);
  if (!r) return;
  PS_FUZZ_CHECK(kind == (r->ask ? ps::ClusterError::ask : ps::ClusterError::moved));
  PS_FUZZ_CHECK(r->slot < ps::kClusterSlots);
  PS_FUZZ_CHECK(r->port != 0);
  const std::string again =
      std::string(r->ask ? "ASK " : "MOVED ") + std::to_string(r->slot) + " " +
      (r->host.empty() ? ":" + std::to_string(r->port) : ps::format_host_port(r->host, r->port));
  const auto back = ps::parse_redirect(again);
  PS_FUZZ_CHECK(back && back->ask == r->ask && back->slot == r->slot && back->host == r->host &&
                back->port == r->port);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const unsigned flags = ps_fuzz::take_byte(in);

  ps::ClusterMap start;
  if (flags & 1) {
    const ps::ClusterNodeIndex a = start.add_node("10.0.0.1", 7000);
    const ps::ClusterNodeIndex b = start.add_node("10.0.0.2", 7001);
    for (std::uint16_t s = 0; s < ps::kClusterSlots; ++s) start.set_slot_owner(s, s < 8192 ? a : b);
  }

  ps::RespValue v;
  std::size_t used = 0;
  const ps::RespDecodeResult dr = ps::resp_decode(in, v, used);
  std::string_view rest = in;
  if (dr == ps::RespDecodeResult::ok) {
    PS_FUZZ_CHECK(used > 0 && used <= in.size());
    const std::string wire = ps::resp_encode(v);
    ps::RespValue back;
    std::size_t used2 = 0;
    PS_FUZZ_CHECK(ps::resp_decode(wire, back, used2) == ps::RespDecodeResult::ok);
    PS_FUZZ_CHECK(used2 == wire.size());
    PS_FUZZ_CHECK(back == v);
    PS_FUZZ_CHECK(ps::resp_describe(v).size() < 400);
    check_parse(false, v, start);
    check_parse(true, v, start);
    const ps::ShardFrame f = ps::classify_shard_frame(v);
    if (f.kind == ps::ShardFrameKind::message || f.kind == ps::ShardFrameKind::subscribed ||
        f.kind == ps::ShardFrameKind::unsubscribed) {
      PS_FUZZ_CHECK(v.is_array() && v.elements.size() == 3);
      PS_FUZZ_CHECK(f.channel.data() == v.elements[1].str.data() &&
                    f.channel.size() == v.elements[1].str.size());
      if (f.kind == ps::ShardFrameKind::message) PS_FUZZ_CHECK(f.payload.data() == v.elements[2].str.data());
      if (f.kind != ps::ShardFrameKind::message) PS_FUZZ_CHECK(f.count == v.elements[2].integer);
    } else if (f.kind == ps::ShardFrameKind::error) {
      PS_FUZZ_CHECK(v.is_error() && f.payload == v.str);
    }
    rest = in.substr(used);
  } else {
    PS_FUZZ_CHECK(used == 0);
  }

  // the rest as error lines and channel names
  std::vector<std::string_view> lines;
  while (!rest.empty() && lines.size() < 256) {
    const std::size_t nl = rest.find('\n');
    lines.push_back(rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  ps::ClusterMap m = start;
  ps::RedirectBudget budget;
  ps::ClusterNodeIndex from = m.empty() ? ps::kNoClusterNode : 0;
  for (const std::string_view line : lines) {
    check_redirect(line);
    const ps::RedirectStep step = budget.on_error(line, from, m);
    PS_FUZZ_CHECK(budget.used() <= ps::RedirectBudget::kMaxRedirects);
    if (step.action != ps::RedirectStep::Action::deliver) {
      PS_FUZZ_CHECK(step.node < m.nodes().size());
      const auto r = ps::parse_redirect(line);
      if (step.action == ps::RedirectStep::Action::retry) {
        PS_FUZZ_CHECK(r.has_value());
        PS_FUZZ_CHECK(step.asking == r->ask);
        if (!r->ask) PS_FUZZ_CHECK(m.slot_owner(r->slot) == step.node);
      }
      from = step.node;
    } else {
      PS_FUZZ_CHECK(!step.asking);
    }
  }
  check_map(m);

  const auto batches = ps::group_by_slot(m, lines);
  std::vector<int> seen(lines.size());
  for (const ps::SlotBatch& b : batches) {
    PS_FUZZ_CHECK(!b.items.empty());
    for (const std::size_t i : b.items) {
      PS_FUZZ_CHECK(i < lines.size());
      PS_FUZZ_CHECK(ps::cluster_key_slot(lines[i]) == b.slot);
      PS_FUZZ_CHECK(m.slot_owner(b.slot) == b.node);
      ++seen[i];
    }
  }
  for (const int s : seen) PS_FUZZ_CHECK(s == 1);
  const auto spanned = ps::shards_spanned(m, lines);
  PS_FUZZ_CHECK(spanned.size() <= batches.size());
  for (const std::string_view l : lines) {
    PS_FUZZ_CHECK(ps::cluster_key_slot(l) < ps::kClusterSlots);
    const auto hk = ps::history_keys_for_channel(l, true);
    if (hk) {
      PS_FUZZ_CHECK(ps::cluster_key_slot(hk->first) == ps::cluster_key_slot(l));
      PS_FUZZ_CHECK(ps::cluster_key_slot(hk->second) == ps::cluster_key_slot(l));
    }
  }
  return 0;
}
