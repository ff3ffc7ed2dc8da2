#include "cluster_map.h"

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ps {
namespace {

using namespace std::string_view_literals;

// Replies of a real 3-master cluster (redis-server 7.0.15, started by
// tests/integration/lib/cluster.mjs), byte for byte. Masters 23265 (0-5460),
// 30627 (5461-10922, replica 26776) and 28434 (10923-16383, replica 21268);
// 23265's replica is 24304. Then 30627 was killed (26776 took over), then 100
// slots moved from 23265 to 28434.
// clang-format off
constexpr char kSlots[] =
    "*3\r\n" "*3\r\n" ":0\r\n" ":5460\r\n" "*4\r\n" "$9\r\n" "127.0.0.1\r\n" ":23265\r\n" "$40\r\n"
    "11ec56635cbe9354eea94623ab20f9addc18b65c\r\n" "*0\r\n" "*3\r\n" ":5461\r\n" ":10922\r\n" "*4\r\n"
    "$9\r\n" "127.0.0.1\r\n" ":30627\r\n" "$40\r\n" "9ffd983aa6398198d7e7db9820337c1a94a69a8c\r\n"
    "*0\r\n" "*3\r\n" ":10923\r\n" ":16383\r\n" "*4\r\n" "$9\r\n" "127.0.0.1\r\n" ":28434\r\n" "$40\r\n"
    "19155e0b27ec20f1f129c9bbf207af5fbcadb3a6\r\n" "*0\r\n";

constexpr char kShards[] =
    "*3\r\n" "*4\r\n" "$5\r\n" "slots\r\n" "*2\r\n" ":10923\r\n" ":16383\r\n" "$5\r\n" "nodes\r\n"
    "*2\r\n" "*14\r\n" "$2\r\n" "id\r\n" "$40\r\n" "19155e0b27ec20f1f129c9bbf207af5fbcadb3a6\r\n"
    "$4\r\n" "port\r\n" ":28434\r\n" "$2\r\n" "ip\r\n" "$9\r\n" "127.0.0.1\r\n" "$8\r\n" "endpoint\r\n"
    "$9\r\n" "127.0.0.1\r\n" "$4\r\n" "role\r\n" "$6\r\n" "master\r\n" "$18\r\n"
    "replication-offset\r\n" ":0\r\n" "$6\r\n" "health\r\n" "$6\r\n" "online\r\n" "*14\r\n" "$2\r\n"
    "id\r\n" "$40\r\n" "6b0629b68ad61cdc85953f98d1e7283163e25a77\r\n" "$4\r\n" "port\r\n" ":21268\r\n"
    "$2\r\n" "ip\r\n" "$9\r\n" "127.0.0.1\r\n" "$8\r\n" "endpoint\r\n" "$9\r\n" "127.0.0.1\r\n" "$4\r\n"
    "role\r\n" "$7\r\n" "replica\r\n" "$18\r\n" "replication-offset\r\n" ":0\r\n" "$6\r\n" "health\r\n"
    "$7\r\n" "loading\r\n" "*4\r\n" "$5\r\n" "slots\r\n" "*2\r\n" ":0\r\n" ":5460\r\n" "$5\r\n"
    "nodes\r\n" "*2\r\n" "*14\r\n" "$2\r\n" "id\r\n" "$40\r\n"
    "11ec56635cbe9354eea94623ab20f9addc18b65c\r\n" "$4\r\n" "port\r\n" ":23265\r\n" "$2\r\n" "ip\r\n"
    "$9\r\n" "127.0.0.1\r\n" "$8\r\n" "endpoint\r\n" "$9\r\n" "127.0.0.1\r\n" "$4\r\n" "role\r\n"
    "$6\r\n" "master\r\n" "$18\r\n" "replication-offset\r\n" ":0\r\n" "$6\r\n" "health\r\n" "$6\r\n"
    "online\r\n" "*14\r\n" "$2\r\n" "id\r\n" "$40\r\n" "e026b8e191a4c6f87f874aebd15a2ad3978494f0\r\n"
    "$4\r\n" "port\r\n" ":24304\r\n" "$2\r\n" "ip\r\n" "$9\r\n" "127.0.0.1\r\n" "$8\r\n" "endpoint\r\n"
    "$9\r\n" "127.0.0.1\r\n" "$4\r\n" "role\r\n" "$7\r\n" "replica\r\n" "$18\r\n"
    "replication-offset\r\n" ":0\r\n" "$6\r\n" "health\r\n" "$7\r\n" "loading\r\n" "*4\r\n" "$5\r\n"
    "slots\r\n" "*2\r\n" ":5461\r\n" ":10922\r\n" "$5\r\n" "nodes\r\n" "*2\r\n" "*14\r\n" "$2\r\n"
    "id\r\n" "$40\r\n" "9ffd983aa6398198d7e7db9820337c1a94a69a8c\r\n" "$4\r\n" "port\r\n" ":30627\r\n"
    "$2\r\n" "ip\r\n" "$9\r\n" "127.0.0.1\r\n" "$8\r\n" "endpoint\r\n" "$9\r\n" "127.0.0.1\r\n" "$4\r\n"
    "role\r\n" "$6\r\n" "master\r\n" "$18\r\n" "replication-offset\r\n" ":0\r\n" "$6\r\n" "health\r\n"
    "$6\r\n" "online\r\n" "*14\r\n" "$2\r\n" "id\r\n" "$40\r\n"
    "3d1ae08f3ded60f74e089ce80963b03c6b44f315\r\n" "$4\r\n" "port\r\n" ":26776\r\n" "$2\r\n" "ip\r\n"
    "$9\r\n" "127.0.0.1\r\n" "$8\r\n" "endpoint\r\n" "$9\r\n" "127.0.0.1\r\n" "$4\r\n" "role\r\n"
    "$7\r\n" "replica\r\n" "$18\r\n" "replication-offset\r\n" ":0\r\n" "$6\r\n" "health\r\n" "$7\r\n"
    "loading\r\n";

constexpr char kShardsAfterFailover[] =
    "*4\r\n" "*4\r\n" "$5\r\n" "slots\r\n" "*2\r\n" ":5461\r\n" ":10922\r\n" "$5\r\n" "nodes\r\n"
    "*1\r\n" "*14\r\n" "$2\r\n" "id\r\n" "$40\r\n" "3d1ae08f3ded60f74e089ce80963b03c6b44f315\r\n"
    "$4\r\n" "port\r\n" ":26776\r\n" "$2\r\n" "ip\r\n" "$9\r\n" "127.0.0.1\r\n" "$8\r\n" "endpoint\r\n"
    "$9\r\n" "127.0.0.1\r\n" "$4\r\n" "role\r\n" "$6\r\n" "master\r\n" "$18\r\n"
    "replication-offset\r\n" ":0\r\n" "$6\r\n" "health\r\n" "$6\r\n" "online\r\n" "*4\r\n" "$5\r\n"
    "slots\r\n" "*2\r\n" ":10923\r\n" ":16383\r\n" "$5\r\n" "nodes\r\n" "*2\r\n" "*14\r\n" "$2\r\n"
    "id\r\n" "$40\r\n" "19155e0b27ec20f1f129c9bbf207af5fbcadb3a6\r\n" "$4\r\n" "port\r\n" ":28434\r\n"
    "$2\r\n" "ip\r\n" "$9\r\n" "127.0.0.1\r\n" "$8\r\n" "endpoint\r\n" "$9\r\n" "127.0.0.1\r\n" "$4\r\n"
    "role\r\n" "$6\r\n" "master\r\n" "$18\r\n" "replication-offset\r\n" ":0\r\n" "$6\r\n" "health\r\n"
    "$6\r\n" "online\r\n" "*14\r\n" "$2\r\n" "id\r\n" "$40\r\n"
    "6b0629b68ad61cdc85953f98d1e7283163e25a77\r\n" "$4\r\n" "port\r\n" ":21268\r\n" "$2\r\n" "ip\r\n"
    "$9\r\n" "127.0.0.1\r\n" "$8\r\n" "endpoint\r\n" "$9\r\n" "127.0.0.1\r\n" "$4\r\n" "role\r\n"
    "$7\r\n" "replica\r\n" "$18\r\n" "replication-offset\r\n" ":0\r\n" "$6\r\n" "health\r\n" "$7\r\n"
    "loading\r\n" "*4\r\n" "$5\r\n" "slots\r\n" "*2\r\n" ":0\r\n" ":5460\r\n" "$5\r\n" "nodes\r\n"
    "*2\r\n" "*14\r\n" "$2\r\n" "id\r\n" "$40\r\n" "11ec56635cbe9354eea94623ab20f9addc18b65c\r\n"
    "$4\r\n" "port\r\n" ":23265\r\n" "$2\r\n" "ip\r\n" "$9\r\n" "127.0.0.1\r\n" "$8\r\n" "endpoint\r\n"
    "$9\r\n" "127.0.0.1\r\n" "$4\r\n" "role\r\n" "$6\r\n" "master\r\n" "$18\r\n"
    "replication-offset\r\n" ":0\r\n" "$6\r\n" "health\r\n" "$6\r\n" "online\r\n" "*14\r\n" "$2\r\n"
    "id\r\n" "$40\r\n" "e026b8e191a4c6f87f874aebd15a2ad3978494f0\r\n" "$4\r\n" "port\r\n" ":24304\r\n"
    "$2\r\n" "ip\r\n" "$9\r\n" "127.0.0.1\r\n" "$8\r\n" "endpoint\r\n" "$9\r\n" "127.0.0.1\r\n" "$4\r\n"
    "role\r\n" "$7\r\n" "replica\r\n" "$18\r\n" "replication-offset\r\n" ":0\r\n" "$6\r\n" "health\r\n"
    "$7\r\n" "loading\r\n" "*4\r\n" "$5\r\n" "slots\r\n" "*0\r\n" "$5\r\n" "nodes\r\n" "*1\r\n"
    "*14\r\n" "$2\r\n" "id\r\n" "$40\r\n" "9ffd983aa6398198d7e7db9820337c1a94a69a8c\r\n" "$4\r\n"
    "port\r\n" ":30627\r\n" "$2\r\n" "ip\r\n" "$9\r\n" "127.0.0.1\r\n" "$8\r\n" "endpoint\r\n" "$9\r\n"
    "127.0.0.1\r\n" "$4\r\n" "role\r\n" "$6\r\n" "master\r\n" "$18\r\n" "replication-offset\r\n"
    ":0\r\n" "$6\r\n" "health\r\n" "$4\r\n" "fail\r\n";

constexpr char kSlotsAfterFailover[] =
    "*3\r\n" "*3\r\n" ":0\r\n" ":5460\r\n" "*4\r\n" "$9\r\n" "127.0.0.1\r\n" ":23265\r\n" "$40\r\n"
    "11ec56635cbe9354eea94623ab20f9addc18b65c\r\n" "*0\r\n" "*3\r\n" ":5461\r\n" ":10922\r\n" "*4\r\n"
    "$9\r\n" "127.0.0.1\r\n" ":26776\r\n" "$40\r\n" "3d1ae08f3ded60f74e089ce80963b03c6b44f315\r\n"
    "*0\r\n" "*3\r\n" ":10923\r\n" ":16383\r\n" "*4\r\n" "$9\r\n" "127.0.0.1\r\n" ":28434\r\n" "$40\r\n"
    "19155e0b27ec20f1f129c9bbf207af5fbcadb3a6\r\n" "*0\r\n";

constexpr char kSlotsAfterReshard[] =
    "*4\r\n" "*3\r\n" ":0\r\n" ":99\r\n" "*4\r\n" "$9\r\n" "127.0.0.1\r\n" ":28434\r\n" "$40\r\n"
    "19155e0b27ec20f1f129c9bbf207af5fbcadb3a6\r\n" "*0\r\n" "*3\r\n" ":100\r\n" ":5460\r\n" "*4\r\n"
    "$9\r\n" "127.0.0.1\r\n" ":23265\r\n" "$40\r\n" "11ec56635cbe9354eea94623ab20f9addc18b65c\r\n"
    "*0\r\n" "*3\r\n" ":5461\r\n" ":10922\r\n" "*4\r\n" "$9\r\n" "127.0.0.1\r\n" ":26776\r\n" "$40\r\n"
    "3d1ae08f3ded60f74e089ce80963b03c6b44f315\r\n" "*0\r\n" "*3\r\n" ":10923\r\n" ":16383\r\n" "*4\r\n"
    "$9\r\n" "127.0.0.1\r\n" ":28434\r\n" "$40\r\n" "19155e0b27ec20f1f129c9bbf207af5fbcadb3a6\r\n"
    "*0\r\n";

// An earlier cluster, once its replicas had synced (CLUSTER SLOTS lists them then).
constexpr char kSlotsWithReplicas[] =
    "*3\r\n" "*4\r\n" ":0\r\n" ":5460\r\n" "*4\r\n" "$9\r\n" "127.0.0.1\r\n" ":27788\r\n" "$40\r\n"
    "a0a4db00159e202f7a773b3101029a640d0502e1\r\n" "*0\r\n" "*4\r\n" "$9\r\n" "127.0.0.1\r\n"
    ":28562\r\n" "$40\r\n" "c77a407ae9e2981c14fa01b2f277b1fa79bcc2ae\r\n" "*0\r\n" "*4\r\n" ":5461\r\n"
    ":10922\r\n" "*4\r\n" "$9\r\n" "127.0.0.1\r\n" ":26750\r\n" "$40\r\n"
    "d3549e0522aefc661e15b50173251bbc752180ba\r\n" "*0\r\n" "*4\r\n" "$9\r\n" "127.0.0.1\r\n"
    ":20506\r\n" "$40\r\n" "5a3a1a6470680c0a9fc3d824ebc218ec47b2ce55\r\n" "*0\r\n" "*4\r\n" ":10923\r\n"
    ":16383\r\n" "*4\r\n" "$9\r\n" "127.0.0.1\r\n" ":24420\r\n" "$40\r\n"
    "589ace6307ebb7835a800636c8d0be0010802161\r\n" "*0\r\n" "*4\r\n" "$9\r\n" "127.0.0.1\r\n"
    ":23947\r\n" "$40\r\n" "68dd56e1aa17bd56d215962dad9b6491f322e6e1\r\n" "*0\r\n";
// clang-format on

RespValue wire(std::string_view w) {
  RespValue v;
  std::size_t used = 0;
  EXPECT_EQ(resp_decode(w, v, used), RespDecodeResult::ok);
  EXPECT_EQ(used, w.size());
  return v;
}

std::uint16_t owner_port(const ClusterMap& m, std::uint16_t slot) {
  const ClusterNode* n = m.node(m.slot_owner(slot));
  return n ? n->port : 0;
}

RespValue S(std::string_view s) { return RespValue::string_value(s); }
RespValue I(long long n) { return RespValue::integer_value(n); }
RespValue A(std::vector<RespValue> v) { return RespValue::array_value(std::move(v)); }
RespValue N() { return RespValue::nil_value(); }

TEST(ClusterMap, EmptyMapOwnsNothing) {
  ClusterMap m;
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.assigned_slots(), 0u);
  EXPECT_FALSE(m.complete());
  EXPECT_EQ(m.slot_owner(0), kNoClusterNode);
  EXPECT_EQ(m.slot_owner(16383), kNoClusterNode);
  EXPECT_EQ(m.slot_owner(16384), kNoClusterNode);
  EXPECT_EQ(m.slot_owner(65535), kNoClusterNode);
  EXPECT_EQ(m.key_owner("foo"), kNoClusterNode);
  EXPECT_EQ(m.node(0), nullptr);
  EXPECT_TRUE(m.masters().empty());
}

TEST(ClusterMap, ParsesRealClusterSlots) {
  ClusterMap m;
  std::string err;
  ASSERT_TRUE(parse_cluster_slots(wire(kSlots), "10.0.0.9", m, err)) << err;
  EXPECT_TRUE(m.complete());
  EXPECT_EQ(m.nodes().size(), 3u);
  EXPECT_EQ(owner_port(m, 0), 23265);
  EXPECT_EQ(owner_port(m, 5460), 23265);
  EXPECT_EQ(owner_port(m, 5461), 30627);
  EXPECT_EQ(owner_port(m, 10922), 30627);
  EXPECT_EQ(owner_port(m, 10923), 28434);
  EXPECT_EQ(owner_port(m, 16383), 28434);
  const ClusterNode* n = m.node(m.key_owner("foo"));  // slot 12182
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->host, "127.0.0.1");
  EXPECT_EQ(n->port, 28434);
  EXPECT_EQ(n->id, "19155e0b27ec20f1f129c9bbf207af5fbcadb3a6");
  EXPECT_TRUE(n->master);
  EXPECT_TRUE(n->known_endpoint);
  EXPECT_EQ(m.masters().size(), 3u);
  EXPECT_EQ(m.find_node("127.0.0.1", 30627), m.slot_owner(6000));
  EXPECT_EQ(m.find_node("127.0.0.1", 1), kNoClusterNode);
}

