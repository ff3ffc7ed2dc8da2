#include "subscription_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace ps {
namespace {

struct Local {
  int connections = 0;
  std::vector<int> ids;
};

using Table = SubscriptionTable<Local>;
using Cmd = Table::Command;

// Brings the link up (the pub/sub connection is ready) with nothing wanted.
void link_up(Table& t) { EXPECT_TRUE(t.resubscribe_all().empty()); }

TEST(SubscriptionTable, SubscribeOnFirstReferenceUnsubscribeAfterLast) {
  Table t;
  link_up(t);
  auto [e, c] = t.acquire("portfolio:user:u1");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(c, Cmd::subscribe);
  EXPECT_EQ(e->channel(), "portfolio:user:u1");
  EXPECT_FALSE(e->live());
  EXPECT_EQ(e->refs(), 1u);
  EXPECT_EQ(t.live_count(), 0u);

  auto [e2, c2] = t.acquire("portfolio:user:u1");  // second tab, SUBSCRIBE in flight
  EXPECT_EQ(e2, e);
  EXPECT_EQ(c2, Cmd::none);
  EXPECT_EQ(e->refs(), 2u);

  auto r = t.on_subscribed("portfolio:user:u1");
  EXPECT_EQ(r.became_live, e);
  EXPECT_EQ(r.command, Cmd::none);
  EXPECT_TRUE(e->live());
  EXPECT_EQ(t.live_count(), 1u);
  EXPECT_EQ(t.find("portfolio:user:u1"), e);

  auto [e3, c3] = t.acquire("portfolio:user:u1");  // joins a live entry: no command, live at once
  EXPECT_EQ(e3, e);
  EXPECT_EQ(c3, Cmd::none);
  EXPECT_TRUE(e3->live());

  EXPECT_EQ(t.release(e), Cmd::none);
  EXPECT_EQ(t.release(e), Cmd::none);
  EXPECT_EQ(t.release(e), Cmd::unsubscribe);
  EXPECT_EQ(t.size(), 1u);  // until the reply
  EXPECT_FALSE(e->live());
  EXPECT_EQ(t.live_count(), 0u);
  EXPECT_EQ(t.on_unsubscribed("portfolio:user:u1"), Cmd::none);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.find("portfolio:user:u1"), nullptr);
  EXPECT_EQ(t.unexpected_replies(), 0u);
}

