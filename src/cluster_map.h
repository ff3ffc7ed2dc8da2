// Redis Cluster routing (SPEC section 9), the nginx-free half: the slot map
// (from CLUSTER SLOTS or CLUSTER SHARDS), MOVED/ASK errors, a bounded
// redirect policy per command, when to refresh the map, and which node owns
// a key or a shard channel. hiredis 0.14 has no cluster support; module/
// carries one connection per node and asks this code where to send what.
// No I/O, no clocks (times are arguments), no globals.
//
// How module/ uses it (one ClusterMap per worker):
//   1. connect to a seed, send CLUSTER SHARDS (Redis >= 7.0; CLUSTER SLOTS on
//      an error), resp_from_hiredis() the reply, parse_cluster_shards() /
//      parse_cluster_slots() into a new map with the seed's host as
//      source_host; on success swap it in and diff with changed_slots();
//   2. a key command (GET sess:<sid>, FCALL ... 1 <channel>): send it to
//      map.key_owner(key); on an error reply run the command's
//      RedirectBudget::on_error() and do what the step says;
//   3. SSUBSCRIBE: group_by_slot() the channels; one SSUBSCRIBE per batch on
//      the pub/sub connection of batch.node (a command with channels of two
//      slots fails with CROSSSLOT);
//   4. MOVED, a SUNSUBSCRIBE the worker did not ask for (the slot moved), a
//      lost node or CLUSTERDOWN: SlotMapRefresh::request(); when due(), send
//      CLUSTER SHARDS to any reachable node (seeds first), then resubscribe the
//      channels of changed_slots() on their new owners.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster_slot.h"
#include "resp_value.h"

namespace ps {

using ClusterNodeIndex = std::uint16_t;
inline constexpr ClusterNodeIndex kNoClusterNode = 0xffff;
// Most nodes one map holds (Redis recommends at most ~1000 masters).
inline constexpr std::size_t kClusterMaxNodes = 4096;

struct ClusterNode {
  // IPv4, IPv6 (no brackets) or a hostname, as Redis reports it. A node
  // whose endpoint Redis left empty or null gets source_host (Redis's rule:
  // "the same endpoint you asked"); "?" (preferred endpoint type hostname,
  // none set) leaves host empty and known_endpoint false: not connectable.
  std::string host;
  std::uint16_t port = 0;
  std::string id;  // Redis's node id; "" for a node only a MOVED/ASK named
  bool master = false;
  bool known_endpoint = true;
  bool failed = false;  // CLUSTER SHARDS health "fail" (7.0) or "failed"
};

// "host:port", or "[v6]:port" when host has a ':'. Throws std::bad_alloc.
std::string format_host_port(std::string_view host, std::uint16_t port);

// Who owns each of the 16384 slots. A default-constructed map owns nothing
// (every lookup answers kNoClusterNode). Copyable; about 32 KiB.
class ClusterMap {
 public:
  ClusterMap();

  const std::vector<ClusterNode>& nodes() const noexcept { return nodes_; }
  const ClusterNode* node(ClusterNodeIndex i) const noexcept {
    return i < nodes_.size() ? &nodes_[i] : nullptr;
  }

  // The master serving slot, or kNoClusterNode (unassigned, or slot >= 16384).
  ClusterNodeIndex slot_owner(std::uint16_t slot) const noexcept;
  // The owner of cluster_key_slot(key). Shard channels route the same way.
  ClusterNodeIndex key_owner(std::string_view key) const noexcept {
    return slot_owner(cluster_key_slot(key));
  }

  std::size_t assigned_slots() const noexcept { return assigned_; }
  bool complete() const noexcept { return assigned_ == kClusterSlots; }
  bool empty() const noexcept { return nodes_.empty(); }

  // Distinct slot owners, ascending.
  std::vector<ClusterNodeIndex> masters() const;
  // The nodes a parse listed as replicas of master (CLUSTER SLOTS lists them
  // after it, CLUSTER SHARDS in its shard), ascending.
  std::vector<ClusterNodeIndex> replicas_of(ClusterNodeIndex master) const;

