// Unit tests of src/stats_render.h: the exact bodies of the stats endpoint
// (SPEC sections 5 and 8) for given inputs.
#include "stats_render.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace ps::stats {
namespace {

void set(StatsInput& in, Counter c, std::uint64_t v) { in.zone.counters[index(c)] = v; }

// The figures the live endpoint reported in one run before the rendering
// moved here (one connection, 5 events of which 2 coalesced, closed after
// 0.5 s): the golden texts below were produced by the module then, plus the
// history section.
StatsInput one_run() {
  StatsInput in{};
  set(in, Counter::events_received, 5);
  set(in, Counter::events_delivered, 5);
  set(in, Counter::events_coalesced, 2);
  set(in, Counter::frames_sent, 4);
  set(in, Counter::event_frames_sent, 2);
  set(in, Counter::bytes_sent, 558);
  set(in, Counter::connections_accepted, 1);
  set(in, Counter::connections_closed, 1);
  in.zone.closed_ms = 505;
  in.zone.disconnects_last_60s = 1;
  in.zone.workers = 1;
  in.zone.redis_up = 1;
  in.zone.latency[latency_bucket(264)] = 3;
  in.zone.latency_max_ms = 264;
  in.zone.uptime_seconds = 1;
  in.zone.zone_size = 1048576;
  in.zone.zone_free = 1028096;
  in.max_connections = 100;
  in.max_connections_per_user = 5;
  return in;
}

// Every counter a different value (1000 + its index), every gauge too
// (event frames 1005 > deliveries 1001: batchEfficiency "0.0%").
StatsInput distinct() {
  StatsInput in{};
  for (std::size_t i = 0; i < kCounters; i++) {
    in.zone.counters[i] = 1000 + i;
  }
  in.zone.closed_ms = 1847ull * 1000 * (1009 - 7);  // closed (1009) - reclaimed (7) connections of 1847 s
  in.zone.reclaimed = 7;
  in.zone.active_connections = 42;
  in.zone.active_users = 17;
  in.zone.disconnects_last_60s = 30;
  in.zone.subscriptions = 12;
  in.zone.workers = 2;
  in.zone.redis_up = 2;
  in.zone.latency[latency_bucket(3)] = 985;
  in.zone.latency[latency_bucket(800)] = 15;
  in.zone.latency_max_ms = 812;
  in.zone.uptime_seconds = 86400;
  in.zone.zone_size = 1 << 20;
  in.zone.zone_free = 4096;
  in.max_connections = 10000;
  in.max_connections_per_user = 5;
  return in;
}

// The text of member `key` of the JSON object that starts at `from`: the
// value up to the next ',' or '}' at the same depth (flat values only).
std::string member(const std::string& json, const std::string& key, std::size_t from = 0) {
  std::string k = "\"" + key + "\":";
  std::size_t p = json.find(k, from);
  if (p == std::string::npos) {
    return "<missing " + key + ">";
  }
  p += k.size();
  std::size_t e = json.find_first_of(",}", p);
  return json.substr(p, e - p);
}

std::string section(const std::string& json, const std::string& name) {
  std::string k = "\"" + name + "\":{";
  std::size_t p = json.find(k);
  if (p == std::string::npos) {
    return "";
  }
  return json.substr(p + k.size() - 1, json.find('}', p) - p - k.size() + 2);
}

TEST(StatsRenderJson, GoldenOfOneRun) {
  EXPECT_EQ(render_json(one_run()),
            "{\"status\":\"healthy\",\"activeConnections\":0,\"activeUsers\":0,\"batchEfficiency\":\"60.0%\","
            "\"performance\":{\"avgConnectionDurationSeconds\":1,\"disconnectRatePerMinute\":\"1.00\"},"
            "\"events\":{\"received\":5,\"delivered\":5,\"coalesced\":2,\"invalid\":0,\"conflated\":0},"
            "\"frames\":{\"sent\":4,\"bytesSent\":558},"
            "\"connections\":{\"accepted\":1,\"closed\":1,\"slowConsumerDrops\":0},"
            "\"rejected\":{\"badHandshake\":0,\"forbiddenOrigin\":0,\"unauthorized\":0,\"perUserLimit\":0,"
            "\"globalLimit\":0,\"disabled\":0,\"redisUnavailable\":0},"
            "\"redis\":{\"connected\":true,\"reconnects\":0,\"subscriptions\":0},"
            "\"latencyMs\":{\"p50\":264.0,\"p99\":264.0,\"max\":264.0},"
            "\"history\":{\"replayed\":0,\"recovered\":0,\"notRecovered\":0},"
            "\"limits\":{\"maxConnections\":100,\"maxConnectionsPerUser\":5},\"uptimeSeconds\":1}\n");
}

// Every field of SPEC section 5 (and 8) in its place, with its type: numbers
// bare, batchEfficiency and disconnectRatePerMinute strings, latencies with
// one decimal, connected a boolean. Each counter lands in its own field.
TEST(StatsRenderJson, EveryFieldFromItsSource) {
  EXPECT_EQ(
      render_json(distinct()),
      "{\"status\":\"healthy\",\"activeConnections\":42,\"activeUsers\":17,\"batchEfficiency\":\"0.0%\","
      "\"performance\":{\"avgConnectionDurationSeconds\":1847,\"disconnectRatePerMinute\":\"30.00\"},"
      "\"events\":{\"received\":1000,\"delivered\":1001,\"coalesced\":1002,\"invalid\":1003,\"conflated\":1004},"
      "\"frames\":{\"sent\":1005,\"bytesSent\":1007},"
      "\"connections\":{\"accepted\":1008,\"closed\":1009,\"slowConsumerDrops\":1010},"
      "\"rejected\":{\"badHandshake\":1011,\"forbiddenOrigin\":1012,\"unauthorized\":1013,"
      "\"perUserLimit\":1014,\"globalLimit\":1015,\"disabled\":1016,\"redisUnavailable\":1017},"
      "\"redis\":{\"connected\":true,\"reconnects\":1018,\"subscriptions\":12},"
      "\"latencyMs\":{\"p50\":3.0,\"p99\":799.5,\"max\":812.0},"
      "\"history\":{\"replayed\":1019,\"recovered\":1020,\"notRecovered\":1021},"
      "\"limits\":{\"maxConnections\":10000,\"maxConnectionsPerUser\":5},\"uptimeSeconds\":86400}\n");
}

TEST(StatsRenderJson, NothingYet) {
  StatsInput in{};
  EXPECT_EQ(render_json(in),
            "{\"status\":\"healthy\",\"activeConnections\":0,\"activeUsers\":0,\"batchEfficiency\":\"0.0%\","
            "\"performance\":{\"avgConnectionDurationSeconds\":0,\"disconnectRatePerMinute\":\"0.00\"},"
            "\"events\":{\"received\":0,\"delivered\":0,\"coalesced\":0,\"invalid\":0,\"conflated\":0},"
            "\"frames\":{\"sent\":0,\"bytesSent\":0},"
            "\"connections\":{\"accepted\":0,\"closed\":0,\"slowConsumerDrops\":0},"
            "\"rejected\":{\"badHandshake\":0,\"forbiddenOrigin\":0,\"unauthorized\":0,\"perUserLimit\":0,"
            "\"globalLimit\":0,\"disabled\":0,\"redisUnavailable\":0},"
            "\"redis\":{\"connected\":false,\"reconnects\":0,\"subscriptions\":0},"
            "\"latencyMs\":{\"p50\":0.0,\"p99\":0.0,\"max\":0.0},"
            "\"history\":{\"replayed\":0,\"recovered\":0,\"notRecovered\":0},"
            "\"limits\":{\"maxConnections\":0,\"maxConnectionsPerUser\":0},\"uptimeSeconds\":0}\n");
}

TEST(StatsRenderJson, HistorySectionAfterLatencyBeforeLimits) {
  StatsInput in{};
  set(in, Counter::history_replayed, 250);
  set(in, Counter::history_recovered, 9);
  set(in, Counter::history_not_recovered, 2);
  std::string j = render_json(in);
  EXPECT_EQ(section(j, "history"), "{\"replayed\":250,\"recovered\":9,\"notRecovered\":2}");
  std::size_t lat = j.find("\"latencyMs\":"), hist = j.find("\"history\":"), lim = j.find("\"limits\":");
  ASSERT_NE(hist, std::string::npos);
  EXPECT_LT(lat, hist);
  EXPECT_LT(hist, lim);
  EXPECT_EQ(j.find("\"history\":", hist + 1), std::string::npos);  // once
}

TEST(StatsRenderJson, BatchEfficiencyAndRounding) {
  StatsInput in{};
  EXPECT_EQ(member(render_json(in), "batchEfficiency"), "\"0.0%\"");  // before any delivery
  set(in, Counter::event_frames_sent, 3);                             // frames but no deliveries
  EXPECT_EQ(member(render_json(in), "batchEfficiency"), "\"0.0%\"");
  set(in, Counter::events_delivered, 2);  // more frames than deliveries
  EXPECT_EQ(member(render_json(in), "batchEfficiency"), "\"0.0%\"");
  set(in, Counter::event_frames_sent, 48);
  set(in, Counter::events_delivered, 1000);
  EXPECT_EQ(member(render_json(in), "batchEfficiency"), "\"95.2%\"");
  set(in, Counter::event_frames_sent, 1);
  set(in, Counter::events_delivered, 3);
  EXPECT_EQ(member(render_json(in), "batchEfficiency"), "\"66.7%\"");  // 66.67 up
  set(in, Counter::event_frames_sent, 1);
  set(in, Counter::events_delivered, 2000);
  EXPECT_EQ(member(render_json(in), "batchEfficiency"), "\"100.0%\"");  // 99.95 half up
  set(in, Counter::event_frames_sent, 0);
  EXPECT_EQ(member(render_json(in), "batchEfficiency"), "\"100.0%\"");
}

TEST(StatsRenderJson, ConnectionDurationAndDisconnectRate) {
  StatsInput in{};
  set(in, Counter::connections_closed, 1);
  in.zone.closed_ms = 1499;
  EXPECT_EQ(member(render_json(in), "avgConnectionDurationSeconds"), "1");
  in.zone.closed_ms = 1500;
  EXPECT_EQ(member(render_json(in), "avgConnectionDurationSeconds"), "2");  // half up
  // Reclaimed connections (of a dead worker) have no duration: not averaged.
  set(in, Counter::connections_closed, 3);
  in.zone.reclaimed = 1;
  in.zone.closed_ms = 4000;
  EXPECT_EQ(member(render_json(in), "avgConnectionDurationSeconds"), "2");
  in.zone.reclaimed = 3;  // all reclaimed
  EXPECT_EQ(member(render_json(in), "avgConnectionDurationSeconds"), "0");
  in.zone.reclaimed = 5;  // inconsistent input: still no wrap-around
  EXPECT_EQ(member(render_json(in), "avgConnectionDurationSeconds"), "0");

  in.zone.disconnects_last_60s = 0;
  EXPECT_EQ(member(render_json(in), "disconnectRatePerMinute"), "\"0.00\"");
  in.zone.disconnects_last_60s = 7;
  EXPECT_EQ(member(render_json(in), "disconnectRatePerMinute"), "\"7.00\"");
}

TEST(StatsRenderJson, LatencyFromTheHistogram) {
  StatsInput in{};
  for (int v = 1; v <= 10; v++) {
    in.zone.latency[latency_bucket(v)] += 10;  // 100 samples, 1..10 ms, exact buckets
  }
  in.zone.latency_max_ms = 10;
  EXPECT_EQ(section(render_json(in), "latencyMs"), "{\"p50\":5.0,\"p99\":10.0,\"max\":10.0}");
  // One sample in the 960..1023 bucket (midpoint 991.5): capped by the exact max.
  StatsInput one{};
  one.zone.latency[latency_bucket(960)] = 1;
  one.zone.latency_max_ms = 960;
  EXPECT_EQ(section(render_json(one), "latencyMs"), "{\"p50\":960.0,\"p99\":960.0,\"max\":960.0}");
  // Midpoint of a wide bucket, one decimal.
  StatsInput tail{};
  tail.zone.latency[latency_bucket(100)] = 1;  // bucket 96..103
  tail.zone.latency_max_ms = 5000;
  EXPECT_EQ(section(render_json(tail), "latencyMs"), "{\"p50\":99.5,\"p99\":99.5,\"max\":5000.0}");
}

TEST(StatsRenderJson, LargeNumbers) {
  StatsInput in{};
  set(in, Counter::bytes_sent, UINT64_MAX);
  in.zone.active_connections = UINT64_MAX;
  std::string j = render_json(in);
  EXPECT_EQ(member(j, "bytesSent"), "18446744073709551615");
  EXPECT_EQ(member(j, "activeConnections"), "18446744073709551615");
}

TEST(StatsRenderStatus, Cases) {
  StatsInput in{};
  EXPECT_EQ(status(in), "healthy");  // no worker reported yet
  in.zone.redis_up = 2;
  EXPECT_EQ(status(in), "healthy");
  EXPECT_TRUE(redis_connected(in.zone));
  in.zone.redis_down = 1;  // one worker lost Redis
  EXPECT_EQ(status(in), "degraded");
  EXPECT_FALSE(redis_connected(in.zone));
  in.disabled = true;  // the flag wins
  EXPECT_EQ(status(in), "disabled");
  in.zone.redis_down = 0;
  EXPECT_EQ(status(in), "disabled");
  in.zone.redis_up = 0;
  EXPECT_FALSE(redis_connected(in.zone));  // nobody reported up

  StatsInput d{};
  d.zone.redis_down = 1;
  std::string j = render_json(d);
  EXPECT_EQ(member(j, "status"), "\"degraded\"");
  EXPECT_EQ(member(j, "connected"), "false");
  std::string p = render_prometheus(d);
  EXPECT_NE(p.find("portfolio_stream_status{status=\"healthy\"} 0\n"
                   "portfolio_stream_status{status=\"degraded\"} 1\n"
                   "portfolio_stream_status{status=\"disabled\"} 0\n"),
            std::string::npos);
  EXPECT_NE(p.find("\nportfolio_stream_redis_connected 0\n"), std::string::npos);
  d.disabled = true;
  EXPECT_EQ(member(render_json(d), "status"), "\"disabled\"");
  EXPECT_NE(render_prometheus(d).find("portfolio_stream_status{status=\"healthy\"} 0\n"
                                      "portfolio_stream_status{status=\"degraded\"} 0\n"
                                      "portfolio_stream_status{status=\"disabled\"} 1\n"),
            std::string::npos);
}

TEST(StatsRenderPrometheus, GoldenOfOneRun) {
  EXPECT_EQ(render_prometheus(one_run()),
            R"PROM(# HELP portfolio_stream_events_received_total Events received from Redis pub/sub
# TYPE portfolio_stream_events_received_total counter
portfolio_stream_events_received_total 5
# HELP portfolio_stream_events_delivered_total Events handed to connections (one per event per connection; coalesced ones included)
# TYPE portfolio_stream_events_delivered_total counter
portfolio_stream_events_delivered_total 5
# HELP portfolio_stream_events_coalesced_total Events replaced by a newer one of the same key before being written
# TYPE portfolio_stream_events_coalesced_total counter
portfolio_stream_events_coalesced_total 2
# HELP portfolio_stream_events_invalid_total Published events dropped: invalid JSON, unknown type or over max_event_size
# TYPE portfolio_stream_events_invalid_total counter
portfolio_stream_events_invalid_total 0
# HELP portfolio_stream_events_conflated_total Queued position/account updates replaced by a newer one for the same key while the client lagged
# TYPE portfolio_stream_events_conflated_total counter
portfolio_stream_events_conflated_total 0
# HELP portfolio_stream_frames_sent_total Frames written to clients
# TYPE portfolio_stream_frames_sent_total counter
portfolio_stream_frames_sent_total 4
# HELP portfolio_stream_event_frames_sent_total Frames carrying events written to clients
# TYPE portfolio_stream_event_frames_sent_total counter
portfolio_stream_event_frames_sent_total 2
# HELP portfolio_stream_bytes_sent_total Bytes written to clients
# TYPE portfolio_stream_bytes_sent_total counter
portfolio_stream_bytes_sent_total 558
# HELP portfolio_stream_connections_accepted_total WebSocket connections upgraded
# TYPE portfolio_stream_connections_accepted_total counter
portfolio_stream_connections_accepted_total 1
# HELP portfolio_stream_connections_closed_total WebSocket connections closed
# TYPE portfolio_stream_connections_closed_total counter
portfolio_stream_connections_closed_total 1
# HELP portfolio_stream_slow_consumer_drops_total Connections closed with 1008 for exceeding portfolio_stream_send_limit
# TYPE portfolio_stream_slow_consumer_drops_total counter
portfolio_stream_slow_consumer_drops_total 0
# HELP portfolio_stream_rejected_bad_handshake_total Handshakes rejected with 400 or 426
# TYPE portfolio_stream_rejected_bad_handshake_total counter
portfolio_stream_rejected_bad_handshake_total 0
# HELP portfolio_stream_rejected_forbidden_origin_total Handshakes rejected with 403 (Origin)
# TYPE portfolio_stream_rejected_forbidden_origin_total counter
portfolio_stream_rejected_forbidden_origin_total 0
# HELP portfolio_stream_rejected_unauthorized_total Handshakes rejected with 401 (cookie or session)
# TYPE portfolio_stream_rejected_unauthorized_total counter
portfolio_stream_rejected_unauthorized_total 0
# HELP portfolio_stream_rejected_per_user_limit_total Handshakes rejected with 429 (max_connections_per_user)
# TYPE portfolio_stream_rejected_per_user_limit_total counter
portfolio_stream_rejected_per_user_limit_total 0
# HELP portfolio_stream_rejected_global_limit_total Handshakes rejected with 503 (max_connections)
# TYPE portfolio_stream_rejected_global_limit_total counter
portfolio_stream_rejected_global_limit_total 0
# HELP portfolio_stream_rejected_disabled_total Handshakes rejected with 503 (feature off)
# TYPE portfolio_stream_rejected_disabled_total counter
portfolio_stream_rejected_disabled_total 0
# HELP portfolio_stream_rejected_redis_unavailable_total Handshakes rejected with 503 (Redis unavailable)
# TYPE portfolio_stream_rejected_redis_unavailable_total counter
portfolio_stream_rejected_redis_unavailable_total 0
# HELP portfolio_stream_redis_reconnects_total Redis connections re-established after a loss
# TYPE portfolio_stream_redis_reconnects_total counter
portfolio_stream_redis_reconnects_total 0
# HELP portfolio_stream_history_replayed_total Events replayed from history to connections
# TYPE portfolio_stream_history_replayed_total counter
portfolio_stream_history_replayed_total 0
# HELP portfolio_stream_history_recovered_total Resumes and outage recoveries that got every missed event
# TYPE portfolio_stream_history_recovered_total counter
portfolio_stream_history_recovered_total 0
# HELP portfolio_stream_history_not_recovered_total Resumes and outage recoveries that could not get every missed event (recovered:false)
# TYPE portfolio_stream_history_not_recovered_total counter
portfolio_stream_history_not_recovered_total 0
# HELP portfolio_stream_connection_duration_seconds_total Total duration of closed WebSocket connections
# TYPE portfolio_stream_connection_duration_seconds_total counter
portfolio_stream_connection_duration_seconds_total 0.505
# HELP portfolio_stream_connections_reclaimed_total Connections of worker processes that died (SIGKILL, crash), given back by the zone
# TYPE portfolio_stream_connections_reclaimed_total counter
portfolio_stream_connections_reclaimed_total 0
# HELP portfolio_stream_status 1 for the current status (healthy, degraded or disabled), 0 for the others
# TYPE portfolio_stream_status gauge
portfolio_stream_status{status="healthy"} 1
portfolio_stream_status{status="degraded"} 0
portfolio_stream_status{status="disabled"} 0
# HELP portfolio_stream_active_connections WebSocket connections open, all workers
# TYPE portfolio_stream_active_connections gauge
portfolio_stream_active_connections 0
# HELP portfolio_stream_active_users Users with at least one connection open
# TYPE portfolio_stream_active_users gauge
portfolio_stream_active_users 0
# HELP portfolio_stream_redis_connected 1 when every live worker's Redis pub/sub connection is up
# TYPE portfolio_stream_redis_connected gauge
portfolio_stream_redis_connected 1
# HELP portfolio_stream_redis_subscriptions Redis channels subscribed, all workers
# TYPE portfolio_stream_redis_subscriptions gauge
portfolio_stream_redis_subscriptions 0
# HELP portfolio_stream_workers Worker processes counting in the zone (not draining)
# TYPE portfolio_stream_workers gauge
portfolio_stream_workers 1
# HELP portfolio_stream_disconnects_last_minute Connections closed in the last 60 seconds
# TYPE portfolio_stream_disconnects_last_minute gauge
portfolio_stream_disconnects_last_minute 1
# HELP portfolio_stream_batch_efficiency_ratio 1 - event frames written / event deliveries (0 before any delivery)
# TYPE portfolio_stream_batch_efficiency_ratio gauge
portfolio_stream_batch_efficiency_ratio 0.6
# HELP portfolio_stream_event_latency_milliseconds Event ts to frame written over the last 1-2 minutes (quantile 1 = max)
# TYPE portfolio_stream_event_latency_milliseconds gauge
portfolio_stream_event_latency_milliseconds{quantile="0.5"} 264
portfolio_stream_event_latency_milliseconds{quantile="0.99"} 264
portfolio_stream_event_latency_milliseconds{quantile="1"} 264
# HELP portfolio_stream_stage_latency_microseconds Per stage of an event over the last 1-2 minutes: redis = publisher ts to read, dispatch = read to queued (batch window included), write = queued to the kernel (quantile 1 = max)
# TYPE portfolio_stream_stage_latency_microseconds gauge
portfolio_stream_stage_latency_microseconds{stage="redis",quantile="0.5"} 0
portfolio_stream_stage_latency_microseconds{stage="redis",quantile="0.99"} 0
portfolio_stream_stage_latency_microseconds{stage="redis",quantile="1"} 0
portfolio_stream_stage_latency_microseconds{stage="dispatch",quantile="0.5"} 0
portfolio_stream_stage_latency_microseconds{stage="dispatch",quantile="0.99"} 0
portfolio_stream_stage_latency_microseconds{stage="dispatch",quantile="1"} 0
portfolio_stream_stage_latency_microseconds{stage="write",quantile="0.5"} 0
portfolio_stream_stage_latency_microseconds{stage="write",quantile="0.99"} 0
portfolio_stream_stage_latency_microseconds{stage="write",quantile="1"} 0
# HELP portfolio_stream_max_connections portfolio_stream_max_connections
# TYPE portfolio_stream_max_connections gauge
portfolio_stream_max_connections 100
# HELP portfolio_stream_max_connections_per_user portfolio_stream_max_connections_per_user of the stats location
# TYPE portfolio_stream_max_connections_per_user gauge
portfolio_stream_max_connections_per_user 5
# HELP portfolio_stream_uptime_seconds Seconds since the zone was created
# TYPE portfolio_stream_uptime_seconds gauge
portfolio_stream_uptime_seconds 1
# HELP portfolio_stream_zone_size_bytes Size of portfolio_stream_zone
# TYPE portfolio_stream_zone_size_bytes gauge
portfolio_stream_zone_size_bytes 1048576
# HELP portfolio_stream_zone_free_bytes Free pages of portfolio_stream_zone, in bytes
# TYPE portfolio_stream_zone_free_bytes gauge
portfolio_stream_zone_free_bytes 1028096
)PROM");
}

struct Family {
  std::string help, type;
  std::vector<std::pair<std::string, std::string>> samples;  // name{labels}, value
};

// Text exposition 0.0.4, strictly: "# HELP f ..." then "# TYPE f t" then
// samples of f; families contiguous and unique. Fails the test otherwise.
std::map<std::string, Family> families(const std::string& text) {
  std::map<std::string, Family> fams;
  std::string current;
  std::istringstream in(text);
  std::string line;
  std::set<std::string> done;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      std::string rest = line.substr(7);
      std::string name = rest.substr(0, rest.find(' '));
      EXPECT_TRUE(done.insert(name).second) << "family twice or not contiguous: " << name;
      current = name;
      fams[name].help = rest.substr(name.size() + 1);
    } else if (line.rfind("# TYPE ", 0) == 0) {
      std::string rest = line.substr(7);
      EXPECT_EQ(rest.substr(0, rest.find(' ')), current) << "TYPE of another family: " << line;
      EXPECT_TRUE(fams[current].samples.empty()) << "TYPE after samples: " << line;
      fams[current].type = rest.substr(rest.find(' ') + 1);
    } else {
      std::string name = line.substr(0, line.find_first_of("{ "));
      EXPECT_EQ(name, current) << "sample outside its family: " << line;
      EXPECT_FALSE(fams[current].type.empty()) << "sample before TYPE: " << line;
      std::size_t sp = line.rfind(' ');
      if (sp == std::string::npos) {
        ADD_FAILURE() << "sample without a value: " << line;
        continue;
      }
      fams[current].samples.push_back({line.substr(0, sp), line.substr(sp + 1)});
    }
  }
  return fams;
}

