#include "batcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "test_support.h"

namespace ps {
namespace {

constexpr std::string_view kHead = R"({"type":"batch","events":[)";
constexpr std::string_view kTail = "]}";

using test_support::parse_frame;
using test_support::ParsedFrame;

const char* type_name(EventType t) {
  switch (t) {
    case EventType::position_update:
      return "position_update";
    case EventType::account_update:
      return "account_update";
    case EventType::order_update:
      return "order_update";
    case EventType::trade_executed:
      return "trade_executed";
  }
  return "?";
}

Channel channel_of(EventType t) {
  switch (t) {
    case EventType::position_update:
      return Channel::positions;
    case EventType::account_update:
      return Channel::account;
    case EventType::order_update:
      return Channel::orders;
    case EventType::trade_executed:
      return Channel::trades;
  }
  return Channel::positions;
}

EventPtr make(EventType t, std::string key = {}, std::string extra = {}) {
  std::string json = std::string(R"({"type":")") + type_name(t) + "\"";
  if (!key.empty()) json += R"(,"key":")" + key + "\"";
  if (!extra.empty()) json += R"(,"x":")" + extra + "\"";
  json += "}";
  EventInfo i;
  i.type = t;
  i.channel = channel_of(t);
  i.key = std::move(key);
  return make_event(json, std::move(i));
}

EventPtr pos(std::string key, std::string extra = {}) {
  return make(EventType::position_update, std::move(key), std::move(extra));
}
EventPtr acct(std::string extra = {}) { return make(EventType::account_update, {}, std::move(extra)); }
EventPtr order(std::string extra = {}) { return make(EventType::order_update, {}, std::move(extra)); }
EventPtr trade(std::string extra = {}) { return make(EventType::trade_executed, {}, std::move(extra)); }

std::string expected_batch_payload(const std::vector<EventPtr>& evs) {
  std::string s(kHead);
  for (std::size_t i = 0; i < evs.size(); ++i) {
    if (i) s += ',';
    s += evs[i]->json();
  }
  s += kTail;
  return s;
}

// Checks out.frame against out.events: a lone event is its own frame
// (shared bytes), more are an exact batch frame.
void expect_frame_matches(const Batcher::Output& out) {
  ASSERT_FALSE(out.events.empty());
  ParsedFrame f = parse_frame(out.frame.view());
  ASSERT_TRUE(f.ok);
  EXPECT_TRUE(f.fin);
  EXPECT_EQ(f.opcode, 0x1u);
  EXPECT_FALSE(f.masked);
  if (out.events.size() == 1) {
    EXPECT_EQ(out.frame.data(), out.events[0]->frame.data()) << "a lone event must be sent bare, shared";
    EXPECT_EQ(f.payload, out.events[0]->json());
  } else {
    EXPECT_EQ(f.payload, expected_batch_payload(out.events));
  }
}