  // The node at host:port (exact, case-sensitive), or kNoClusterNode.
  ClusterNodeIndex find_node(std::string_view host, std::uint16_t port) const noexcept;
  // find_node(), else appends a node (no id, not master, known endpoint);
  // kNoClusterNode when port is 0, host is empty or the map is full.
  // Throws std::bad_alloc only.
  ClusterNodeIndex add_node(std::string_view host, std::uint16_t port);
  // Makes node the owner of slot (what a MOVED says) and marks it a master.
  // False (nothing changed) for a bad slot or node.
  bool set_slot_owner(std::uint16_t slot, ClusterNodeIndex node) noexcept;

 private:
  friend class ClusterMapBuilder;
  std::vector<ClusterNode> nodes_;
  std::vector<ClusterNodeIndex> owner_;    // kClusterSlots entries
  std::vector<ClusterNodeIndex> replica_;  // replica_[i] = master of node i, or kNoClusterNode
  std::size_t assigned_ = 0;
};

// Parse the reply of CLUSTER SLOTS / CLUSTER SHARDS (RESP2 form, as hiredis
// 0.14 returns it) into out. source_host: the host the command was sent to.
// Slots not listed stay unassigned (a cluster that is not ok). On a reply
// that is not what Redis sends (wrong types, a slot outside 0..16383 or
// listed twice, start > end, a port outside 1..65535, more than
// kClusterMaxNodes nodes, an error reply), returns false with a one-line
// reason in error (naming the offending element) and leaves out as it was.
// Never throws except std::bad_alloc.
//
// CLUSTER SLOTS: [[start, end, [host, port, id, ...], [replica...]...]...]
// CLUSTER SHARDS: [["slots", [s, e, ...], "nodes", [["id", .., "port", ..,
//   "ip", .., "endpoint", .., "role", "master"|"replica", "health", ..]...]]...];
//   the endpoint is "endpoint" (else "ip"); the shard's master is its node
//   with role master that is not failed (else the first master).
bool parse_cluster_slots(const RespValue& reply, std::string_view source_host, ClusterMap& out,
                         std::string& error);
bool parse_cluster_shards(const RespValue& reply, std::string_view source_host, ClusterMap& out,
                          std::string& error);

// Slots whose owner differs between two maps (compared by host:port, not by
// index), ascending: the channels to resubscribe after a refresh.
std::vector<std::uint16_t> changed_slots(const ClusterMap& before, const ClusterMap& after);

// --- errors and redirects -------------------------------------------------------

enum class ClusterError : std::uint8_t {
  other,        // not a cluster condition: the command's own error
  moved,        // MOVED <slot> <endpoint>:<port>: the slot lives elsewhere for good
  ask,          // ASK <slot> <endpoint>:<port>: this once, after ASKING (slot migrating)
  tryagain,     // TRYAGAIN: keys of a migrating slot are split; retry shortly
  clusterdown,  // CLUSTERDOWN: the cluster is not serving (slot unbound, no quorum)
  crossslot,    // CROSSSLOT: the command's keys/channels span slots (our bug)
};

// By the error's first word (hiredis's reply->str; a leading '-' is allowed).
ClusterError classify_cluster_error(std::string_view error) noexcept;

struct Redirect {
  bool ask = false;  // false: MOVED
  std::uint16_t slot = 0;
  // "" when Redis sent an empty endpoint (":6380"): the host of the node that
  // answered. "?" stays "?" (not connectable). IPv6 without brackets
  // ("MOVED 1 ::1:7000"; "[::1]:7000" is accepted too).
  std::string host;
  std::uint16_t port = 0;
};

// A well-formed MOVED/ASK error (exactly "MOVED|ASK <slot> <endpoint>:<port>",
// single spaces, slot 0..16383, port 1..65535, endpoint without spaces or
// control bytes), else nullopt. Throws std::bad_alloc only.
std::optional<Redirect> parse_redirect(std::string_view error);

// What to do with one error reply of a command.
struct RedirectStep {
  enum class Action : std::uint8_t {
    deliver,      // the command is over: its caller gets this error
    retry,        // send it again to `node` now
    retry_later,  // send it again to `node` after a short pause (TRYAGAIN; ~50 ms)
  };
  Action action = Action::deliver;
  ClusterNodeIndex node = kNoClusterNode;
  bool asking = false;       // retry: precede it with ASKING on that node's connection (same pipeline)
  bool refresh_map = false;  // the map is stale: SlotMapRefresh::request()
  const char* reason = "";   // static text for a log line
};

// The redirect state of one command: at most kMaxRedirects retries, then the
// error is delivered. Two bytes; keep one per in-flight command.
class RedirectBudget {
 public:
  static constexpr unsigned kMaxRedirects = 5;

