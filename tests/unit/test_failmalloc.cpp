// Allocation failure in the join path (issue 15): the module's hub attach
// cannot run outside nginx, but the src/ containers it grows can. This file
// (its own binary, ps_failmalloc_tests, so the replacement below touches no
// other test) replaces the global operator new/delete with a counting
// version that throws std::bad_alloc at the Nth allocation while armed, in
// the spirit of nghttp2's failmalloc test. For every N up to the number of
// allocations an operation makes, the operation is run with allocation N
// failing, and the object must be consistent afterwards: nothing half-made,
// counts right, later operations work.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <new>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "batcher.h"
#include "event.h"
#include "subscription_table.h"

// ---- the hook --------------------------------------------------------------------
// operator new covers the containers; src/ also calls std::malloc directly
// (SharedBytes, so every frame), which the link option -Wl,--wrap=malloc of
// this binary routes to __wrap_malloc for the code linked into it (not for
// shared libraries such as libstdc++ or zlib).

namespace failmalloc {
bool armed = false;
long fail_at = -1;  // index (from 0) of the allocation to fail while armed
long seen = 0;      // allocations while armed
bool injected = false;
}  // namespace failmalloc

extern "C" void* __real_malloc(std::size_t n);
extern "C" void* __wrap_malloc(std::size_t n);

namespace {

bool inject() {
  if (!failmalloc::armed) return false;
  if (failmalloc::seen++ == failmalloc::fail_at) {
    failmalloc::injected = true;
    return true;
  }
  return false;
}

void* plain_alloc(std::size_t n) { return __real_malloc(n == 0 ? 1 : n); }

}  // namespace

extern "C" void* __wrap_malloc(std::size_t n) { return inject() ? nullptr : __real_malloc(n); }

namespace {

void* aligned(std::size_t n, std::align_val_t a) {
  const std::size_t al = std::max(static_cast<std::size_t>(a), sizeof(void*));
  return std::aligned_alloc(al, (std::max<std::size_t>(n, 1) + al - 1) / al * al);
}

}  // namespace