TEST(ClusterMap, ParsesReplicasInClusterSlots) {
  ClusterMap m;
  std::string err;
  ASSERT_TRUE(parse_cluster_slots(wire(kSlotsWithReplicas), "x", m, err)) << err;
  EXPECT_TRUE(m.complete());
  EXPECT_EQ(m.nodes().size(), 6u);
  EXPECT_EQ(m.masters().size(), 3u);
  const ClusterNodeIndex m0 = m.slot_owner(0);
  const auto reps = m.replicas_of(m0);
  ASSERT_EQ(reps.size(), 1u);
  EXPECT_EQ(m.node(reps[0])->port, 28562);
  EXPECT_FALSE(m.node(reps[0])->master);
  EXPECT_EQ(m.node(m.replicas_of(m.slot_owner(6000))[0])->port, 20506);
  EXPECT_EQ(m.node(m.replicas_of(m.slot_owner(16000))[0])->port, 23947);
  EXPECT_TRUE(m.replicas_of(reps[0]).empty());
  EXPECT_TRUE(m.replicas_of(kNoClusterNode).empty());
}

TEST(ClusterMap, ParsesRealClusterShards) {
  ClusterMap m;
  std::string err;
  ASSERT_TRUE(parse_cluster_shards(wire(kShards), "x", m, err)) << err;
  EXPECT_TRUE(m.complete());
  EXPECT_EQ(m.nodes().size(), 6u);
  EXPECT_EQ(owner_port(m, 0), 23265);
  EXPECT_EQ(owner_port(m, 6000), 30627);
  EXPECT_EQ(owner_port(m, 16383), 28434);
  EXPECT_EQ(m.node(m.replicas_of(m.slot_owner(0))[0])->port, 24304);
  EXPECT_EQ(m.node(m.replicas_of(m.slot_owner(6000))[0])->port, 26776);
  EXPECT_EQ(m.node(m.replicas_of(m.slot_owner(16383))[0])->port, 21268);
  // SLOTS and SHARDS of the same moment agree
  ClusterMap s;
  ASSERT_TRUE(parse_cluster_slots(wire(kSlots), "x", s, err)) << err;
  EXPECT_TRUE(changed_slots(s, m).empty());
}