TEST(StatsRenderPrometheus, WellFormedCountersAndGauges) {
  const StatsInput in = distinct();
  const std::string text = render_prometheus(in);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  const std::map<std::string, Family> fams = families(text);
  for (const auto& [name, f] : fams) {
    EXPECT_FALSE(f.help.empty()) << name;
    EXPECT_TRUE(f.type == "counter" || f.type == "gauge") << name << " " << f.type;
    EXPECT_FALSE(f.samples.empty()) << name;
    EXPECT_EQ(name.rfind("portfolio_stream_", 0), 0u) << name;
    if (f.type == "counter") {
      EXPECT_EQ(name.substr(name.size() - 6), "_total") << name;
    }
  }
  // Every counter of the list, in list order at the top, with its value.
  std::istringstream lines(text);
  std::string line;
  for (std::size_t i = 0; i < kCounters; i++) {
    const std::string prom = kCounterDefs[i].prom;
    ASSERT_TRUE(std::getline(lines, line));
    EXPECT_EQ(line, "# HELP " + prom + " " + kCounterDefs[i].help);
    ASSERT_TRUE(std::getline(lines, line));
    EXPECT_EQ(line, "# TYPE " + prom + " counter");
    ASSERT_TRUE(std::getline(lines, line));
    EXPECT_EQ(line, prom + " " + std::to_string(1000 + i));
  }
  auto value = [&](const std::string& fam, const std::string& sample) -> std::string {
    auto it = fams.find(fam);
    if (it == fams.end()) {
      return "<no family " + fam + ">";
    }
    for (const auto& [n, v] : it->second.samples) {
      if (n == sample) {
        return it->second.type + " " + v;
      }
    }
    return "<no sample " + sample + ">";
  };
  EXPECT_EQ(value("portfolio_stream_connection_duration_seconds_total",
                  "portfolio_stream_connection_duration_seconds_total"),
            "counter 1.85069e+06");  // 1847 s × 1002 closed
  EXPECT_EQ(
      value("portfolio_stream_connections_reclaimed_total", "portfolio_stream_connections_reclaimed_total"),
      "counter 7");
  EXPECT_EQ(value("portfolio_stream_active_connections", "portfolio_stream_active_connections"), "gauge 42");
  EXPECT_EQ(value("portfolio_stream_active_users", "portfolio_stream_active_users"), "gauge 17");
  EXPECT_EQ(value("portfolio_stream_redis_connected", "portfolio_stream_redis_connected"), "gauge 1");
  EXPECT_EQ(value("portfolio_stream_redis_subscriptions", "portfolio_stream_redis_subscriptions"),
            "gauge 12");
  EXPECT_EQ(value("portfolio_stream_workers", "portfolio_stream_workers"), "gauge 2");
  EXPECT_EQ(value("portfolio_stream_disconnects_last_minute", "portfolio_stream_disconnects_last_minute"),
            "gauge 30");
  // 1 - 1005 / 1001 < 0: no batching counted
  EXPECT_EQ(value("portfolio_stream_batch_efficiency_ratio", "portfolio_stream_batch_efficiency_ratio"),
            "gauge 0");
  EXPECT_EQ(value("portfolio_stream_event_latency_milliseconds",
                  "portfolio_stream_event_latency_milliseconds{quantile=\"0.5\"}"),
            "gauge 3");
  EXPECT_EQ(value("portfolio_stream_event_latency_milliseconds",
                  "portfolio_stream_event_latency_milliseconds{quantile=\"0.99\"}"),
            "gauge 799.5");
  EXPECT_EQ(value("portfolio_stream_event_latency_milliseconds",
                  "portfolio_stream_event_latency_milliseconds{quantile=\"1\"}"),
            "gauge 812");
  EXPECT_EQ(value("portfolio_stream_max_connections", "portfolio_stream_max_connections"), "gauge 10000");
  EXPECT_EQ(value("portfolio_stream_max_connections_per_user", "portfolio_stream_max_connections_per_user"),
            "gauge 5");
  EXPECT_EQ(value("portfolio_stream_uptime_seconds", "portfolio_stream_uptime_seconds"), "gauge 86400");
  EXPECT_EQ(value("portfolio_stream_zone_size_bytes", "portfolio_stream_zone_size_bytes"), "gauge 1048576");
  EXPECT_EQ(value("portfolio_stream_zone_free_bytes", "portfolio_stream_zone_free_bytes"), "gauge 4096");
  EXPECT_EQ(value("portfolio_stream_status", "portfolio_stream_status{status=\"healthy\"}"), "gauge 1");
}