void expect_events(const Batcher::Output& out, const std::vector<EventPtr>& want) {
  ASSERT_EQ(out.events.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(out.events[i], want[i]) << "position " << i;
  expect_frame_matches(out);
}

// ---------------------------------------------------------------------------

TEST(Batcher, WindowZeroSendsEveryEventAtOnceBare) {
  Batcher b(0);
  Batcher::Output out;
  std::vector<EventPtr> evs = {pos("A"), pos("A"), acct(), acct(), order(), trade(), pos("")};
  for (auto& e : evs) {
    ASSERT_TRUE(b.on_event(e, 1000, out));
    expect_events(out, {e});
    EXPECT_EQ(b.pending(), 0u);
    EXPECT_FALSE(b.deadline().has_value());
  }
  EXPECT_EQ(b.coalesced(), 0u);
  EXPECT_FALSE(b.on_timer(5000, out));
}

TEST(Batcher, NegativeWindowIsZero) {
  Batcher b(-5);
  EXPECT_EQ(b.window_ms(), 0);
  Batcher::Output out;
  EXPECT_TRUE(b.on_event(pos("A"), 0, out));
  EXPECT_TRUE(b.on_event(pos("A"), 0, out));
}

TEST(Batcher, HugeWindowAndLimitsAreClamped) {
  // Stored in 32 bits (a worker holds one batcher per user): a window past
  // INT32_MAX ms is INT32_MAX, and limits past UINT32_MAX are UINT32_MAX.
  Batcher b(std::int64_t(1) << 40, {std::size_t(1) << 40, std::size_t(1) << 40});
  EXPECT_EQ(b.window_ms(), INT32_MAX);
  Batcher::Output out;
  EXPECT_TRUE(b.on_event(pos("A"), 1000, out));  // the first event goes at once
  EventPtr second = pos("B");
  EXPECT_FALSE(b.on_event(second, 1001, out));
  EXPECT_EQ(b.deadline(), 1000 + std::int64_t(INT32_MAX));
  EXPECT_TRUE(b.flush(1002, out));
  expect_events(out, {second});
  static_assert(sizeof(void*) != 8 || sizeof(Batcher) <= 64, "a batcher per connected user: keep it small");
}

TEST(Batcher, NullEventIgnored) {
  Batcher b(250);
  Batcher::Output out;
  EXPECT_FALSE(b.on_event(nullptr, 0, out));
  EXPECT_EQ(b.pending(), 0u);
}

TEST(Batcher, FirstEventGoesOutAtOnceBare) {
  Batcher b(250);
  Batcher::Output out;
  auto e = pos("AAPL");
  ASSERT_TRUE(b.on_event(e, 1000, out));
  expect_events(out, {e});
  EXPECT_EQ(e->frame.use_count(), 2u);  // shared with out, not copied
  EXPECT_FALSE(b.deadline().has_value());
}

TEST(Batcher, EventInsideWindowIsHeldUntilDeadlineThenBare) {
  Batcher b(250);
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(pos("A"), 1000, out));
  auto e = pos("B");
  EXPECT_FALSE(b.on_event(e, 1100, out));
  EXPECT_EQ(b.pending(), 1u);
  ASSERT_TRUE(b.deadline().has_value());
  EXPECT_EQ(*b.deadline(), 1250);
  EXPECT_FALSE(b.on_timer(1249, out));  // early: nothing
  EXPECT_EQ(b.pending(), 1u);
  ASSERT_TRUE(b.on_timer(1250, out));
  expect_events(out, {e});
  EXPECT_EQ(b.pending(), 0u);
  EXPECT_EQ(b.pending_bytes(), 0u);
  EXPECT_FALSE(b.deadline().has_value());
  EXPECT_FALSE(b.on_timer(1300, out));  // spurious
}

TEST(Batcher, SeveralHeldEventsGoAsOneBatchFrame) {
  Batcher b(250);
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(pos("A"), 0, out));
  std::vector<EventPtr> held = {pos("B"), acct(), pos("C"), pos("")};
  std::int64_t t = 10;
  for (auto& e : held) EXPECT_FALSE(b.on_event(e, t += 10, out));
  EXPECT_EQ(b.pending(), 4u);
  std::size_t bytes = 0;
  for (auto& e : held) bytes += e->json_size();
  EXPECT_EQ(b.pending_bytes(), bytes);
  EXPECT_EQ(*b.deadline(), 250);
  ASSERT_TRUE(b.on_timer(250, out));
  expect_events(out, held);
  // The exact bytes, spelled out once.
  ParsedFrame f = parse_frame(out.frame.view());
  EXPECT_EQ(f.payload,
            R"({"type":"batch","events":[{"type":"position_update","key":"B"},{"type":"account_update"},)"
            R"({"type":"position_update","key":"C"},{"type":"position_update"}]})");
}

TEST(Batcher, EventAfterAQuietWindowGoesAtOnce) {
  Batcher b(250);
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(pos("A"), 0, out));
  auto e = pos("A");
  ASSERT_TRUE(b.on_event(e, 250, out));  // exactly one window later
  expect_events(out, {e});
  auto e2 = pos("A");
  ASSERT_TRUE(b.on_event(e2, 10000, out));
  expect_events(out, {e2});
}