void* operator new(std::size_t n) {
  if (inject()) throw std::bad_alloc();
  if (void* p = plain_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return inject() ? nullptr : plain_alloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return inject() ? nullptr : plain_alloc(n);
}
void* operator new(std::size_t n, std::align_val_t a) {
  if (inject()) throw std::bad_alloc();
  if (void* p = aligned(n, a)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return ::operator new(n, a); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return inject() ? nullptr : aligned(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return inject() ? nullptr : aligned(n, a);
}
// GCC warns about free() on memory from operator new, which is what these are for.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace ps {
namespace {

enum class Run { ok, threw };

// Runs f with allocation number n (from 0) failing; n < 0: none fails.
template <class F>
Run with_failure(long n, F&& f) {
  failmalloc::seen = 0;
  failmalloc::fail_at = n;
  failmalloc::injected = false;
  failmalloc::armed = true;
  Run r = Run::ok;
  try {
    f();
  } catch (const std::bad_alloc&) {
    r = Run::threw;
  }
  failmalloc::armed = false;
  return r;
}

// Allocations f makes (none failing).
template <class F>
long allocations(F&& f) {
  with_failure(-1, f);
  return failmalloc::seen;
}

int* volatile g_keep;  // keeps the compiler from eliding new/delete pairs

TEST(FailMalloc, HookWorks) {
  EXPECT_EQ(allocations([] { delete (g_keep = new int(1)); }), 1);
  EXPECT_EQ(with_failure(0, [] { delete (g_keep = new int(1)); }), Run::threw);
  EXPECT_TRUE(failmalloc::injected);
  EXPECT_EQ(with_failure(1, [] { delete (g_keep = new int(1)); }), Run::ok);
  EXPECT_FALSE(failmalloc::injected);
  with_failure(0, [] { g_keep = new (std::nothrow) int(2); });
  EXPECT_EQ(g_keep, nullptr);
  // std::malloc in src/ (SharedBytes) fails too.
  EXPECT_EQ(with_failure(0, [] { SharedBytes::allocate(100); }), Run::threw);
  EXPECT_EQ(allocations([] { SharedBytes::allocate(100); }), 1);
  // Disarmed: nothing fails, nothing is counted.
  failmalloc::fail_at = 0;
  failmalloc::seen = 0;
  std::string s(1000, 'x');
  EXPECT_EQ(failmalloc::seen, 0);
}

// ---- SubscriptionTable ------------------------------------------------------------------

struct Local {
  std::string note;  // the glue's state may allocate too
};
using Table = SubscriptionTable<Local>;

// Long enough to live on the heap (no small-string optimisation).
std::string channel(int i) { return "portfolio:user:failmalloc-long-channel-name-" + std::to_string(i); }

using EntryState = std::tuple<std::string, std::size_t, bool, bool>;  // channel, refs, confirmed, in_flight
struct TableState {
  std::vector<EntryState> entries;  // sorted
  std::size_t size, live;
  bool link_up;
  std::uint64_t unexpected;
  bool operator==(const TableState& o) const {
    return std::tie(entries, size, live, link_up, unexpected) ==
           std::tie(o.entries, o.size, o.live, o.link_up, o.unexpected);
  }
};

TableState state(Table& t) {
  TableState s{{}, t.size(), t.live_count(), t.link_up(), t.unexpected_replies()};
  t.for_each(
      [&](Table::Entry& e) { s.entries.emplace_back(e.channel(), e.refs(), e.confirmed(), e.in_flight()); });
  std::sort(s.entries.begin(), s.entries.end());
  return s;
}

void expect_consistent(Table& t) {
  std::size_t live = 0;
  std::size_t n = 0;
  t.for_each([&](Table::Entry& e) {
    ++n;
    live += e.live() ? 1 : 0;
    EXPECT_TRUE(e.refs() > 0 || e.in_flight() || e.confirmed()) << e.channel();
    EXPECT_EQ(t.find(e.channel()), &e);
  });
  EXPECT_EQ(n, t.size());
  EXPECT_EQ(live, t.live_count());
}

// A table with `n` channels in mixed states: live, subscribing, one ref or two.
void fill(Table& t, int n, bool link_up) {
  if (link_up) t.resubscribe_all();
  for (int i = 0; i < n; ++i) {
    auto [e, cmd] = t.acquire(channel(i));
    if (i % 3 == 0) t.acquire(channel(i));
    if (link_up && i % 2 == 0) t.on_subscribed(e->channel());
  }
}

// Releases everything and answers every reply: the table must end empty.
void drain(Table& t) {
  std::vector<Table::Entry*> refs;
  t.for_each([&](Table::Entry& e) {
    for (std::size_t i = 0; i < e.refs(); ++i) refs.push_back(&e);
  });
  std::vector<std::string> unsub;
  for (Table::Entry* e : refs) {
    const std::string ch(e->channel());
    if (t.release(e) == Table::Command::unsubscribe) unsub.push_back(ch);
  }
  std::vector<std::string> in_flight;
  t.for_each([&](Table::Entry& e) {
    if (e.in_flight()) in_flight.emplace_back(e.channel());
  });
  for (const auto& ch : in_flight) {
    Table::Entry* e = t.find(ch);
    if (e && e->confirmed()) {
      t.on_unsubscribed(ch);
    } else if (e) {
      auto r = t.on_subscribed(ch);
      if (r.command == Table::Command::unsubscribe) t.on_unsubscribed(ch);
    }
  }
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.live_count(), 0u);
}

TEST(FailMalloc, AcquireNewChannelAtEveryAllocation) {
  long cases = 0;
  for (const bool link_up : {false, true}) {
    // 0..40 existing entries: some acquire crosses a rehash threshold.
    for (int existing = 0; existing <= 40; ++existing) {
      for (long n = 0;; ++n) {
        SCOPED_TRACE(testing::Message()
                     << "link_up " << link_up << ", " << existing << " entries, allocation #" << n);
        Table t;
        fill(t, existing, link_up);
        const TableState before = state(t);
        const std::string ch = channel(1000);
        std::pair<Table::Entry*, Table::Command> r{};
        if (with_failure(n, [&] { r = t.acquire(ch); }) == Run::ok) {
          // n is past the last allocation: done with this table.
          ASSERT_FALSE(failmalloc::injected);
          ASSERT_NE(r.first, nullptr);
          EXPECT_EQ(r.first->refs(), 1u);
          EXPECT_EQ(r.second, link_up ? Table::Command::subscribe : Table::Command::none);
          // One block per entry (object, chain link and channel bytes), one
          // more when the buckets grow (16 -> 32 at the 17th entry).
          EXPECT_EQ(n, existing == 0 || existing == 16 || existing == 32 ? 2 : 1)
              << "allocations of one acquire";
          break;
        }
        ++cases;
        // Nothing half-made: the table is exactly as before.
        EXPECT_EQ(state(t), before);
        EXPECT_EQ(t.find(ch), nullptr);
        expect_consistent(t);
        // Later operations work: the same join succeeds, and the entry counts.
        auto again = t.acquire(ch);
        ASSERT_NE(again.first, nullptr);
        EXPECT_EQ(again.first->refs(), 1u);
        EXPECT_EQ(again.second, link_up ? Table::Command::subscribe : Table::Command::none);
        EXPECT_EQ(t.size(), before.size + 1);
        if (link_up) {
          auto sub = t.on_subscribed(ch);
          EXPECT_EQ(sub.became_live, again.first);
          EXPECT_EQ(t.live_count(), before.live + 1);
        }
        expect_consistent(t);
        drain(t);
        if (HasFailure()) return;
      }
    }
  }
  std::cout << cases << " failed acquires checked\n";
  EXPECT_EQ(cases, 2 * (41 + 3));  // every allocation of every acquire above failed once
}

TEST(FailMalloc, AcquireExistingAndEverythingElseAllocateNothing) {
  Table t;
  fill(t, 10, true);
  const std::string c1 = channel(1), c3 = channel(3), c50 = channel(50);
  Table::Entry* e = t.find(c1);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(allocations([&] { t.acquire(c1); }), 0);
  EXPECT_EQ(allocations([&] { t.release(e); }), 0);
  EXPECT_EQ(allocations([&] { t.find(c3); }), 0);
  // A confirmation, an unsubscribe round trip, a lost link: no allocation, so
  // no bad_alloc can leave them half-done.
  auto [f, cmd] = t.acquire(c50);
  ASSERT_EQ(cmd, Table::Command::subscribe);
  EXPECT_EQ(allocations([&] { t.on_subscribed(c50); }), 0);
  Table::Command unsub = Table::Command::none;
  EXPECT_EQ(allocations([&] { unsub = t.release(f); }), 0);
  EXPECT_EQ(unsub, Table::Command::unsubscribe);
  EXPECT_EQ(allocations([&] { t.on_unsubscribed(c50); }), 0);
  EXPECT_EQ(allocations([&] { t.on_subscribed("portfolio:user:nobody"); }), 0);
  EXPECT_EQ(allocations([&] { t.on_connection_lost(); }), 0);
  expect_consistent(t);
  drain(t);
}

TEST(FailMalloc, ResubscribeAllAtEveryAllocation) {
  for (long n = 0;; ++n) {
    SCOPED_TRACE(testing::Message() << "allocation #" << n);
    Table t;
    fill(t, 20, true);
    t.on_connection_lost();  // the link went down: 20 wanted channels to subscribe again
    const TableState before = state(t);
    std::vector<std::string> out;
    if (with_failure(n, [&] { out = t.resubscribe_all(); }) == Run::ok) {
      EXPECT_EQ(out.size(), 20u);
      break;
    }
    // Nothing marked in flight for commands the caller never got.
    EXPECT_EQ(state(t), before);
    EXPECT_FALSE(t.link_up());
    // A retry returns every wanted channel; their confirmations make them live.
    out = t.resubscribe_all();
    ASSERT_EQ(out.size(), 20u);
    for (const auto& ch : out) EXPECT_NE(t.on_subscribed(ch).became_live, nullptr) << ch;
    EXPECT_EQ(t.live_count(), 20u);
    expect_consistent(t);
    drain(t);
    if (HasFailure()) return;
  }
}

// ---- Batcher ------------------------------------------------------------------------------

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

EventPtr make(EventType t, const std::string& key, int seq) {
  std::string json = std::string(R"({"type":")") + type_name(t) + "\"";
  if (!key.empty()) json += R"(,"key":")" + key + "\"";
  json += R"(,"seq":)" + std::to_string(seq) + "}";
  EventInfo i;
  i.type = t;
  i.channel = t == EventType::position_update  ? Channel::positions
              : t == EventType::account_update ? Channel::account
              : t == EventType::order_update   ? Channel::orders
                                               : Channel::trades;
  i.key = key;
  return make_event(json, i);
}

// The coalescing slot of an event ("" = none), as batcher.h defines it.
std::string slot_of(const PublishedEvent& e) {
  if (e.type == EventType::position_update && !e.key.empty()) return "p:" + e.key;
  if (e.type == EventType::account_update) return "a";
  return "";
}

struct Step {
  std::int64_t t;
  EventPtr ev;  // null: a timer call
};

// Every path of on_event: bare, held, coalesced in place, a late timer, an
// urgent flush, a bound flush (max_events 4), an empty-key position.
std::vector<Step> scenario() {
  using T = EventType;
  std::vector<Step> s;
  int seq = 0;
  auto ev = [&](std::int64_t t, T type, const char* key) { s.push_back({t, make(type, key, seq++)}); };
  ev(0, T::position_update, "AAPL");    // bare
  ev(10, T::position_update, "MSFT");   // held
  ev(20, T::position_update, "AAPL");   // held
  ev(30, T::position_update, "MSFT");   // coalesced
  ev(40, T::account_update, "");        // held
  ev(50, T::account_update, "");        // coalesced
  ev(60, T::order_update, "o1");        // urgent: the 3 pending and it, one batch frame
  ev(70, T::position_update, "IBM");    // held
  ev(80, T::position_update, "");       // held, never coalesced
  ev(90, T::position_update, "");       //
  ev(95, T::position_update, "TSLA");   // 4 pending
  ev(96, T::position_update, "NVDA");   // over max_events: the 4 go, NVDA pending
  s.push_back({200, nullptr});          // timer
  ev(210, T::trade_executed, "");       // urgent, nothing pending (bare)
  ev(220, T::position_update, "AAPL");  // held
  ev(600, T::position_update, "GOOG");  // the timer is late: goes at once with AAPL
  ev(610, T::position_update, "AMZN");  // held
  ev(620, T::order_update, "o2");       // urgent: a batch of 2
  return s;
}

struct Delivery {
  std::vector<EventPtr> events;  // every event written, in order
  void take(const Batcher::Output& out) {
    // The frame carries exactly these events.
    ASSERT_FALSE(out.events.empty());
    if (out.events.size() == 1) {
      EXPECT_EQ(out.frame.data(), out.events.front()->frame.data());
    } else {
      EXPECT_EQ(out.frame.view(), make_batch_frame(out.events).view());
    }
    events.insert(events.end(), out.events.begin(), out.events.end());
  }
};

// pending_bytes and deadline agree with what a flush of a copy would write.
void expect_consistent(const Batcher& b) {
  Batcher copy = b;
  EXPECT_EQ(b.deadline().has_value(), b.pending() > 0);
  Batcher::Output out;
  const bool any = copy.flush(1000000, out);
  EXPECT_EQ(any, b.pending() > 0);
  std::size_t bytes = 0;
  if (any) {
    EXPECT_EQ(out.events.size(), b.pending());
    for (const auto& e : out.events) bytes += e->json_size();
  }
  EXPECT_EQ(bytes, b.pending_bytes());
  EXPECT_EQ(copy.pending(), 0u);
  EXPECT_EQ(copy.pending_bytes(), 0u);
}

TEST(FailMalloc, BatcherOnEventAtEveryAllocation) {
  const std::vector<Step> steps = scenario();
  BatchLimits limits;
  limits.max_events = 4;
  long cases = 0;
  for (std::size_t s = 0; s < steps.size(); ++s) {
    if (!steps[s].ev) continue;
    for (long n = 0;; ++n) {
      SCOPED_TRACE(testing::Message() << "step " << s << ", allocation #" << n);
      Batcher b(100, limits);
      Delivery got;
      Batcher::Output out;
      for (std::size_t i = 0; i < s; ++i) {
        const bool wrote =
            steps[i].ev ? b.on_event(steps[i].ev, steps[i].t, out) : b.on_timer(steps[i].t, out);
        if (wrote) got.take(out);
      }
      bool wrote = false;
      if (with_failure(n, [&] { wrote = b.on_event(steps[s].ev, steps[s].t, out); }) == Run::ok) {
        break;  // past the step's last allocation
      }
      ++cases;
      expect_consistent(b);
      // Later operations work, and nothing is duplicated or lost except the
      // failed event itself (or events a later one replaced).
      for (std::size_t i = s + 1; i < steps.size(); ++i) {
        wrote = steps[i].ev ? b.on_event(steps[i].ev, steps[i].t, out) : b.on_timer(steps[i].t, out);
        if (wrote) got.take(out);
        expect_consistent(b);
      }
      if (b.flush(100000, out)) got.take(out);
      EXPECT_EQ(b.pending(), 0u);
      EXPECT_EQ(b.pending_bytes(), 0u);
      EXPECT_FALSE(b.deadline());
      std::set<const PublishedEvent*> seen;
      for (const auto& e : got.events)
        EXPECT_TRUE(seen.insert(e.get()).second) << "written twice: " << e->json();
      for (std::size_t i = 0; i < steps.size(); ++i) {
        if (!steps[i].ev || i == s || seen.count(steps[i].ev.get())) continue;
        // Lost: only allowed when a later event of the same slot was written.
        const std::string slot = slot_of(*steps[i].ev);
        bool replaced = false;
        for (std::size_t j = i + 1; j < steps.size() && !slot.empty(); ++j) {
          replaced =
              replaced || (steps[j].ev && slot_of(*steps[j].ev) == slot && seen.count(steps[j].ev.get()));
        }
        EXPECT_TRUE(replaced) << "lost: " << steps[i].ev->json();
      }
      if (HasFailure()) return;
    }
  }
  std::cout << cases << " failed on_event calls checked\n";
  EXPECT_GT(cases, 10);
}

TEST(FailMalloc, BatcherTimerAndFlushAtEveryAllocation) {
  // Three pending events; the batch frame allocation fails: all stay pending.
  for (const bool timer : {true, false}) {
    for (long n = 0;; ++n) {
      SCOPED_TRACE(testing::Message() << (timer ? "on_timer" : "flush") << ", allocation #" << n);
      Batcher b(100);
      Batcher::Output out;
      ASSERT_TRUE(b.on_event(make(EventType::position_update, "A", 0), 0, out));
      for (int i = 1; i <= 3; ++i)
        ASSERT_FALSE(b.on_event(make(EventType::position_update, "K" + std::to_string(i), i), i, out));
      const std::size_t bytes = b.pending_bytes();
      bool wrote = false;
      if (with_failure(n, [&] { wrote = timer ? b.on_timer(150, out) : b.flush(150, out); }) == Run::ok) {
        EXPECT_TRUE(wrote);
        EXPECT_EQ(out.events.size(), 3u);
        break;
      }
      EXPECT_EQ(b.pending(), 3u);
      EXPECT_EQ(b.pending_bytes(), bytes);
      EXPECT_EQ(b.deadline(), std::optional<std::int64_t>(100));
      expect_consistent(b);
      ASSERT_TRUE(b.on_timer(150, out));
      EXPECT_EQ(out.events.size(), 3u);
      EXPECT_EQ(b.pending(), 0u);
    }
  }
}

}  // namespace
}  // namespace ps