TEST(ClusterMap, AfterFailover) {
  ClusterMap before, shards, slots;
  std::string err;
  ASSERT_TRUE(parse_cluster_slots(wire(kSlots), "x", before, err)) << err;
  ASSERT_TRUE(parse_cluster_shards(wire(kShardsAfterFailover), "x", shards, err)) << err;
  ASSERT_TRUE(parse_cluster_slots(wire(kSlotsAfterFailover), "x", slots, err)) << err;
  for (const ClusterMap* m : {&shards, &slots}) {
    EXPECT_TRUE(m->complete());
    EXPECT_EQ(owner_port(*m, 5461), 26776);
    EXPECT_EQ(owner_port(*m, 10922), 26776);
    EXPECT_EQ(owner_port(*m, 0), 23265);
  }
  // the dead master is listed by SHARDS (health "fail", no slots)
  const ClusterNodeIndex dead = shards.find_node("127.0.0.1", 30627);
  ASSERT_NE(dead, kNoClusterNode);
  EXPECT_TRUE(shards.node(dead)->failed);
  const auto masters = shards.masters();
  EXPECT_EQ(masters.size(), 3u);
  EXPECT_EQ(std::count(masters.begin(), masters.end(), dead), 0);
  // exactly the failed-over range changed
  const auto changed = changed_slots(before, shards);
  ASSERT_EQ(changed.size(), 10922u - 5461u + 1u);
  EXPECT_EQ(changed.front(), 5461);
  EXPECT_EQ(changed.back(), 10922);
  EXPECT_TRUE(changed_slots(shards, slots).empty());
}