TEST(Batcher, WindowRestartsAtTheTimerFrame) {
  Batcher b(250);
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(pos("A"), 0, out));
  EXPECT_FALSE(b.on_event(pos("B"), 100, out));
  ASSERT_TRUE(b.on_timer(250, out));
  // A frame went out at 250: an event at 300 waits until 500.
  auto e = pos("C");
  EXPECT_FALSE(b.on_event(e, 300, out));
  EXPECT_EQ(*b.deadline(), 500);
  ASSERT_TRUE(b.on_timer(500, out));
  expect_events(out, {e});
  // Quiet after that: at 750 an event goes at once.
  auto e2 = pos("D");
  ASSERT_TRUE(b.on_event(e2, 750, out));
  expect_events(out, {e2});
}

TEST(Batcher, PositionUpdateCoalescesByKeyInPlace) {
  Batcher b(250);
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(pos("X"), 0, out));
  auto a1 = pos("AAPL", "1"), m1 = pos("MSFT", "1"), a2 = pos("AAPL", "2"), g1 = pos("GOOG"),
       a3 = pos("AAPL", "333");
  EXPECT_FALSE(b.on_event(a1, 1, out));
  EXPECT_FALSE(b.on_event(m1, 2, out));
  EXPECT_FALSE(b.on_event(a2, 3, out));
  EXPECT_FALSE(b.on_event(g1, 4, out));
  EXPECT_FALSE(b.on_event(a3, 5, out));
  EXPECT_EQ(b.pending(), 3u);
  EXPECT_EQ(b.coalesced(), 2u);
  EXPECT_EQ(b.pending_bytes(), a3->json_size() + m1->json_size() + g1->json_size());
  ASSERT_TRUE(b.on_timer(250, out));
  expect_events(out, {a3, m1, g1});  // AAPL keeps its first place with the newest content
}

TEST(Batcher, EmptyKeyNeverCoalesces) {
  Batcher b(250);
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(pos(""), 0, out));
  auto p1 = pos(""), p2 = pos("");
  EXPECT_FALSE(b.on_event(p1, 1, out));
  EXPECT_FALSE(b.on_event(p2, 2, out));
  EXPECT_EQ(b.coalesced(), 0u);
  ASSERT_TRUE(b.on_timer(250, out));
  expect_events(out, {p1, p2});
}

TEST(Batcher, CoalescingStopsAtTheFrame) {
  // An event already written is never replaced; only pending ones are.
  Batcher b(250);
  Batcher::Output out;
  auto a1 = pos("AAPL", "1");
  ASSERT_TRUE(b.on_event(a1, 0, out));
  auto a2 = pos("AAPL", "2");
  EXPECT_FALSE(b.on_event(a2, 10, out));
  ASSERT_TRUE(b.on_timer(250, out));
  expect_events(out, {a2});
  auto a3 = pos("AAPL", "3");
  EXPECT_FALSE(b.on_event(a3, 260, out));
  ASSERT_TRUE(b.on_timer(500, out));
  expect_events(out, {a3});
  EXPECT_EQ(b.coalesced(), 0u);
}

TEST(Batcher, AccountUpdateLatestReplacesInPlace) {
  Batcher b(250);
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(acct("0"), 0, out));
  auto c1 = acct("1"), p = pos("AAPL"), c2 = acct("22"), c3 = acct("333");
  EXPECT_FALSE(b.on_event(c1, 1, out));
  EXPECT_FALSE(b.on_event(p, 2, out));
  EXPECT_FALSE(b.on_event(c2, 3, out));
  EXPECT_FALSE(b.on_event(c3, 4, out));
  EXPECT_EQ(b.coalesced(), 2u);
  ASSERT_TRUE(b.on_timer(250, out));
  expect_events(out, {c3, p});
}

TEST(Batcher, KeysOfDifferentTypesDoNotMix) {
  Batcher b(250);
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(pos("Z"), 0, out));
  // An account_update carrying a key is not a position with that key.
  auto p = pos("K");
  auto a = make(EventType::account_update, "K");
  EXPECT_FALSE(b.on_event(p, 1, out));
  EXPECT_FALSE(b.on_event(a, 2, out));
  EXPECT_EQ(b.coalesced(), 0u);
  ASSERT_TRUE(b.on_timer(250, out));
  expect_events(out, {p, a});
}