TEST(SubscriptionTable, LinkDownInitiallyNoCommandsUntilResubscribeAll) {
  Table t;
  EXPECT_FALSE(t.link_up());
  auto [a, ca] = t.acquire("a");
  auto [b, cb] = t.acquire("b");
  auto [c, cc] = t.acquire("c");
  EXPECT_EQ(ca, Cmd::none);
  EXPECT_EQ(cb, Cmd::none);
  EXPECT_EQ(cc, Cmd::none);
  EXPECT_EQ(t.release(c), Cmd::none);  // link down: erased at once
  EXPECT_EQ(t.find("c"), nullptr);
  EXPECT_EQ(t.size(), 2u);

  auto chans = t.resubscribe_all();
  std::sort(chans.begin(), chans.end());
  EXPECT_EQ(chans, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(t.link_up());
  EXPECT_TRUE(t.resubscribe_all().empty());  // a duplicate call asks for nothing more
  EXPECT_EQ(t.on_subscribed("a").became_live, a);
  EXPECT_EQ(t.on_subscribed("b").became_live, b);
  EXPECT_EQ(t.live_count(), 2u);
}

TEST(SubscriptionTable, ConnectionClosesWhileSubscribeInFlight) {
  Table t;
  link_up(t);
  auto [e, c] = t.acquire("ch");
  EXPECT_EQ(c, Cmd::subscribe);
  EXPECT_EQ(t.release(e), Cmd::none);  // decided when the reply comes
  EXPECT_EQ(t.size(), 1u);
  auto r = t.on_subscribed("ch");
  EXPECT_EQ(r.became_live, nullptr);  // nobody to tell
  EXPECT_EQ(r.command, Cmd::unsubscribe);
  EXPECT_EQ(t.live_count(), 0u);
  EXPECT_EQ(t.on_unsubscribed("ch"), Cmd::none);
  EXPECT_EQ(t.size(), 0u);
}

TEST(SubscriptionTable, CloseAndReopenWhileSubscribeInFlight) {
  Table t;
  link_up(t);
  auto [e, c] = t.acquire("ch");
  EXPECT_EQ(c, Cmd::subscribe);
  EXPECT_EQ(t.release(e), Cmd::none);
  auto [e2, c2] = t.acquire("ch");
  EXPECT_EQ(e2, e);
  EXPECT_EQ(c2, Cmd::none);  // the SUBSCRIBE in flight serves it
  auto r = t.on_subscribed("ch");
  EXPECT_EQ(r.became_live, e);
  EXPECT_EQ(r.command, Cmd::none);
}

TEST(SubscriptionTable, UserReconnectsWhileUnsubscribeInFlight) {
  Table t;
  link_up(t);
  auto [e, c] = t.acquire("ch");
  ASSERT_EQ(c, Cmd::subscribe);
  e->local.connections = 7;
  t.on_subscribed("ch");
  EXPECT_EQ(t.release(e), Cmd::unsubscribe);
  auto [e2, c2] = t.acquire("ch");
  EXPECT_EQ(e2, e);  // same entry, local state kept
  EXPECT_EQ(e2->local.connections, 7);
  EXPECT_EQ(c2, Cmd::none);  // one command in flight at a time
  EXPECT_FALSE(e2->live());  // a gap is coming: not live
  EXPECT_EQ(t.on_unsubscribed("ch"), Cmd::subscribe);
  EXPECT_FALSE(e2->live());
  auto r = t.on_subscribed("ch");
  EXPECT_EQ(r.became_live, e);
  EXPECT_TRUE(e->live());
}

TEST(SubscriptionTable, FlappingWhileUnsubscribeInFlightEndsClean) {
  Table t;
  link_up(t);
  auto [e, c] = t.acquire("ch");
  t.on_subscribed("ch");
  EXPECT_EQ(t.release(e), Cmd::unsubscribe);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(t.acquire("ch").second, Cmd::none);
    EXPECT_EQ(t.release(e), Cmd::none);
  }
  EXPECT_EQ(t.on_unsubscribed("ch"), Cmd::none);
  EXPECT_EQ(t.size(), 0u);
}

TEST(SubscriptionTable, UnexpectedRepliesAreIgnoredAndCounted) {
  Table t;
  link_up(t);
  EXPECT_EQ(t.on_subscribed("nobody").became_live, nullptr);
  EXPECT_EQ(t.on_unsubscribed("nobody"), Cmd::none);
  auto [e, c] = t.acquire("ch");
  EXPECT_EQ(t.on_unsubscribed("ch"), Cmd::none);  // a SUBSCRIBE is in flight, not an UNSUBSCRIBE
  EXPECT_FALSE(e->live());
  EXPECT_EQ(t.on_subscribed("ch").became_live, e);
  auto r = t.on_subscribed("ch");  // twice
  EXPECT_EQ(r.became_live, nullptr);
  EXPECT_EQ(r.command, Cmd::none);
  EXPECT_EQ(t.on_unsubscribed("ch"), Cmd::none);  // nothing in flight
  EXPECT_TRUE(e->live());
  EXPECT_EQ(t.unexpected_replies(), 5u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.release(nullptr), Cmd::none);
}

