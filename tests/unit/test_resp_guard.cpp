#include "resp_guard.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using ps::RespGuard;
using ps::RespGuardLimits;
using Status = RespGuard::Status;

void append(void* ctx, const char* p, std::size_t n) { static_cast<std::string*>(ctx)->append(p, n); }

RespGuardLimits limits(std::uint64_t max_bulk, std::uint64_t max_line = 1024,
                       std::uint64_t max_elements = 1000) {
  RespGuardLimits l;
  l.max_bulk = max_bulk;
  l.max_line = max_line;
  l.max_elements = max_elements;
  return l;
}

struct Outcome {
  Status status = Status::ok;
  std::string out;
  std::uint64_t discarded = 0;
  bool at_boundary = false;
};

// Feeds `in` in chunks of `chunk` bytes (0: all at once).
Outcome run(std::string_view in, RespGuardLimits l, std::size_t chunk = 0) {
  RespGuard g(l);
  Outcome r;
  if (chunk == 0) chunk = in.size() ? in.size() : 1;
  for (std::size_t i = 0; i < in.size() && r.status == Status::ok; i += chunk) {
    r.status = g.feed(in.data() + i, std::min(chunk, in.size() - i), append, &r.out);
  }
  if (in.empty()) r.status = g.feed(in.data(), 0, append, &r.out);
  r.discarded = g.discarded();
  r.at_boundary = g.at_boundary();
  return r;
}

// The same result whether `in` comes in one piece, in every two-piece split
// and one byte at a time.
Outcome run_all_splits(std::string_view in, RespGuardLimits l) {
  const Outcome whole = run(in, l);
  for (std::size_t cut = 1; cut < in.size(); cut++) {
    RespGuard g(l);
    std::string out;
    Status s = g.feed(in.data(), cut, append, &out);
    if (s == Status::ok) s = g.feed(in.data() + cut, in.size() - cut, append, &out);
    EXPECT_EQ(s, whole.status) << "split at " << cut;
    EXPECT_EQ(out, whole.out) << "split at " << cut;
    EXPECT_EQ(g.discarded(), whole.discarded) << "split at " << cut;
  }
  const Outcome bytes = run(in, l, 1);
  EXPECT_EQ(bytes.status, whole.status);
  EXPECT_EQ(bytes.out, whole.out);
  return whole;
}

std::string bulk(std::string_view s) {
  return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}
std::string message(std::string_view channel, std::string_view payload) {
  return "*3\r\n" + bulk("message") + bulk(channel) + bulk(payload);
}

TEST(RespGuard, PubSubMessageUnderTheLimitPassesUnchanged) {
  const std::string in = message("portfolio:user:1", std::string(40, 'x'));
  const Outcome r = run_all_splits(in, limits(40));
  EXPECT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.out, in);
  EXPECT_EQ(r.discarded, 0u);
  EXPECT_TRUE(r.at_boundary);
}

TEST(RespGuard, PubSubMessageOverTheLimitGetsANullPayload) {
  const std::string in = message("portfolio:user:1", std::string(41, 'x')) + message("c", "next");
  const Outcome r = run_all_splits(in, limits(40));
  EXPECT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.out, "*3\r\n" + bulk("message") + bulk("portfolio:user:1") + "$-1\r\n" + message("c", "next"));
  EXPECT_EQ(r.discarded, 1u);
  EXPECT_TRUE(r.at_boundary);
}

TEST(RespGuard, ExactBoundary) {
  for (std::uint64_t limit : {0u, 1u, 7u, 255u}) {
    const std::string at(limit, 'a');
    const std::string over(limit + 1, 'b');
    const Outcome ok = run_all_splits(bulk(at), limits(limit));
    EXPECT_EQ(ok.out, bulk(at)) << limit;
    EXPECT_EQ(ok.discarded, 0u);
    const Outcome dropped = run_all_splits(bulk(over) + ":1\r\n", limits(limit));
    EXPECT_EQ(dropped.status, Status::ok);
    EXPECT_EQ(dropped.out, "$-1\r\n:1\r\n") << limit;
    EXPECT_EQ(dropped.discarded, 1u);
  }
}