TEST(Batcher, OrderFlushesPendingAtOnceTogetherWithItself) {
  Batcher b(250);
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(pos("A"), 0, out));
  auto p1 = pos("B"), c = acct(), o = order();
  EXPECT_FALSE(b.on_event(p1, 10, out));
  EXPECT_FALSE(b.on_event(c, 20, out));
  ASSERT_TRUE(b.on_event(o, 30, out));  // a second frame inside the window
  expect_events(out, {p1, c, o});
  EXPECT_EQ(b.pending(), 0u);
  EXPECT_FALSE(b.deadline().has_value());
  // The window restarts at the order's frame.
  auto p2 = pos("C");
  EXPECT_FALSE(b.on_event(p2, 40, out));
  EXPECT_EQ(*b.deadline(), 280);
  ASSERT_TRUE(b.on_timer(280, out));
  expect_events(out, {p2});
}

TEST(Batcher, OrderAndTradeNeverWaitNorCoalesce) {
  Batcher b(250);
  Batcher::Output out;
  auto o1 = order("1"), o2 = order("1"), t1 = trade("1"), t2 = trade("1");
  for (auto& e : {o1, o2, t1, t2}) {
    ASSERT_TRUE(b.on_event(e, 5, out));  // all in the same millisecond
    expect_events(out, {e});
  }
  EXPECT_EQ(b.coalesced(), 0u);
}

TEST(Batcher, TradeFlushesPendingWithItself) {
  Batcher b(100);
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(trade(), 0, out));
  auto p = pos("A"), t = trade();
  EXPECT_FALSE(b.on_event(p, 1, out));
  ASSERT_TRUE(b.on_event(t, 2, out));
  expect_events(out, {p, t});
}

TEST(Batcher, MaxEventsFlushesEarlyAndTheEventStartsTheNextBatch) {
  Batcher b(250, Batcher::Limits{3, 1 << 20});
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(pos("X"), 0, out));
  auto e1 = pos("1"), e2 = pos("2"), e3 = pos("3"), e4 = pos("4");
  EXPECT_FALSE(b.on_event(e1, 10, out));
  EXPECT_FALSE(b.on_event(e2, 20, out));
  EXPECT_FALSE(b.on_event(e3, 30, out));
  // A replacement does not grow the batch: still held.
  auto e2b = pos("2", "b");
  EXPECT_FALSE(b.on_event(e2b, 35, out));
  ASSERT_TRUE(b.on_event(e4, 40, out));
  expect_events(out, {e1, e2b, e3});
  EXPECT_EQ(b.pending(), 1u);
  EXPECT_EQ(b.pending_bytes(), e4->json_size());
  EXPECT_EQ(*b.deadline(), 290);  // a frame was just written
  ASSERT_TRUE(b.on_timer(290, out));
  expect_events(out, {e4});
}

TEST(Batcher, MaxBytesFlushesEarlyIncludingGrowingReplacement) {
  auto small = pos("S", std::string(10, 's'));
  const std::size_t unit = small->json_size();
  Batcher b(250, Batcher::Limits{100, 3 * unit});
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(pos("X"), 0, out));
  auto e1 = pos("S", std::string(10, 'a')), e2 = pos("T", std::string(10, 'b')),
       e3 = pos("U", std::string(10, 'c'));
  ASSERT_EQ(e1->json_size(), unit);
  EXPECT_FALSE(b.on_event(e1, 1, out));
  EXPECT_FALSE(b.on_event(e2, 2, out));
  EXPECT_FALSE(b.on_event(e3, 3, out));
  EXPECT_EQ(b.pending_bytes(), 3 * unit);  // at the bound, not over
  // Replacing T by a bigger T would exceed: the batch goes as it is.
  auto e2big = pos("T", std::string(30, 'B'));
  ASSERT_TRUE(b.on_event(e2big, 4, out));
  expect_events(out, {e1, e2, e3});
  EXPECT_EQ(b.pending(), 1u);
  EXPECT_EQ(b.coalesced(), 0u);
  ASSERT_TRUE(b.on_timer(254, out));
  expect_events(out, {e2big});
}