TEST(StatsRenderPrometheus, HistoryCounters) {
  StatsInput in{};
  set(in, Counter::history_replayed, 250);
  set(in, Counter::history_recovered, 9);
  set(in, Counter::history_not_recovered, 2);
  const std::string text = render_prometheus(in);
  EXPECT_NE(
      text.find("# HELP portfolio_stream_history_replayed_total Events replayed from history to "
                "connections\n"
                "# TYPE portfolio_stream_history_replayed_total counter\n"
                "portfolio_stream_history_replayed_total 250\n"
                "# HELP portfolio_stream_history_recovered_total Resumes and outage recoveries that got "
                "every missed event\n"
                "# TYPE portfolio_stream_history_recovered_total counter\n"
                "portfolio_stream_history_recovered_total 9\n"
                "# HELP portfolio_stream_history_not_recovered_total Resumes and outage recoveries that "
                "could not get every missed event (recovered:false)\n"
                "# TYPE portfolio_stream_history_not_recovered_total counter\n"
                "portfolio_stream_history_not_recovered_total 2\n"),
      std::string::npos)
      << text;
}

TEST(StatsRenderPrometheus, BatchEfficiencyRatio) {
  StatsInput in{};
  EXPECT_NE(render_prometheus(in).find("\nportfolio_stream_batch_efficiency_ratio 0\n"), std::string::npos);
  set(in, Counter::event_frames_sent, 48);
  set(in, Counter::events_delivered, 1000);
  EXPECT_NE(render_prometheus(in).find("\nportfolio_stream_batch_efficiency_ratio 0.952\n"),
            std::string::npos);
}