TEST(RespGuard, EveryReplyType) {
  const std::string in =
      "+OK\r\n-ERR unknown command 'x'\r\n:0\r\n:-1\r\n:9223372036854775807\r\n:-9223372036854775808\r\n"
      "$-1\r\n$0\r\n\r\n*-1\r\n*0\r\n*2\r\n$1\r\na\r\n*1\r\n:5\r\n+\r\n-\r\n";
  const Outcome r = run_all_splits(in, limits(16));
  EXPECT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.out, in);
  EXPECT_TRUE(r.at_boundary);
}

TEST(RespGuard, BinaryPayloadsPassAndAreSkippedWhole) {
  std::string payload;
  for (int i = 0; i < 256; i++) payload += static_cast<char>(i);
  payload += "\r\n$5\r\n*3\r\n";  // looks like RESP: it is payload
  const Outcome ok = run_all_splits(bulk(payload) + "+after\r\n", limits(payload.size()));
  EXPECT_EQ(ok.out, bulk(payload) + "+after\r\n");
  const Outcome dropped = run_all_splits(bulk(payload) + "+after\r\n", limits(payload.size() - 1));
  EXPECT_EQ(dropped.out, "$-1\r\n+after\r\n");
}

TEST(RespGuard, LinesEndAtTheFirstCrlf) {
  // As hiredis reads them: a CR not followed by LF is content.
  const std::string in = "+a\rb\r\r\n-x\n\r\r\r\n";
  const Outcome r = run_all_splits(in, limits(4, 5));
  EXPECT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.out, in);
  EXPECT_TRUE(r.at_boundary);
}

TEST(RespGuard, LineLimit) {
  EXPECT_EQ(run_all_splits("+" + std::string(8, 'x') + "\r\n", limits(4, 8)).status, Status::ok);
  EXPECT_EQ(run_all_splits("+" + std::string(7, 'x') + "\r\r\n", limits(4, 8)).status, Status::ok);
  EXPECT_EQ(run_all_splits("+" + std::string(9, 'x') + "\r\n", limits(4, 8)).status, Status::malformed);
  EXPECT_EQ(run_all_splits("-" + std::string(8, 'x') + "\rx\r\n", limits(4, 8)).status, Status::malformed);
  // Refused before the line ends: never buffered past the limit.
  EXPECT_EQ(run("+" + std::string(100, 'x'), limits(4, 8)).status, Status::malformed);
}

TEST(RespGuard, NestedArrays) {
  std::string deep;
  for (int i = 0; i < RespGuard::kMaxDepth; i++) deep += "*1\r\n";
  const std::string seven = deep.substr(4);
  const Outcome ok = run_all_splits(deep + ":1\r\n" + seven + "*0\r\n" + seven + "*-1\r\n", limits(4));
  EXPECT_EQ(ok.status, Status::ok) << ok.out;
  EXPECT_TRUE(ok.at_boundary);
  // hiredis 0.14 refuses an array at depth 8, even an empty or null one.
  for (const char* ninth : {"*1\r\n:1\r\n", "*0\r\n", "*-1\r\n"}) {
    const Outcome bad = run_all_splits(deep + ninth, limits(4));
    EXPECT_EQ(bad.status, Status::malformed) << ninth;
    EXPECT_EQ(bad.out, deep) << "nothing after the fault";
  }
  // Elements are counted at every level: the outer array ends after 2.
  const std::string in = "*2\r\n*2\r\n$3\r\nabc\r\n$5\r\nabcde\r\n$5\r\nvwxyz\r\n:1\r\n";
  const Outcome r = run_all_splits(in, limits(4));
  EXPECT_EQ(r.out, "*2\r\n*2\r\n$3\r\nabc\r\n$-1\r\n$-1\r\n:1\r\n");
  EXPECT_EQ(r.discarded, 2u);
  EXPECT_TRUE(r.at_boundary);
}