TEST(Batcher, LoneEventLargerThanMaxBytesIsHeldAlone) {
  Batcher b(250, Batcher::Limits{10, 16});
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(pos("X"), 0, out));
  auto big = pos("A", std::string(100, 'x'));
  EXPECT_FALSE(b.on_event(big, 1, out));
  auto big2 = pos("B", std::string(100, 'y'));
  ASSERT_TRUE(b.on_event(big2, 2, out));
  expect_events(out, {big});
  ASSERT_TRUE(b.on_timer(252, out));
  expect_events(out, {big2});
}

TEST(Batcher, UrgentFlushMayExceedTheBoundsByItself) {
  Batcher b(250, Batcher::Limits{2, 1 << 20});
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(pos("X"), 0, out));
  auto e1 = pos("1"), e2 = pos("2"), o = order();
  EXPECT_FALSE(b.on_event(e1, 1, out));
  EXPECT_FALSE(b.on_event(e2, 2, out));
  ASSERT_TRUE(b.on_event(o, 3, out));
  expect_events(out, {e1, e2, o});
}

TEST(Batcher, ZeroMaxEventsActsAsOne) {
  Batcher b(250, Batcher::Limits{0, 1 << 20});
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(pos("X"), 0, out));
  auto e1 = pos("1"), e2 = pos("2");
  EXPECT_FALSE(b.on_event(e1, 1, out));
  ASSERT_TRUE(b.on_event(e2, 2, out));
  expect_events(out, {e1});
  EXPECT_EQ(b.pending(), 1u);
}

TEST(Batcher, LateTimerEventJoinsAndEverythingGoesNow) {
  Batcher b(250);
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(pos("A"), 0, out));
  auto e1 = pos("B"), e2 = pos("C");
  EXPECT_FALSE(b.on_event(e1, 100, out));
  // The timer has not fired yet at 260 (late): the new event joins and all go.
  ASSERT_TRUE(b.on_event(e2, 260, out));
  expect_events(out, {e1, e2});
  EXPECT_FALSE(b.deadline().has_value());
}

TEST(Batcher, LateTimerStillFlushes) {
  Batcher b(250);
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(pos("A"), 0, out));
  auto e1 = pos("B");
  EXPECT_FALSE(b.on_event(e1, 100, out));
  ASSERT_TRUE(b.on_timer(900, out));
  expect_events(out, {e1});
  // The window counts from the late frame.
  EXPECT_FALSE(b.on_event(pos("C"), 1000, out));
  EXPECT_EQ(*b.deadline(), 1150);
}

TEST(Batcher, TimeGoingBackwardsNeverStretchesTheWait) {
  Batcher b(250);
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(pos("A"), 10000, out));
  EXPECT_FALSE(b.on_event(pos("B"), 5000, out));
  ASSERT_TRUE(b.deadline().has_value());
  EXPECT_EQ(*b.deadline(), 5250);
  EXPECT_TRUE(b.on_timer(5250, out));
}

TEST(Batcher, FlushAndDiscard) {
  Batcher b(250);
  Batcher::Output out;
  EXPECT_FALSE(b.flush(0, out));
  ASSERT_TRUE(b.on_event(pos("A"), 0, out));
  auto e1 = pos("B"), e2 = pos("C");
  EXPECT_FALSE(b.on_event(e1, 1, out));
  EXPECT_FALSE(b.on_event(e2, 2, out));
  ASSERT_TRUE(b.flush(3, out));
  expect_events(out, {e1, e2});
  EXPECT_FALSE(b.on_event(pos("D"), 4, out));  // window restarted at 3
  EXPECT_FALSE(b.on_event(pos("E"), 5, out));
  EXPECT_EQ(b.discard(), 2u);
  EXPECT_EQ(b.pending(), 0u);
  EXPECT_EQ(b.pending_bytes(), 0u);
  EXPECT_FALSE(b.deadline().has_value());
  EXPECT_FALSE(b.on_timer(1000, out));
}