  // error: the error reply's text; from: the node that sent it (its host
  // stands in for an empty endpoint). A MOVED also updates map
  // (set_slot_owner, adding the target node when new) so that the next
  // commands for the slot go straight there. Throws std::bad_alloc only.
  RedirectStep on_error(std::string_view error, ClusterNodeIndex from, ClusterMap& map);

  unsigned used() const noexcept { return used_; }

 private:
  unsigned used_ = 0;
};

// When to (re)load the slot map: at most one load in flight, none sooner
// than min_interval after the previous one started, and after a failed
// load a backoff that doubles up to max_backoff. All times in ms, from the
// caller's monotonic clock.
class SlotMapRefresh {
 public:
  explicit SlotMapRefresh(std::uint64_t min_interval_ms = 100, std::uint64_t max_backoff_ms = 2000) noexcept
      : min_interval_(min_interval_ms), max_backoff_(max_backoff_ms) {}

  void request() noexcept {
    if (in_flight_) requested_during_flight_ = true;
    requested_ = true;
  }
  bool requested() const noexcept { return requested_; }
  bool in_flight() const noexcept { return in_flight_; }
  // requested, nothing in flight, and the pause since the last start is over.
  bool due(std::uint64_t now_ms) const noexcept;
  // When due() can next become true (now_ms when it is), for a timer;
  // UINT64_MAX while nothing is requested or a load is in flight.
  std::uint64_t next_due(std::uint64_t now_ms) const noexcept;
  void started(std::uint64_t now_ms) noexcept;
  // ok: the request is served (unless request() came while in flight);
  // failed: stays requested, the pause doubles (from min_interval).
  void finished(bool ok) noexcept;

 private:
  std::uint64_t min_interval_;
  std::uint64_t max_backoff_;
  std::uint64_t pause_ = 0;
  std::uint64_t last_start_ = 0;
  bool started_once_ = false;
  bool requested_ = false;
  bool in_flight_ = false;
  bool requested_during_flight_ = false;
};

// --- shard channels -----------------------------------------------------------------

// Channels of one slot owned by one node: one SSUBSCRIBE (or SUNSUBSCRIBE).
struct SlotBatch {
  ClusterNodeIndex node = kNoClusterNode;  // kNoClusterNode: the slot has no owner now
  std::uint16_t slot = 0;
  std::vector<std::size_t> items;  // indices into the channels passed, ascending
};

// Groups channels by slot, batches sorted by (node, slot); unowned slots sort
// last (node kNoClusterNode). Throws std::bad_alloc only.
std::vector<SlotBatch> group_by_slot(const ClusterMap& map, const std::string_view* channels, std::size_t n);
inline std::vector<SlotBatch> group_by_slot(const ClusterMap& map,
                                            const std::vector<std::string_view>& channels) {
  return group_by_slot(map, channels.data(), channels.size());
}

// The distinct nodes owning the channels, ascending (kNoClusterNode last if
// a channel's slot has no owner): the shards a set of channels spans.
std::vector<ClusterNodeIndex> shards_spanned(const ClusterMap& map, const std::string_view* channels,
                                             std::size_t n);
inline std::vector<ClusterNodeIndex> shards_spanned(const ClusterMap& map,
                                                    const std::vector<std::string_view>& channels) {
  return shards_spanned(map, channels.data(), channels.size());
}

}  // namespace ps