TEST(RespGuard, ArrayElementLimit) {
  EXPECT_EQ(run_all_splits("*3\r\n:1\r\n:2\r\n:3\r\n", limits(4, 8, 3)).status, Status::ok);
  EXPECT_EQ(run_all_splits("*4\r\n", limits(4, 8, 3)).status, Status::malformed);
}

TEST(RespGuard, HugeDeclaredLengths) {
  // Within int64: a bulk to discard (its payload would never end here).
  RespGuard g(limits(1024));
  std::string out;
  EXPECT_EQ(g.feed("$9223372036854775807\r\nabc", 25, append, &out), Status::ok);
  EXPECT_EQ(out, "$-1\r\n");
  EXPECT_TRUE(g.discarding());
  EXPECT_FALSE(g.at_boundary());
  EXPECT_EQ(g.last_discarded_length(), 9223372036854775807u);
  EXPECT_EQ(g.dropped_bytes(), 3u);
  // Past int64 (hiredis refuses them too), or longer than any int64.
  for (const char* s :
       {"$9223372036854775808\r\n", "$18446744073709551616\r\n", "$99999999999999999999999\r\n",
        "*9223372036854775808\r\n", ":9223372036854775808\r\n", ":-9223372036854775809\r\n"}) {
    const Outcome r = run(s, limits(1024));
    EXPECT_EQ(r.status, Status::malformed) << s;
    EXPECT_EQ(r.out, "") << s;
  }
}

TEST(RespGuard, MalformedInput) {
  const char* bad[] = {
      "!",          "\r\n",    "$-2\r\n",      "$01\r\nx\r\n",
      "$-0\r\n",    "$\r\n",   "$+1\r\nx\r\n", "$ 1\r\nx\r\n",
      ":abc\r\n",   ":\r\n",   ":1 \r\n",      ":01\r\n",
      "*-2\r\n",    "*1x\r\n", "$1\r\nxy\r\n", "$1\r\nx\n\r\n",
      "$1\r\nx\rx", ":1\rx",   "$2\r\nab\r\r", "%1\r\n",
      "_\r\n",      "*1\r\n!",
  };
  for (const char* s : bad) {
    const Outcome r = run_all_splits(s, limits(1));
    EXPECT_EQ(r.status, Status::malformed) << s;
  }
  // Also when the bulk is being discarded.
  EXPECT_EQ(run_all_splits("$3\r\nabcde", limits(1)).status, Status::malformed);
}

TEST(RespGuard, MalformedIsStickyAndPassesOnlyWhatCameBefore) {
  RespGuard g(limits(8));
  std::string out;
  EXPECT_EQ(g.feed("+OK\r\n:12\r\n?", 11, append, &out), Status::malformed);
  EXPECT_EQ(out, "+OK\r\n:12\r\n");
  EXPECT_STREQ(g.error(), "unknown reply type byte");
  EXPECT_EQ(g.feed("+OK\r\n", 5, append, &out), Status::malformed);
  EXPECT_EQ(out, "+OK\r\n:12\r\n");
  g.reset(limits(8));
  EXPECT_EQ(g.feed("+OK\r\n", 5, append, &out), Status::ok);
  EXPECT_STREQ(g.error(), "");
}

TEST(RespGuard, TwentyMegabytesInReadSizedChunks) {
  const std::size_t big = 20u << 20;
  std::string in = "*3\r\n" + bulk("message") + bulk("portfolio:user:7") + "$" + std::to_string(big) + "\r\n";
  in.append(big, 'z');
  in += "\r\n" + message("portfolio:user:7", "{}");
  RespGuard g(limits(256 * 1024));
  std::string out;
  std::size_t max_out_per_feed = 0;
  for (std::size_t i = 0; i < in.size(); i += 16384) {
    const std::size_t before = out.size();
    ASSERT_EQ(g.feed(in.data() + i, std::min<std::size_t>(16384, in.size() - i), append, &out), Status::ok);
    max_out_per_feed = std::max(max_out_per_feed, out.size() - before);
  }
  EXPECT_EQ(out, "*3\r\n" + bulk("message") + bulk("portfolio:user:7") + "$-1\r\n" +
                     message("portfolio:user:7", "{}"));
  EXPECT_EQ(g.dropped_bytes(), big);
  EXPECT_EQ(g.last_discarded_length(), big);
  EXPECT_LE(max_out_per_feed, 16384u);
  EXPECT_TRUE(g.at_boundary());
}