TEST(ClusterMap, AfterReshard) {
  ClusterMap before, after;
  std::string err;
  ASSERT_TRUE(parse_cluster_slots(wire(kSlotsAfterFailover), "x", before, err)) << err;
  ASSERT_TRUE(parse_cluster_slots(wire(kSlotsAfterReshard), "x", after, err)) << err;
  EXPECT_TRUE(after.complete());
  EXPECT_EQ(after.nodes().size(), 3u);  // 28434 listed twice, one node
  EXPECT_EQ(owner_port(after, 0), 28434);
  EXPECT_EQ(owner_port(after, 99), 28434);
  EXPECT_EQ(owner_port(after, 100), 23265);
  EXPECT_EQ(after.slot_owner(0), after.slot_owner(16383));
  const auto changed = changed_slots(before, after);
  ASSERT_EQ(changed.size(), 100u);
  EXPECT_EQ(changed.front(), 0);
  EXPECT_EQ(changed.back(), 99);
}

TEST(ClusterMap, EmptyOrNullEndpointMeansTheAskedHost) {
  // a node that has met nobody reports ip "" (single-node cluster, real reply)
  constexpr char kLonely[] =
      "*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n$0\r\n\r\n:23991\r\n$"
      "40\r\n390c022ded122dd371ec52a2741c1ab9b83cf0d9\r\n*0\r\n";
  ClusterMap m;
  std::string err;
  ASSERT_TRUE(parse_cluster_slots(wire(kLonely), "redis.internal", m, err)) << err;
  EXPECT_EQ(m.node(m.slot_owner(7))->host, "redis.internal");
  EXPECT_EQ(m.node(m.slot_owner(7))->port, 23991);
  constexpr char kLonelyShards[] =
      "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n*14\r\n$2\r\nid\r\n$40\r\n"
      "390c022ded122dd371ec52a2741c1ab9b83cf0d9\r\n$4\r\nport\r\n:23991\r\n$2\r\nip\r\n$0\r\n\r\n$"
      "8\r\nendpoint\r\n"
      "$0\r\n\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$"
      "6\r\nonline\r\n";
  ClusterMap s;
  ASSERT_TRUE(parse_cluster_shards(wire(kLonelyShards), "::1", s, err)) << err;
  EXPECT_EQ(s.node(s.slot_owner(16383))->host, "::1");
  EXPECT_TRUE(s.complete());
  // null endpoint (cluster-preferred-endpoint-type unknown-endpoint)
  ClusterMap u;
  ASSERT_TRUE(parse_cluster_slots(A({A({I(0), I(10), A({N(), I(7000), S("id1")})})}), "seed", u, err)) << err;
  EXPECT_EQ(u.node(u.slot_owner(10))->host, "seed");
  EXPECT_EQ(u.assigned_slots(), 11u);
  EXPECT_FALSE(u.complete());
  EXPECT_EQ(u.slot_owner(11), kNoClusterNode);
}

TEST(ClusterMap, QuestionMarkEndpointIsUnknown) {
  ClusterMap m;
  std::string err;
  ASSERT_TRUE(parse_cluster_slots(
      A({A({I(0), I(1), A({S("?"), I(7000), S("a")})}), A({I(2), I(3), A({S("?"), I(7000), S("b")})})}),
      "seed", m, err))
      << err;
  ASSERT_EQ(m.nodes().size(), 2u);  // told apart by id
  EXPECT_FALSE(m.node(m.slot_owner(0))->known_endpoint);
  EXPECT_EQ(m.node(m.slot_owner(0))->host, "");
  EXPECT_NE(m.slot_owner(0), m.slot_owner(2));
}