TEST(SubscriptionTable, ConnectionLostAndResubscribe) {
  Table t;
  link_up(t);
  auto [live, c1] = t.acquire("live");
  t.on_subscribed("live");
  auto [pending, c2] = t.acquire("pending");  // SUBSCRIBE in flight
  auto [going, c3] = t.acquire("going");
  t.on_subscribed("going");
  EXPECT_EQ(t.release(going), Cmd::unsubscribe);  // UNSUBSCRIBE in flight, refs 0
  auto [back, c4] = t.acquire("back");
  t.on_subscribed("back");
  EXPECT_EQ(t.release(back), Cmd::unsubscribe);
  EXPECT_EQ(t.acquire("back").second, Cmd::none);  // refs 1, UNSUBSCRIBE in flight
  EXPECT_EQ(t.live_count(), 1u);

  t.on_connection_lost();
  EXPECT_FALSE(t.link_up());
  EXPECT_EQ(t.live_count(), 0u);
  EXPECT_EQ(t.size(), 3u);  // "going" erased
  EXPECT_EQ(t.find("going"), nullptr);
  EXPECT_FALSE(live->live());
  EXPECT_FALSE(pending->live());
  EXPECT_FALSE(back->live());

  // While down, new users are counted, leaving ones erased, no commands.
  auto [fresh, c5] = t.acquire("fresh");
  EXPECT_EQ(c5, Cmd::none);
  auto [brief, c6] = t.acquire("brief");
  EXPECT_EQ(t.release(brief), Cmd::none);
  EXPECT_EQ(t.find("brief"), nullptr);

  auto chans = t.resubscribe_all();
  std::sort(chans.begin(), chans.end());
  EXPECT_EQ(chans, (std::vector<std::string>{"back", "fresh", "live", "pending"}));
  EXPECT_EQ(t.on_subscribed("live").became_live, live);
  EXPECT_EQ(t.on_subscribed("pending").became_live, pending);
  EXPECT_EQ(t.on_subscribed("back").became_live, back);
  EXPECT_EQ(t.on_subscribed("fresh").became_live, fresh);
  EXPECT_EQ(t.live_count(), 4u);
  EXPECT_EQ(t.unexpected_replies(), 0u);
}

TEST(SubscriptionTable, ChannelBytesAreKeptExactly) {
  // The entry holds the channel's bytes itself: empty, binary and
  // prefix-sharing names are distinct keys, and each comes back as given.
  Table t;
  link_up(t);
  const std::string names[] = {"", std::string("a\0b", 3), "a", std::string(300, 'x'), "portfolio:user:"};
  std::vector<Table::Entry*> ptrs;
  for (const auto& n : names) ptrs.push_back(t.acquire(n).first);
  EXPECT_EQ(t.size(), 5u);
  for (std::size_t i = 0; i < ptrs.size(); ++i) {
    EXPECT_EQ(t.find(names[i]), ptrs[i]);
    EXPECT_EQ(ptrs[i]->channel(), names[i]);
  }
  EXPECT_EQ(t.find(std::string("a\0c", 3)), nullptr);
  t.on_connection_lost();  // refs > 0: all stay
  EXPECT_EQ(t.size(), 5u);
  for (auto* e : ptrs) EXPECT_EQ(t.release(e), Cmd::none);  // link down: erased at once
  EXPECT_EQ(t.size(), 0u);
  for (const auto& n : names) EXPECT_EQ(t.find(n), nullptr);
}

TEST(SubscriptionTable, EntryAddressesAreStable) {
  Table t;
  link_up(t);
  std::vector<Table::Entry*> ptrs;
  for (int i = 0; i < 5000; ++i) ptrs.push_back(t.acquire("ch" + std::to_string(i)).first);
  for (int i = 0; i < 5000; ++i) {
    ASSERT_EQ(t.find("ch" + std::to_string(i)), ptrs[i]);
    ASSERT_EQ(ptrs[i]->channel(), "ch" + std::to_string(i));
  }
  for (int i = 0; i < 5000; i += 2) EXPECT_EQ(t.release(ptrs[i]), Cmd::none);  // in flight
  for (int i = 0; i < 5000; ++i) {
    auto r = t.on_subscribed("ch" + std::to_string(i));
    if (i % 2) {
      EXPECT_EQ(r.became_live, ptrs[i]);
    } else {
      EXPECT_EQ(r.command, Cmd::unsubscribe);
      EXPECT_EQ(t.on_unsubscribed("ch" + std::to_string(i)), Cmd::none);
    }
  }
  EXPECT_EQ(t.size(), 2500u);
  EXPECT_EQ(t.live_count(), 2500u);
  for (int i = 1; i < 5000; i += 2) EXPECT_EQ(t.find("ch" + std::to_string(i)), ptrs[i]);
}

// ---------------------------------------------------------------------------
// Random interleavings against a model of Redis.

struct FakeRedis {
  std::deque<std::pair<Cmd, std::string>> queue;  // sent, not yet answered (in order)
  std::set<std::string> subscribed;