// The list itself: names that cannot collide, and every JSON section one
// that render_json writes (a counter with a misspelt section would vanish).
TEST(StatsCounters, ListIsConsistent) {
  std::set<std::string> proms, fields;
  const std::set<std::string> sections = {"",         "events", "frames", "connections",
                                          "rejected", "redis",  "history"};
  for (const CounterDef& d : kCounterDefs) {
    std::string prom = d.prom;
    EXPECT_TRUE(proms.insert(prom).second) << prom;
    EXPECT_EQ(prom.rfind("portfolio_stream_", 0), 0u) << prom;
    EXPECT_EQ(prom.substr(prom.size() - 6), "_total") << prom;
    EXPECT_TRUE(fields.insert(std::string(d.section) + "." + d.field).second) << d.field;
    EXPECT_EQ(sections.count(d.section), 1u) << d.section;
    EXPECT_NE(std::string(d.help), "");
  }
  EXPECT_EQ(index(Counter::history_not_recovered), kCounters - 1);
  // each counter with a section shows up in that section with its own value
  const StatsInput in = distinct();
  const std::string j = render_json(in);
  for (std::size_t i = 0; i < kCounters; i++) {
    if (*kCounterDefs[i].section == '\0') {
      EXPECT_EQ(j.find(std::string("\"") + kCounterDefs[i].field + "\""), std::string::npos);
      continue;
    }
    EXPECT_EQ(member(section(j, kCounterDefs[i].section), kCounterDefs[i].field), std::to_string(1000 + i))
        << kCounterDefs[i].field;
  }
}

}  // namespace
}  // namespace ps::stats

namespace ps::stats {
TEST(StatsRenderPrometheus, StageLatencies) {
  StatsInput in{};
  in.zone.stage[stage_write][latency_bucket(40)] = 10;
  in.zone.stage[stage_write][latency_bucket(900)] = 1;
  in.zone.stage_max_us[stage_write] = 950;
  std::string out = render_prometheus(in);
  EXPECT_NE(out.find("portfolio_stream_stage_latency_microseconds{stage=\"write\",quantile=\"1\"} 950\n"),
            std::string::npos);
  EXPECT_NE(out.find("portfolio_stream_stage_latency_microseconds{stage=\"dispatch\",quantile=\"0.5\"} 0\n"),
            std::string::npos);
  // The JSON keeps SPEC section 5's latencyMs and nothing per stage.
  EXPECT_EQ(render_json(in).find("stage"), std::string::npos);
}
}  // namespace ps::stats