TEST(ClusterMap, HostnamesAndIpv6) {
  ClusterMap m;
  std::string err;
  ASSERT_TRUE(parse_cluster_slots(
      A({A({I(0), I(8191), A({S("redis-0.redis.svc"), I(6379), S("a"), A({S("hostname"), S("x")})})}),
         A({I(8192), I(16383), A({S("2001:db8::7"), I(6380), S("b")}), A({S("fe80::1"), I(6381)})})}),
      "seed", m, err))
      << err;
  EXPECT_TRUE(m.complete());
  EXPECT_EQ(m.node(m.slot_owner(0))->host, "redis-0.redis.svc");
  EXPECT_EQ(m.node(m.slot_owner(9000))->host, "2001:db8::7");
  EXPECT_EQ(format_host_port("2001:db8::7", 6380), "[2001:db8::7]:6380");
  EXPECT_EQ(format_host_port("redis-0", 1), "redis-0:1");
  EXPECT_EQ(m.node(m.replicas_of(m.slot_owner(9000))[0])->id, "");  // no id given
}

TEST(ClusterMap, NumbersAsBulkStrings) {
  ClusterMap m;
  std::string err;
  ASSERT_TRUE(parse_cluster_slots(A({A({S("0"), S("16383"), A({S("h"), S("7000")})})}), "s", m, err)) << err;
  EXPECT_TRUE(m.complete());
  EXPECT_FALSE(parse_cluster_slots(A({A({S("0x1"), S("2"), A({S("h"), S("7000")})})}), "s", m, err));
}

TEST(ClusterMap, MalformedSlotsRepliesAreClearErrors) {
  struct Case {
    RespValue reply;
    const char* want;  // a substring of the error
  };
  const RespValue node = A({S("h"), I(7000), S("id")});
  const Case cases[] = {
      {RespValue::error_value("ERR This instance has cluster support disabled"), "cluster support disabled"},
      {S("nope"), "not an array"},
      {N(), "not an array"},
      {I(3), "not an array"},
      {A({I(1)}), "entry 0 is 1, not [start, end, master"},
      {A({A({I(0), I(1)})}), "entry 0"},
      {A({A({S("a"), I(1), node})}), "not two integers"},
      {A({A({I(0), I(16384), node})}), "outside 0..16383"},
      {A({A({I(-1), I(5), node})}), "outside 0..16383"},
      {A({A({I(5), I(4), node})}), "starts after it ends"},
      {A({A({I(0), I(10), node}), A({I(10), I(20), node})}), "slot 10 is listed twice"},
      {A({A({I(0), I(1), I(5)})}), "node 0 is 5, not [host, port"},
      {A({A({I(0), I(1), A({S("h")})})}), "not [host, port"},
      {A({A({I(0), I(1), A({S("h"), S("x")})})}), "not [host, port"},
      {A({A({I(0), I(1), A({S("h"), I(0)})})}), "port 0 is not 1..65535"},
      {A({A({I(0), I(1), A({S("h"), I(65536)})})}), "port 65536"},
      {A({A({I(0), I(1), A({I(1), I(7000)})})}), "endpoint is 1, not a string"},
      {A({A({I(0), I(1), A({S("a b"), I(7000)})})}), "space or control byte"},
      {A({A({I(0), I(1), A({S("a\nb"), I(7000)})})}), "space or control byte"},
      {A({A({I(0), I(1), A({S("h"), I(7000), I(9)})})}), "node id is 9"},
      {A({A({I(0), I(1), node, I(3)})}), "node 1 is 3"},
  };
  for (const Case& c : cases) {
    ClusterMap m;
    std::string ignored;
    ASSERT_TRUE(parse_cluster_slots(wire(kSlots), "x", m, ignored));
    std::string err;
    EXPECT_FALSE(parse_cluster_slots(c.reply, "x", m, err)) << c.want;
    EXPECT_NE(err.find(c.want), std::string::npos) << "error: " << err << "\nwant: " << c.want;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
    // the map it was given is untouched
    EXPECT_EQ(owner_port(m, 12182), 28434) << c.want;
    EXPECT_TRUE(m.complete());
  }
}

TEST(ClusterMap, MalformedShardsRepliesAreClearErrors) {
  auto node = [](RespValue role, RespValue port) {
    return A({S("id"), S("n1"), S("port"), std::move(port), S("ip"), S("h"), S("endpoint"), S("h"), S("role"),
              std::move(role), S("health"), S("online")});
  };
  struct Case {
    RespValue reply;
    const char* want;
  };
  const Case cases[] = {
      {RespValue::error_value("ERR unknown subcommand 'SHARDS'"), "unknown subcommand"},
      {A({S("x")}), "shard 0 is \"x\", not a map"},
      {A({A({S("slots")})}), "not a map"},
      {A({A({I(1), I(2)})}), "not a map"},
      {A({A({S("nodes"), A({})})}), "\"slots\" is missing"},
      {A({A({S("slots"), A({I(0)}), S("nodes"), A({})})}), "\"slots\" is missing or not an even"},
      {A({A({S("slots"), A({I(0), I(1)})})}), "\"nodes\" is missing"},
      {A({A({S("slots"), A({I(0), I(1)}), S("nodes"), A({})})}), "has slots but no master"},
      {A({A({S("slots"), A({I(0), I(1)}), S("nodes"), A({node(S("replica"), I(1))})})}), "no master"},
      {A({A({S("slots"), A({I(0), I(1)}), S("nodes"), A({S("x")})})}), "node 0 is \"x\", not a map"},
      {A({A({S("slots"), A({I(0), I(1)}), S("nodes"), A({node(S("boss"), I(1))})})}), "\"role\""},
      {A({A({S("slots"), A({I(0), I(1)}), S("nodes"), A({node(S("master"), S("p"))})})}), "\"port\""},
      {A({A({S("slots"), A({I(0), I(1)}), S("nodes"), A({node(S("master"), I(70000))})})}), "port 70000"},
      {A({A({S("slots"), A({I(0), S("z")}), S("nodes"), A({node(S("master"), I(1))})})}), "not integers"},
      {A({A({S("slots"), A({I(9), I(3)}), S("nodes"), A({node(S("master"), I(1))})})}), "starts after"},
      {A({A({S("slots"), A({I(0), I(3)}), S("nodes"), A({node(S("master"), I(1))})}),
          A({S("slots"), A({I(3), I(4)}), S("nodes"), A({node(S("master"), I(2))})})}),
       "slot 3 is listed twice"},
  };
  for (const Case& c : cases) {
    ClusterMap m;
    std::string err;
    EXPECT_FALSE(parse_cluster_shards(c.reply, "x", m, err)) << c.want;
    EXPECT_NE(err.find(c.want), std::string::npos) << "error: " << err << "\nwant: " << c.want;
    EXPECT_TRUE(m.empty());
  }
  // a shard without slots and without a master (all failed replicas) is fine
  ClusterMap m;
  std::string err;
  EXPECT_TRUE(parse_cluster_shards(A({A({S("slots"), A({}), S("nodes"), A({node(S("replica"), I(5))})})}),
                                   "x", m, err))
      << err;
  EXPECT_EQ(m.assigned_slots(), 0u);
}