TEST(RespGuard, OneSinkCallPerFeedWhenNothingIsDiscarded) {
  std::string in;
  for (int i = 0; i < 100; i++)
    in += message("portfolio:user:" + std::to_string(i), "{\"type\":\"order_update\"}");
  in += "+OK\r\n:7\r\n*-1\r\n";
  RespGuard g(limits(1024));
  int calls = 0;
  auto count = [](void* ctx, const char*, std::size_t) { ++*static_cast<int*>(ctx); };
  ASSERT_EQ(g.feed(in.data(), in.size(), count, &calls), Status::ok);
  EXPECT_EQ(calls, 1);
  // A header cut by the end of the input is held, then passed on whole.
  calls = 0;
  std::string out;
  RespGuard h(limits(1024));
  ASSERT_EQ(h.feed("+OK\r\n$1", 7, append, &out), Status::ok);
  EXPECT_EQ(out, "+OK\r\n");
  ASSERT_EQ(h.feed("0\r\n0123456789\r\n", 15, append, &out), Status::ok);
  EXPECT_EQ(out, "+OK\r\n$10\r\n0123456789\r\n");
}

// ---- random valid streams against a model -----------------------------------

struct Model {
  std::mt19937_64 rng;
  std::uint64_t limit;
  std::string in;
  std::string expected;

  std::string text(std::size_t n, bool line) {
    std::string s;
    for (std::size_t i = 0; i < n; i++) {
      char c = static_cast<char>(rng() & 0xff);
      if (line && c == '\n') c = 'n';  // no CRLF inside a line
      s += c;
    }
    return s;
  }

  void reply(int depth) {
    switch (rng() % (depth < RespGuard::kMaxDepth ? 7 : 6)) {
      case 0:
      case 1: {
        const std::size_t n = rng() % (limit + 3);
        const std::string s = text(n, false);
        in += bulk(s);
        expected += n > limit ? std::string("$-1\r\n") : bulk(s);
        break;
      }
      case 2: {
        const std::string s = std::string(rng() % 2 ? "+" : "-") + text(rng() % 12, true) + "\r\n";
        in += s;
        expected += s;
        break;
      }
      case 3: {
        const std::string s = ":" + std::to_string(static_cast<std::int64_t>(rng())) + "\r\n";
        in += s;
        expected += s;
        break;
      }
      case 4:
        in += "$-1\r\n";
        expected += "$-1\r\n";
        break;
      case 5: {
        const std::string s = rng() % 2 ? "*-1\r\n" : "*0\r\n";
        in += s;
        expected += s;
        break;
      }
      default: {
        const std::size_t n = 1 + rng() % 4;
        const std::string h = "*" + std::to_string(n) + "\r\n";
        in += h;
        expected += h;
        for (std::size_t i = 0; i < n; i++) reply(depth + 1);
      }
    }
  }
};

TEST(RespGuard, RandomValidStreamsMatchTheModelAtAnySplit) {
  for (std::uint64_t seed = 1; seed <= 300; seed++) {
    Model m{std::mt19937_64(seed), seed % 9, {}, {}};
    const int replies = 1 + static_cast<int>(seed % 5);
    for (int i = 0; i < replies; i++) m.reply(0);
    RespGuard g(limits(m.limit, 64, 1000));
    std::string out;
    std::size_t pos = 0;
    while (pos < m.in.size()) {
      const std::size_t n = std::min<std::size_t>(1 + m.rng() % 17, m.in.size() - pos);
      ASSERT_EQ(g.feed(m.in.data() + pos, n, append, &out), Status::ok)
          << "seed " << seed << ": " << g.error();
      pos += n;
    }
    EXPECT_EQ(out, m.expected) << "seed " << seed;
    EXPECT_TRUE(g.at_boundary()) << "seed " << seed;
  }
}

}  // namespace