TEST(Batcher, OutputIsOverwrittenNotAppended) {
  Batcher b(250);
  Batcher::Output out;
  out.events = {pos("stale"), pos("stale")};
  auto e = pos("A");
  ASSERT_TRUE(b.on_event(e, 0, out));
  expect_events(out, {e});
}

TEST(Batcher, IdleBatcherReleasesEvents) {
  // After a flush the batcher keeps no reference to the events.
  Batcher b(250);
  Batcher::Output out;
  ASSERT_TRUE(b.on_event(pos("A"), 0, out));
  auto e1 = pos("B"), e2 = pos("C");
  EXPECT_FALSE(b.on_event(e1, 1, out));
  EXPECT_FALSE(b.on_event(e2, 2, out));
  ASSERT_TRUE(b.on_timer(250, out));
  out = Batcher::Output{};
  EXPECT_EQ(e1.use_count(), 1);
  EXPECT_EQ(e2.use_count(), 1);
}

TEST(Batcher, MakeBatchFrameHeaderSizes) {
  // Payloads around the 126 / 65536 header boundaries.
  for (std::size_t pad : {0, 10, 40, 60, 33000, 70000}) {
    std::vector<EventPtr> evs = {pos("A", std::string(pad, 'p')), acct()};
    SharedBytes f = make_batch_frame(evs);
    ParsedFrame pf = parse_frame(f.view());
    ASSERT_TRUE(pf.ok) << pad;
    EXPECT_TRUE(pf.fin);
    EXPECT_EQ(pf.opcode, 0x1u);
    EXPECT_EQ(pf.payload, expected_batch_payload(evs));
    const std::size_t n = pf.payload.size();
    EXPECT_EQ(pf.header, n < 126 ? 2u : n <= 0xffff ? 4u : 10u);
  }
}

TEST(Batcher, MakeBatchFrameEdgeCounts) {
  EXPECT_EQ(parse_frame(make_batch_frame({}).view()).payload, R"({"type":"batch","events":[]})");
  auto e = pos("A");
  EXPECT_EQ(parse_frame(make_batch_frame({e}).view()).payload,
            R"({"type":"batch","events":[{"type":"position_update","key":"A"}]})");
}

// ---------------------------------------------------------------------------
// Randomized properties.

struct SimConfig {
  std::uint32_t seed;
  std::int64_t window;
  std::int64_t jitter;  // timer fires up to this late
  Batcher::Limits limits;
  int events;
};

struct FrameRecord {
  std::int64_t time;
  std::vector<std::size_t> seqs;
  bool from_event;      // written by on_event (else by on_timer)
  std::size_t trigger;  // the seq on_event was called with
  bool urgent;          // contains an order/trade event
};

bool urgent_type(EventType t) { return t == EventType::order_update || t == EventType::trade_executed; }

// "" when the event never coalesces.
std::string coalescing_key(const PublishedEvent& e) {
  if (e.type == EventType::position_update) return e.key.empty() ? std::string() : "P:" + e.key;
  if (e.type == EventType::account_update) return "A";
  return {};
}