TEST(ClusterMap, ShardsPrefersAHealthyMaster) {
  auto node = [](const char* port_id, long long port, const char* role, const char* health) {
    return A({S("id"), S(port_id), S("port"), I(port), S("ip"), S("10.0.0.1"), S("endpoint"), S(""),
              S("role"), S(role), S("health"), S(health)});
  };
  const RespValue r = A({A({S("slots"), A({I(0), I(16383)}), S("nodes"),
                            A({node("a", 1, "master", "fail"), node("b", 2, "master", "online"),
                               node("c", 3, "replica", "online")})})});
  ClusterMap m;
  std::string err;
  ASSERT_TRUE(parse_cluster_shards(r, "x", m, err)) << err;
  EXPECT_EQ(owner_port(m, 0), 2);
  EXPECT_EQ(m.node(m.slot_owner(0))->host, "10.0.0.1");  // "endpoint" "" falls back to "ip"
  EXPECT_TRUE(m.node(m.find_node("10.0.0.1", 1))->failed);
}

TEST(ClusterMap, NodeLimit) {
  std::vector<RespValue> entries;
  for (int i = 0; i < 5000; ++i) {
    entries.push_back(A({I(i), I(i), A({S("h"), I(1 + i), S("id")})}));
  }
  ClusterMap m;
  std::string err;
  EXPECT_FALSE(parse_cluster_slots(A(std::move(entries)), "x", m, err));
  EXPECT_NE(err.find("more than 4096 nodes"), std::string::npos) << err;
  ClusterMap a;
  for (int i = 0; i < 4096; ++i)
    ASSERT_NE(a.add_node("h", static_cast<std::uint16_t>(1 + i)), kNoClusterNode);
  EXPECT_EQ(a.add_node("h", 5000), kNoClusterNode);
  EXPECT_EQ(a.add_node("h", 1), 0);  // an existing one is still found
}

TEST(ClusterMap, AddNodeAndSetSlotOwner) {
  ClusterMap m;
  EXPECT_EQ(m.add_node("", 1), kNoClusterNode);
  EXPECT_EQ(m.add_node("h", 0), kNoClusterNode);
  const ClusterNodeIndex a = m.add_node("h", 1);
  EXPECT_EQ(m.add_node("h", 1), a);
  EXPECT_FALSE(m.set_slot_owner(16384, a));
  EXPECT_FALSE(m.set_slot_owner(0, 7));
  EXPECT_TRUE(m.set_slot_owner(5, a));
  EXPECT_TRUE(m.set_slot_owner(5, a));
  EXPECT_EQ(m.assigned_slots(), 1u);
  EXPECT_TRUE(m.node(a)->master);
  EXPECT_EQ(m.slot_owner(5), a);
}

// --- redirects ------------------------------------------------------------------

TEST(ClusterRedirect, ParsesMovedAndAsk) {
  auto r = parse_redirect("MOVED 12182 127.0.0.1:28434");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ask);
  EXPECT_EQ(r->slot, 12182);
  EXPECT_EQ(r->host, "127.0.0.1");
  EXPECT_EQ(r->port, 28434);
  r = parse_redirect("-ASK 0 10.1.2.3:6379");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ask);
  EXPECT_EQ(r->slot, 0);
  r = parse_redirect("MOVED 16383 2001:db8::1:7000");  // IPv6 as Redis prints it
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, "2001:db8::1");
  EXPECT_EQ(r->port, 7000);
  r = parse_redirect("MOVED 1 [::1]:7000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, "::1");
  r = parse_redirect("MOVED 1 ::1:7000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, "::1");
  r = parse_redirect("MOVED 1 :7000");  // unknown endpoint: the asked host
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, "");
  r = parse_redirect("MOVED 1 redis-2.cache.local:65535");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, "redis-2.cache.local");
  EXPECT_EQ(r->port, 65535);
  r = parse_redirect("ASK 1 ?:7000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, "?");
}

TEST(ClusterRedirect, RejectsMalformed) {
  for (const std::string_view e : {
           ""sv,
           "MOVED"sv,
           "MOVED "sv,
           "MOVED 1"sv,
           "MOVED 1 "sv,
           "MOVED 1 h"sv,
           "MOVED 1 h:"sv,
           "MOVED 1 h:0"sv,
           "MOVED 1 h:65536"sv,
           "MOVED 1 h:-1"sv,
           "MOVED 1 h:1x"sv,
           "MOVED 16384 h:1"sv,
           "MOVED -1 h:1"sv,
           "MOVED 01x h:1"sv,
           "MOVED  1 h:1"sv,
           "MOVED 1  h:1"sv,
           "MOVED 1 h :1"sv,
           "MOVED 1 h:1 "sv,
           "MOVED 1 h\n:1"sv,
           "MOVED 1 []:1"sv,
           "MOVED 1 [::1:1"sv,
           "MOVED 1 ::1]:1"sv,
           "moved 1 h:1"sv,
           "MOVEDX 1 h:1"sv,
           "ERR MOVED 1 h:1"sv,
           "ASK"sv,
           "ASK 1 h"sv,
           "MOVED 123456 h:1"sv,
           "MOVED 1 h:123456"sv,
           "MOVED 1 h\0:1"sv,
       }) {
    EXPECT_FALSE(parse_redirect(e)) << '"' << e << '"';
  }
}