  int queued_for(const std::string& ch) const {
    int n = 0;
    for (auto& q : queue) n += q.second == ch;
    return n;
  }
  // Redis's state once every queued command is processed.
  bool projected(const std::string& ch) const {
    bool s = subscribed.count(ch) != 0;
    for (auto& q : queue)
      if (q.second == ch) s = q.first == Cmd::subscribe;
    return s;
  }
};

struct Handle {
  std::string channel;
  Table::Entry* entry;
  bool told_live;  // got its "connected" / "live": it must receive every message from now on
};

void run_model(std::uint32_t seed, int steps) {
  SCOPED_TRACE(testing::Message() << "seed=" << seed);
  std::mt19937 rng(seed);
  auto pct = [&rng]() { return std::uniform_int_distribution<int>(0, 99)(rng); };
  auto pick = [&rng](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  const std::vector<std::string> channels = {"portfolio:user:1",
                                             "portfolio:user:2",
                                             "portfolio:user:3",
                                             "portfolio:user:4",
                                             "portfolio:user:5",
                                             "broadcast",
                                             "u7",
                                             "u8"};

  Table t;
  FakeRedis redis;
  bool up = false;
  std::map<std::string, std::size_t> refs;
  std::vector<Handle> handles;

  auto send = [&](Cmd c, const std::string& ch) {
    ASSERT_TRUE(up) << "command while the link is down";
    ASSERT_EQ(redis.queued_for(ch), 0) << "two commands in flight for " << ch;
    if (c == Cmd::subscribe) {
      ASSERT_FALSE(redis.projected(ch)) << "SUBSCRIBE of a subscribed channel " << ch;
    } else {
      ASSERT_TRUE(redis.projected(ch)) << "UNSUBSCRIBE of an unsubscribed channel " << ch;
    }
    redis.queue.emplace_back(c, ch);
  };
  auto became_live = [&](Table::Entry* e) {
    ASSERT_NE(e, nullptr);
    ASSERT_TRUE(e->live());
    ASSERT_GT(e->refs(), 0u);
    for (auto& h : handles)
      if (h.entry == e) h.told_live = true;
  };
  auto check_invariants = [&]() {
    std::size_t live = 0;
    for (auto& ch : channels) {
      Table::Entry* e = t.find(ch);
      const bool wanted = refs[ch] > 0;
      const bool queued = redis.queued_for(ch) > 0;
      ASSERT_EQ(e != nullptr, wanted || queued) << ch;
      if (!e) continue;
      ASSERT_EQ(e->refs(), refs[ch]) << ch;
      ASSERT_EQ(e->in_flight(), queued) << ch;
      if (e->live()) {
        ++live;
        // Live: Redis has it and no UNSUBSCRIBE is queued.
        ASSERT_TRUE(up);
        ASSERT_TRUE(redis.subscribed.count(ch)) << ch;
        ASSERT_FALSE(queued) << ch;
      }
    }
    ASSERT_EQ(t.live_count(), live);
    ASSERT_EQ(t.size(), std::size_t(std::count_if(channels.begin(), channels.end(),
                                                  [&](const std::string& ch) { return t.find(ch); })));
    for (auto& h : handles) {
      ASSERT_EQ(t.find(h.channel), h.entry);  // a held entry is never erased nor moved
      if (h.told_live) {
        ASSERT_TRUE(h.entry->live()) << "a connection told live would miss messages";
      }
    }
  };
  auto deliver_one = [&]() {
    auto [c, ch] = redis.queue.front();
    redis.queue.pop_front();
    if (c == Cmd::subscribe) {
      redis.subscribed.insert(ch);
      auto r = t.on_subscribed(ch);
      if (r.became_live) {
        ASSERT_EQ(r.became_live->channel(), ch);
        became_live(r.became_live);
      }
      if (r.command != Cmd::none) {
        ASSERT_EQ(r.command, Cmd::unsubscribe);
        ASSERT_EQ(refs[ch], 0u);
        send(r.command, ch);
      }
      if (refs[ch] > 0) {
        ASSERT_NE(r.became_live, nullptr);
      }
    } else {
      redis.subscribed.erase(ch);
      Cmd next = t.on_unsubscribed(ch);
      if (next != Cmd::none) {
        ASSERT_EQ(next, Cmd::subscribe);
        ASSERT_GT(refs[ch], 0u);
        send(next, ch);
      }
    }
  };
  auto reconnect = [&]() {
    up = true;
    auto chans = t.resubscribe_all();
    std::set<std::string> got(chans.begin(), chans.end());
    ASSERT_EQ(got.size(), chans.size()) << "duplicate channel";
    std::set<std::string> want;
    for (auto& [ch, n] : refs)
      if (n > 0) want.insert(ch);
    ASSERT_EQ(got, want);
    for (auto& ch : chans) send(Cmd::subscribe, ch);
  };
  auto drain_and_check_convergence = [&]() {
    if (!up) reconnect();
    while (!redis.queue.empty()) {
      deliver_one();
      if (testing::Test::HasFatalFailure()) return;
    }
    check_invariants();
    std::set<std::string> want;
    for (auto& [ch, n] : refs)
      if (n > 0) want.insert(ch);
    ASSERT_EQ(redis.subscribed, want) << "Redis is not subscribed iff refs > 0";
    ASSERT_EQ(t.live_count(), want.size());
    ASSERT_EQ(t.size(), want.size());
    for (auto& h : handles) ASSERT_TRUE(h.told_live) << "a connection never got live";
  };

  for (int step = 0; step < steps; ++step) {
    int r = pct();
    if (handles.size() > 48 && r < 30) r += 25;  // keep the population small: leave instead
    if (r < 30) {
      const std::string& ch = channels[pick(channels.size())];
      auto [e, c] = t.acquire(ch);
      ASSERT_NE(e, nullptr);
      ASSERT_EQ(e->channel(), ch);
      ++refs[ch];
      handles.push_back({ch, e, e->live()});
      if (c != Cmd::none) {
        ASSERT_EQ(c, Cmd::subscribe);
        send(c, ch);
      } else if (up) {
        // No command: something is already subscribed or in flight.
        ASSERT_TRUE(redis.projected(ch) || redis.queued_for(ch) > 0);
      }
    } else if (r < 55) {
      if (handles.empty()) continue;
      const std::size_t i = pick(handles.size());
      Handle h = handles[i];
      handles.erase(handles.begin() + std::ptrdiff_t(i));
      --refs[h.channel];
      Cmd c = t.release(h.entry);
      if (c != Cmd::none) {
        ASSERT_EQ(c, Cmd::unsubscribe);
        ASSERT_EQ(refs[h.channel], 0u);
        send(c, h.channel);
      }
    } else if (r < 93) {
      if (up && !redis.queue.empty()) deliver_one();
    } else if (r < 96) {
      if (up) {
        redis.queue.clear();
        redis.subscribed.clear();
        up = false;
        t.on_connection_lost();
        for (auto& h : handles) h.told_live = false;  // "degraded"
      }
    } else if (r < 99) {
      if (!up) reconnect();
    } else {
      if (up) {
        ASSERT_TRUE(t.resubscribe_all().empty()) << "duplicate resubscribe asked for more";
      }
    }
    if (testing::Test::HasFatalFailure()) return;
    check_invariants();
    if (testing::Test::HasFatalFailure()) return;
    if (step % 997 == 996) {
      drain_and_check_convergence();
      if (testing::Test::HasFatalFailure()) return;
    }
  }

  drain_and_check_convergence();
  if (testing::Test::HasFatalFailure()) return;

  // Everybody leaves, replies interleaved: nothing may leak.
  std::shuffle(handles.begin(), handles.end(), rng);
  while (!handles.empty() || !redis.queue.empty()) {
    if (!handles.empty() && (redis.queue.empty() || pct() < 50)) {
      Handle h = handles.back();
      handles.pop_back();
      --refs[h.channel];
      Cmd c = t.release(h.entry);
      if (c != Cmd::none) send(c, h.channel);
    } else {
      deliver_one();
    }
    if (testing::Test::HasFatalFailure()) return;
    check_invariants();
    if (testing::Test::HasFatalFailure()) return;
  }
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.live_count(), 0u);
  EXPECT_TRUE(redis.subscribed.empty());
  EXPECT_EQ(t.unexpected_replies(), 0u);
}

TEST(SubscriptionTable, RandomInterleavingsAgainstModel) {
  for (std::uint32_t seed = 1; seed <= 12; ++seed) {
    run_model(seed, 10000);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace ps