void run_simulation(const SimConfig& cfg) {
  SCOPED_TRACE(testing::Message() << "seed=" << cfg.seed << " window=" << cfg.window
                                  << " jitter=" << cfg.jitter << " max_events=" << cfg.limits.max_events
                                  << " max_bytes=" << cfg.limits.max_bytes);
  std::mt19937 rng(cfg.seed);
  auto uni = [&rng](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  const std::int64_t W = cfg.window;
  const char* keys[] = {"", "AAPL", "MSFT", "GOOG", "TSLA", "NVDA", "AMZN"};

  Batcher b(W, cfg.limits);
  std::vector<EventPtr> events;
  std::vector<std::int64_t> published_at;
  std::unordered_map<const PublishedEvent*, std::size_t> seq_of;
  std::vector<FrameRecord> frames;
  std::vector<std::size_t> frames_before(cfg.events), frames_after(cfg.events);
  Batcher::Output out;

  auto record = [&](std::int64_t t, bool from_event, std::size_t trigger) {
    expect_frame_matches(out);
    FrameRecord r{t, {}, from_event, trigger, false};
    for (auto& e : out.events) {
      auto it = seq_of.find(e.get());
      ASSERT_NE(it, seq_of.end());
      r.seqs.push_back(it->second);
      r.urgent = r.urgent || urgent_type(e->type);
    }
    frames.push_back(std::move(r));
  };
  // Fires the timer (late by up to jitter) while it is due before `until`.
  auto run_timers = [&](std::int64_t until) {
    while (auto d = b.deadline()) {
      const std::int64_t fire = *d + (cfg.jitter ? uni(0, cfg.jitter) : 0);
      if (fire > until) break;
      ASSERT_TRUE(b.on_timer(fire, out));
      record(fire, false, 0);
    }
  };

  std::int64_t now = 1'000'000;
  for (int i = 0; i < cfg.events; ++i) {
    // Timing: bursts in the same millisecond, fast streams, pauses.
    const int r = int(uni(0, 99));
    if (r < 35) {
    } else if (r < 70) {
      now += uni(1, std::max<std::int64_t>(1, W / 4));
    } else if (r < 92) {
      now += uni(1, std::max<std::int64_t>(1, W));
    } else {
      now += uni(1, 3 * W + 10);
    }
    const int k = int(uni(0, 99));
    EventType type = k < 60   ? EventType::position_update
                     : k < 80 ? EventType::account_update
                     : k < 90 ? EventType::order_update
                              : EventType::trade_executed;
    std::string key = type == EventType::position_update ? keys[uni(0, 6)] : "";
    auto ev = make(type, key, std::to_string(i) + std::string(std::size_t(uni(0, 40)), 'p'));
    seq_of[ev.get()] = std::size_t(i);
    events.push_back(ev);
    published_at.push_back(now);

    // Timers due strictly before now fire first; one due exactly now may
    // fire before or after the event.
    run_timers(now - 1);
    if (uni(0, 1)) run_timers(now);

    const bool quiet = b.pending() == 0 && (frames.empty() || now - frames.back().time >= W);
    frames_before[i] = frames.size();
    if (b.on_event(ev, now, out)) record(now, true, std::size_t(i));
    frames_after[i] = frames.size();
    if (quiet || urgent_type(type)) {
      // A quiet user's event, and any order/trade, goes out at once.
      ASSERT_EQ(frames_after[i], frames_before[i] + 1) << "event " << i;
      EXPECT_EQ(frames.back().seqs.back(), std::size_t(i));
      if (quiet) {
        EXPECT_EQ(frames.back().seqs.size(), 1u);
      }
    }
    if (W == 0) {
      ASSERT_EQ(b.pending(), 0u);
    }
    // Bounds on what is held.
    if (b.pending() > 1) {
      EXPECT_LE(b.pending(), cfg.limits.max_events);
      EXPECT_LE(b.pending_bytes(), cfg.limits.max_bytes);
    }
  }
  run_timers(now + 100 * W + 1000);
  ASSERT_EQ(b.pending(), 0u);

  // --- exactly once, unless replaced by a newer pending event of the same key
  const std::size_t n = events.size();
  std::vector<int> delivered(n, 0);
  for (auto& f : frames)
    for (auto s : f.seqs) ++delivered[s];
  std::vector<std::size_t> slot(n);
  for (std::size_t i = 0; i < n; ++i) slot[i] = i;
  std::uint64_t replaced = 0;
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_LE(delivered[i], 1) << "event " << i << " delivered twice";
    if (delivered[i] == 1) continue;
    ++replaced;
    const std::string ck = coalescing_key(*events[i]);
    ASSERT_FALSE(ck.empty()) << "event " << i << " of a never-coalescing kind was lost";
    std::size_t next = i + 1;
    while (next < n && coalescing_key(*events[next]) != ck) ++next;
    ASSERT_LT(next, n) << "event " << i << " lost without a newer one of its key";
    // It was held (its own call wrote at most a bound flush of the batch
    // before it), and no frame at all went out before its replacement came.
    EXPECT_LE(frames_after[i], frames_before[i] + 1) << "event " << i;
    EXPECT_EQ(frames_before[next], frames_after[i]) << "event " << i << " replaced across a frame";
    slot[next] = slot[i];  // the newer one takes its place
  }
  EXPECT_EQ(b.coalesced(), replaced);
  if (W == 0) {
    EXPECT_EQ(replaced, 0u);
  }

  // --- order: slots strictly increasing over all frames
  std::size_t last_slot = 0;
  bool first = true;
  for (auto& f : frames) {
    for (auto s : f.seqs) {
      if (!first) {
        ASSERT_LT(last_slot, slot[s]) << "order broken at event " << s;
      }
      last_slot = slot[s];
      first = false;
    }
  }

  // --- timing: at most one frame per window, no event waits past the window
  for (std::size_t j = 0; j < frames.size(); ++j) {
    const FrameRecord& f = frames[j];
    for (auto s : f.seqs) {
      const std::int64_t waited = f.time - published_at[slot[s]];
      EXPECT_GE(waited, 0);
      EXPECT_LE(waited, W + cfg.jitter) << "event " << s;
      if (urgent_type(events[s]->type)) {
        EXPECT_EQ(f.time, published_at[s]);
      }
    }
    std::size_t bytes = 0;
    for (auto s : f.seqs) bytes += events[s]->json_size();
    const bool bound_flush = f.from_event && !urgent_type(events[f.trigger]->type) &&
                             std::find(f.seqs.begin(), f.seqs.end(), f.trigger) == f.seqs.end();
    if (bound_flush) {
      // Only when holding the trigger would exceed a bound.
      EXPECT_TRUE(f.seqs.size() + 1 > cfg.limits.max_events ||
                  bytes + events[f.trigger]->json_size() > cfg.limits.max_bytes)
          << "frame " << j;
    }
    if (j > 0 && W > 0 && !f.urgent && !bound_flush) {
      EXPECT_GE(f.time - frames[j - 1].time, W) << "two frames in one window, frame " << j;
    }
    // Frame size bounds (an urgent flush may exceed them by its last event).
    const std::size_t extra_events = f.urgent ? 1 : 0;
    const std::size_t extra_bytes = f.urgent ? events[f.seqs.back()]->json_size() : 0;
    if (f.seqs.size() > 1) {
      EXPECT_LE(f.seqs.size(), cfg.limits.max_events + extra_events);
      EXPECT_LE(bytes, cfg.limits.max_bytes + extra_bytes);
    }
  }
}