TEST(ClusterRedirect, Classify) {
  EXPECT_EQ(classify_cluster_error("MOVED 1 h:1"), ClusterError::moved);
  EXPECT_EQ(classify_cluster_error("-ASK 1 h:1"), ClusterError::ask);
  EXPECT_EQ(classify_cluster_error("TRYAGAIN Multiple keys request during rehashing of slot"),
            ClusterError::tryagain);
  EXPECT_EQ(classify_cluster_error("CLUSTERDOWN The cluster is down"), ClusterError::clusterdown);
  EXPECT_EQ(classify_cluster_error("CLUSTERDOWN Hash slot not served"), ClusterError::clusterdown);
  EXPECT_EQ(classify_cluster_error("CROSSSLOT Keys in request don't hash to the same slot"),
            ClusterError::crossslot);
  EXPECT_EQ(classify_cluster_error("ERR unknown command"), ClusterError::other);
  EXPECT_EQ(classify_cluster_error("MOVEDX"), ClusterError::other);
  EXPECT_EQ(classify_cluster_error(""), ClusterError::other);
}

class Budget : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    ASSERT_TRUE(parse_cluster_slots(wire(kSlots), "127.0.0.1", map, err)) << err;
    a = map.find_node("127.0.0.1", 23265);
    b = map.find_node("127.0.0.1", 30627);
    c = map.find_node("127.0.0.1", 28434);
  }
  ClusterMap map;
  ClusterNodeIndex a = 0, b = 0, c = 0;
};

TEST_F(Budget, MovedUpdatesTheMapAndAsksForARefresh) {
  RedirectBudget rb;
  const RedirectStep s = rb.on_error("MOVED 12182 127.0.0.1:30627", c, map);
  EXPECT_EQ(s.action, RedirectStep::Action::retry);
  EXPECT_EQ(s.node, b);
  EXPECT_FALSE(s.asking);
  EXPECT_TRUE(s.refresh_map);
  EXPECT_EQ(map.slot_owner(12182), b);  // the next command for the slot goes straight there
  EXPECT_EQ(map.slot_owner(12183), c);  // nothing else moved
  EXPECT_EQ(rb.used(), 1u);
}

TEST_F(Budget, MovedToANewNodeAddsIt) {
  RedirectBudget rb;
  const RedirectStep s = rb.on_error("MOVED 7 10.9.9.9:7001", a, map);
  ASSERT_EQ(s.action, RedirectStep::Action::retry);
  EXPECT_EQ(map.nodes().size(), 4u);
  EXPECT_EQ(map.node(s.node)->host, "10.9.9.9");
  EXPECT_EQ(map.node(s.node)->port, 7001);
  EXPECT_TRUE(map.node(s.node)->master);
  EXPECT_EQ(map.slot_owner(7), s.node);
}

TEST_F(Budget, AskRetriesOnceWithAskingAndKeepsTheMap) {
  RedirectBudget rb;
  const RedirectStep s = rb.on_error("ASK 3999 127.0.0.1:28434", a, map);
  EXPECT_EQ(s.action, RedirectStep::Action::retry);
  EXPECT_EQ(s.node, c);
  EXPECT_TRUE(s.asking);
  EXPECT_FALSE(s.refresh_map);
  EXPECT_EQ(map.slot_owner(3999), a);
}

TEST_F(Budget, EmptyEndpointMeansTheAnsweringNodesHost) {
  ClusterMap m;
  const ClusterNodeIndex from = m.add_node("10.0.0.5", 7000);
  RedirectBudget rb;
  const RedirectStep s = rb.on_error("MOVED 1 :7001", from, m);
  ASSERT_EQ(s.action, RedirectStep::Action::retry);
  EXPECT_EQ(m.node(s.node)->host, "10.0.0.5");
  EXPECT_EQ(m.node(s.node)->port, 7001);
  RedirectBudget rb2;
  EXPECT_EQ(rb2.on_error("MOVED 1 :7001", kNoClusterNode, m).action, RedirectStep::Action::deliver);
  EXPECT_EQ(rb2.on_error("MOVED 1 ?:7001", from, m).action, RedirectStep::Action::deliver);
  EXPECT_TRUE(rb2.on_error("MOVED 1 ?:7001", from, m).refresh_map);
}

TEST_F(Budget, AtMostFiveRedirects) {
  RedirectBudget rb;
  // a ping-pong between two nodes that each think the other owns the slot
  for (unsigned i = 0; i < RedirectBudget::kMaxRedirects; ++i) {
    const RedirectStep s =
        rb.on_error(i % 2 ? "MOVED 5 127.0.0.1:23265" : "ASK 5 127.0.0.1:30627", i % 2 ? b : a, map);
    EXPECT_EQ(s.action, RedirectStep::Action::retry) << i;
  }
  const RedirectStep s = rb.on_error("MOVED 5 127.0.0.1:30627", a, map);
  EXPECT_EQ(s.action, RedirectStep::Action::deliver);
  EXPECT_TRUE(s.refresh_map);
  EXPECT_STREQ(s.reason, "too many redirects");
  EXPECT_EQ(rb.used(), RedirectBudget::kMaxRedirects);
}

TEST_F(Budget, OtherErrorsAreDelivered) {
  RedirectBudget rb;
  RedirectStep s = rb.on_error("ERR wrong number of arguments", a, map);
  EXPECT_EQ(s.action, RedirectStep::Action::deliver);
  EXPECT_FALSE(s.refresh_map);
  s = rb.on_error("CLUSTERDOWN The cluster is down", a, map);
  EXPECT_EQ(s.action, RedirectStep::Action::deliver);
  EXPECT_TRUE(s.refresh_map);
  s = rb.on_error("CROSSSLOT Keys in request don't hash to the same slot", a, map);
  EXPECT_EQ(s.action, RedirectStep::Action::deliver);
  EXPECT_FALSE(s.refresh_map);
  s = rb.on_error("MOVED nonsense", a, map);
  EXPECT_EQ(s.action, RedirectStep::Action::deliver);
  EXPECT_TRUE(s.refresh_map);
  EXPECT_EQ(rb.used(), 0u);
}

TEST_F(Budget, TryAgainRetriesLaterOnTheSameNode) {
  RedirectBudget rb;
  const RedirectStep s = rb.on_error("TRYAGAIN Multiple keys request during rehashing of slot", b, map);
  EXPECT_EQ(s.action, RedirectStep::Action::retry_later);
  EXPECT_EQ(s.node, b);
  EXPECT_EQ(rb.used(), 1u);
  EXPECT_EQ(rb.on_error("TRYAGAIN x", 999, map).action, RedirectStep::Action::deliver);
}

// --- refresh --------------------------------------------------------------------

TEST(SlotMapRefresh, OneInFlightRateLimitedWithBackoff) {
  SlotMapRefresh r(100, 800);
  EXPECT_FALSE(r.due(0));
  EXPECT_EQ(r.next_due(0), UINT64_MAX);
  r.request();
  EXPECT_TRUE(r.due(5));
  EXPECT_EQ(r.next_due(5), 5u);
  r.started(5);
  EXPECT_FALSE(r.due(1000));
  EXPECT_EQ(r.next_due(1000), UINT64_MAX);
  r.finished(true);
  EXPECT_FALSE(r.requested());
  EXPECT_FALSE(r.due(1000));
  // a burst of MOVEDs right after: one refresh, not before 100 ms since the last start
  r.request();
  r.request();
  EXPECT_FALSE(r.due(50));
  EXPECT_EQ(r.next_due(50), 105u);
  EXPECT_TRUE(r.due(105));
  r.started(105);
  r.finished(false);  // failed: 100, 200, 400, 800, 800 ms
  EXPECT_TRUE(r.requested());
  EXPECT_FALSE(r.due(204));
  EXPECT_TRUE(r.due(205));
  std::uint64_t t = 205;
  for (const std::uint64_t pause : {200u, 400u, 800u, 800u}) {
    r.started(t);
    r.finished(false);
    EXPECT_FALSE(r.due(t + pause - 1)) << pause;
    EXPECT_TRUE(r.due(t + pause)) << pause;
    t += pause;
  }
  r.started(t);
  r.finished(true);
  EXPECT_FALSE(r.requested());
  r.request();
  EXPECT_TRUE(r.due(t + 100));  // the backoff is gone after a success
}

TEST(SlotMapRefresh, RequestDuringFlightIsKept) {
  SlotMapRefresh r(10);
  r.request();
  r.started(0);
  r.request();  // a MOVED seen while the map was loading: the new map may be stale already
  r.finished(true);
  EXPECT_TRUE(r.requested());
  EXPECT_TRUE(r.due(10));
  r.finished(true);  // not in flight: ignored
  EXPECT_TRUE(r.requested());
}

TEST(SlotMapRefresh, ClockGoingBack) {
  SlotMapRefresh r(100);
  r.request();
  r.started(1000);
  r.finished(false);
  EXPECT_FALSE(r.due(500));
  EXPECT_EQ(r.next_due(500), 1100u);
}

// --- shard channels -----------------------------------------------------------------

TEST(ClusterChannels, GroupBySlotForSsubscribe) {
  ClusterMap m;
  std::string err;
  ASSERT_TRUE(parse_cluster_slots(wire(kSlots), "x", m, err)) << err;
  const std::vector<std::string_view> ch = {
      "portfolio:user:u1",      // 15525 -> 28434
      "{user1000}.following",   // 3443 -> 23265
      "foo",                    // 12182 -> 28434
      "{user1000}.followers",   // 3443
      "portfolio:{u1}:orders",  // slot of "u1"
      "bar",                    // 5061 -> 23265
  };
  const auto batches = group_by_slot(m, ch);
  // one batch per slot; the two {user1000} channels share one
  std::size_t total = 0;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    const SlotBatch& b = batches[i];
    ASSERT_FALSE(b.items.empty());
    for (const std::size_t it : b.items) {
      EXPECT_EQ(cluster_key_slot(ch[it]), b.slot);
      EXPECT_EQ(m.key_owner(ch[it]), b.node);
    }
    EXPECT_TRUE(std::is_sorted(b.items.begin(), b.items.end()));
    if (i > 0) {
      const SlotBatch& p = batches[i - 1];
      EXPECT_TRUE(p.node < b.node || (p.node == b.node && p.slot < b.slot));
    }
    total += b.items.size();
  }
  EXPECT_EQ(total, ch.size());
  const auto it =
      std::find_if(batches.begin(), batches.end(), [](const SlotBatch& b) { return b.slot == 3443; });
  ASSERT_NE(it, batches.end());
  EXPECT_EQ(it->items, (std::vector<std::size_t>{1, 3}));
  EXPECT_EQ(batches.size(), 5u);
  EXPECT_TRUE(group_by_slot(m, std::vector<std::string_view>{}).empty());
}

TEST(ClusterChannels, UnownedSlotsSortLast) {
  ClusterMap m;
  const ClusterNodeIndex a = m.add_node("h", 1);
  ASSERT_TRUE(m.set_slot_owner(cluster_key_slot("foo"), a));
  const std::vector<std::string_view> ch = {"bar", "foo", "hello"};
  const auto batches = group_by_slot(m, ch);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].node, a);
  EXPECT_EQ(batches[0].items, std::vector<std::size_t>{1});
  EXPECT_EQ(batches[1].node, kNoClusterNode);
  EXPECT_EQ(batches[2].node, kNoClusterNode);
  EXPECT_EQ(shards_spanned(m, ch), (std::vector<ClusterNodeIndex>{a, kNoClusterNode}));
}

TEST(ClusterChannels, ShardsSpanned) {
  ClusterMap m;
  std::string err;
  ASSERT_TRUE(parse_cluster_slots(wire(kSlots), "x", m, err)) << err;
  EXPECT_TRUE(shards_spanned(m, std::vector<std::string_view>{}).empty());
  EXPECT_EQ(shards_spanned(m, std::vector<std::string_view>{"foo", "portfolio:user:u1"}).size(), 1u);
  std::vector<std::string> names;
  for (int i = 0; i < 1000; ++i) names.push_back("portfolio:user:" + std::to_string(i));
  std::vector<std::string_view> views(names.begin(), names.end());
  const auto s = shards_spanned(m, views);
  EXPECT_EQ(s, m.masters());
  const auto batches = group_by_slot(m, views);
  std::size_t total = 0;
  for (const auto& b : batches) total += b.items.size();
  EXPECT_EQ(total, 1000u);
}

}  // namespace
}  // namespace ps