TEST(Batcher, RandomizedProperties) {
  const Batcher::Limits big{1u << 20, 1u << 30};
  for (std::uint32_t seed = 1; seed <= 6; ++seed) {
    for (std::int64_t w : {0, 1, 50, 250}) {
      run_simulation({seed, w, 0, big, 4000});
      if (HasFatalFailure()) return;
    }
  }
}

TEST(Batcher, RandomizedPropertiesLateTimers) {
  const Batcher::Limits big{1u << 20, 1u << 30};
  for (std::uint32_t seed = 100; seed <= 104; ++seed) {
    run_simulation({seed, 250, 7, big, 4000});
    if (HasFatalFailure()) return;
  }
}

TEST(Batcher, RandomizedPropertiesTightBounds) {
  for (std::uint32_t seed = 200; seed <= 205; ++seed) {
    run_simulation({seed, 250, 0, Batcher::Limits{4, 1u << 20}, 4000});
    if (HasFatalFailure()) return;
    run_simulation({seed, 250, 0, Batcher::Limits{256, 300}, 4000});
    if (HasFatalFailure()) return;
    run_simulation({seed, 100, 3, Batcher::Limits{3, 200}, 4000});
    if (HasFatalFailure()) return;
  }
}

TEST(Batcher, RandomizedPropertiesDefaults) {
  for (std::uint32_t seed = 300; seed <= 302; ++seed) {
    run_simulation({seed, 250, 0, Batcher::Limits{}, 5000});
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace ps
