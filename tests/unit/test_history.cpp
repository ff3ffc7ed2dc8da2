#include "history.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ps {
namespace {

// ---------------------------------------------------------------- the query

TEST(ResumeQuery, Absent) {
  for (const char* q : {"", "&", "&&&", "a=1", "a=1&b=2", "sinc=1-1", "sincee=1-1", "epochs=x", "=1-1", "=",
                        "since_=1", "xsince=1-1&xepoch=e"}) {
    const ResumeRequest r = parse_resume_query(q);
    EXPECT_FALSE(r.present) << q;
    EXPECT_FALSE(r.valid) << q;
  }
}

TEST(ResumeQuery, Valid) {
  ResumeRequest r = parse_resume_query("since=1732400000000-3&epoch=0hoqeoojg9b1");
  EXPECT_TRUE(r.present);
  ASSERT_TRUE(r.valid);
  EXPECT_EQ(r.since, (StreamId{1732400000000, 3}));
  EXPECT_EQ(r.epoch, "0hoqeoojg9b1");

  // order, other args, empty pairs
  r = parse_resume_query("token=abc&&epoch=E.1_x:y-z&foo&since=0-0&bar=");
  ASSERT_TRUE(r.valid);
  EXPECT_EQ(r.since, (StreamId{0, 0}));
  EXPECT_EQ(r.epoch, "E.1_x:y-z");

  // names case-insensitive like $arg_*
  r = parse_resume_query("SINCE=5-1&Epoch=e");
  ASSERT_TRUE(r.valid);
  EXPECT_EQ(r.since, (StreamId{5, 1}));

  // 64-byte epoch, largest id
  const std::string e64(64, 'a');
  r = parse_resume_query("since=18446744073709551615-18446744073709551615&epoch=" + e64);
  ASSERT_TRUE(r.valid);
  EXPECT_EQ(r.since, (StreamId{UINT64_MAX, UINT64_MAX}));
  EXPECT_EQ(r.epoch, e64);
}

TEST(ResumeQuery, PercentEncoding) {
  ResumeRequest r = parse_resume_query("since=17%2D3&epoch=ab%3Acd");
  ASSERT_TRUE(r.valid);
  EXPECT_EQ(r.since, (StreamId{17, 3}));
  EXPECT_EQ(r.epoch, "ab:cd");
  r = parse_resume_query("%73ince=1-2&%65%50%4fch=x");  // names too, any case of hex
  ASSERT_TRUE(r.valid);
  EXPECT_EQ(r.since, (StreamId{1, 2}));
  EXPECT_EQ(r.epoch, "x");
  r = parse_resume_query("since=%31%2d%32&epoch=%7a");
  ASSERT_TRUE(r.valid);
  EXPECT_EQ(r.since, (StreamId{1, 2}));
  EXPECT_EQ(r.epoch, "z");
  // a 64-byte epoch written as 192 escaped bytes is still 64 bytes
  std::string enc;
  for (int i = 0; i < 64; ++i) enc += "%41";
  r = parse_resume_query("since=1-1&epoch=" + enc);
  ASSERT_TRUE(r.valid);
  EXPECT_EQ(r.epoch, std::string(64, 'A'));
}

void expect_malformed(const std::string& q) {
  const ResumeRequest r = parse_resume_query(q);
  EXPECT_TRUE(r.present) << q;
  EXPECT_FALSE(r.valid) << q;
  EXPECT_TRUE(r.epoch.empty()) << q;
  EXPECT_EQ(r.since, StreamId{}) << q;
}

TEST(ResumeQuery, Malformed) {
  for (const char* q : {
           "since=1-1",                               // epoch missing
           "epoch=abc",                               // since missing
           "since&epoch=abc",                         // no value
           "since=&epoch=abc",                        // empty value
           "since=1-1&epoch",                         //
           "since=1-1&epoch=",                        //
           "since=1&epoch=abc",                       // not ms-seq
           "since=1-&epoch=abc",                      //
           "since=-1&epoch=abc",                      //
           "since=1-1-1&epoch=abc",                   //
           "since=a-1&epoch=abc",                     //
           "since=1-1x&epoch=abc",                    //
           "since=+1-1&epoch=abc",                    // '+' is not a space here, and not a digit
           "since=1+-1&epoch=abc",                    //
           "since=%201-1&epoch=abc",                  // decoded space
           "since=1-1%00&epoch=abc",                  // decoded NUL
           "since=18446744073709551616-0&epoch=abc",  // overflow
           "since=1-1&epoch=a b",                     // bad epoch bytes
           "since=1-1&epoch=a+b",                     //
           "since=1-1&epoch=a%2Bb",                   //
           "since=1-1&epoch=a%26b",                   // '&' decoded
           "since=1-1&epoch=a/b",                     //
           "since=1-1&epoch=%C3%A9",                  // UTF-8 letter
           "since=1-1&epoch=a%00b",                   //
           "since=1-1&epoch=\"x\"",                   //
           "since=1-1&epoch=ab=cd",                   // '=' in the value
           "since=1-1&epoch=%",                       // bad escapes
           "since=1-1&epoch=%4",                      //
           "since=1-1&epoch=%zz",                     //
           "since=1-1&epoch=ab%",                     //
           "since=1-1&epoch=ab%g0",                   //
           "since=1-%&epoch=abc",                     //
           "since=1%2&epoch=abc",                     //
           "since=1-1&since=1-1&epoch=abc",           // duplicates, even equal
           "since=1-1&epoch=abc&epoch=abc",           //
           "since=1-1&epoch=abc&SINCE=2-2",           //
           "since=1-1&epoch=abc&%73ince=1-1",         //
           "since=1-1&since=&epoch=abc",              //
           "since=bad&since=1-1&epoch=abc",           // a later good one does not rescue
       }) {
    expect_malformed(q);
  }
  expect_malformed("since=1-1&epoch=" + std::string(65, 'a'));  // 65 bytes
  std::string enc;
  for (int i = 0; i < 65; ++i) enc += "%61";
  expect_malformed("since=1-1&epoch=" + enc);
  expect_malformed("since=1-1&epoch=" + std::string(1 << 20, 'a'));
  expect_malformed("since=" + std::string(1 << 20, '1') + "-1&epoch=abc");
  expect_malformed("since=1-" + std::string(21, '1') + "&epoch=abc");
}

TEST(ResumeQuery, HugeAndHostileInputs) {
  // a megabyte of junk args around a valid pair
  std::string junk;
  for (int i = 0; i < 50000; ++i) junk += "x" + std::to_string(i) + "=%zz&";
  ResumeRequest r = parse_resume_query(junk + "since=3-4&" + junk + "epoch=ee&" + junk);
  ASSERT_TRUE(r.valid);
  EXPECT_EQ(r.since, (StreamId{3, 4}));
  EXPECT_EQ(r.epoch, "ee");
  // a huge name that decodes to "since" only after 5 bytes never matches
  r = parse_resume_query(std::string(1 << 20, '%') + "&since=1-1&epoch=e");
  EXPECT_TRUE(r.valid);
  r = parse_resume_query(std::string(1 << 20, '&'));
  EXPECT_FALSE(r.present);
  r = parse_resume_query(std::string(1 << 20, '='));
  EXPECT_FALSE(r.present);
  // every byte value as an epoch
  for (int c = 0; c < 256; ++c) {
    const std::string q = std::string("since=1-1&epoch=a") + static_cast<char>(c);
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == ':' || c == '-';
    // '&' ends the value, leaving epoch "a"
    EXPECT_EQ(parse_resume_query(q).valid, ok || c == '&') << c;
  }
  // embedded NULs
  r = parse_resume_query(std::string("since=1-1&epoch=ab\0cd", 21));
  EXPECT_TRUE(r.present);
  EXPECT_FALSE(r.valid);
}

TEST(ResumeQuery, ValidEpoch) {
  EXPECT_TRUE(valid_epoch("a"));
  EXPECT_TRUE(valid_epoch("0hoqeoojg9b1"));
  EXPECT_TRUE(valid_epoch(std::string(64, 'Z')));
  EXPECT_FALSE(valid_epoch(""));
  EXPECT_FALSE(valid_epoch(std::string(65, 'Z')));
  EXPECT_FALSE(valid_epoch("a b"));
  EXPECT_FALSE(valid_epoch("a\"b"));
}

// ---------------------------------------------------------- offsets in events

TEST(EventOffset, AsPublished) {
  auto id = event_offset(R"({"offset":"1732400000000-7","type":"order_update"})");
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, (StreamId{1732400000000, 7}));
  id = event_offset(R"({"offset":"1-0"})");  // from {}
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, (StreamId{1, 0}));
  id = event_offset(" \t\r\n{\"offset\":\"2-3\" }");  // from " \t\r\n{ }"
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, (StreamId{2, 3}));
  id = event_offset("{\"offset\":\"2-3\"\n}");
  ASSERT_TRUE(id);
  id = event_offset(R"({"offset":"18446744073709551615-18446744073709551615","a":1})");
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, (StreamId{UINT64_MAX, UINT64_MAX}));
}

TEST(EventOffset, NotAnOffset) {
  for (const char* s : {
           "",
           "{",
           "{}",
           R"({"type":"order_update"})",
           R"({"type":"order_update","offset":"1-1"})",     // not first
           R"({ "offset":"1-1","a":1})",                    // not as the function writes it
           R"({"offset" :"1-1","a":1})",                    //
           R"({"offset": "1-1","a":1})",                    //
           R"({"offset":1,"a":1})",                         // a number
           R"({"offset":"1-1)",                             // unterminated
           R"({"offset":"1-1")",                            // nothing after
           R"({"offset":"1-1"x)",                           // garbage after
           R"({"offset":"1-1":1})",                         //
           R"({"offset":"1","a":1})",                       // not ms-seq
           R"({"offset":"","a":1})",                        //
           R"({"offset":"a-1","a":1})",                     //
           R"({"offset":"1-1 ","a":1})",                    //
           R"({"offset":"18446744073709551616-0","a":1})",  //
           R"({"Offset":"1-1","a":1})",                     //
           R"([{"offset":"1-1"}])",                         // not an object
           R"(x{"offset":"1-1"})",                          //
           R"("{\"offset\":\"1-1\"}")",                     //
       }) {
    EXPECT_FALSE(event_offset(s)) << s;
  }
  EXPECT_FALSE(event_offset("{\"offset\":\"" + std::string(1 << 20, '1')));
  EXPECT_FALSE(event_offset("{\"offset\":\"" + std::string(1 << 20, '1') + "\"}"));
  EXPECT_FALSE(event_offset(std::string(1 << 20, ' ')));
  EXPECT_FALSE(event_offset(std::string("{\"offset\":\"1-1\0\",\"a\":1}", 22)));
}

TEST(WithOffset, InsertsFirstMember) {
  const StreamId id{1732400000000, 7};
  EXPECT_EQ(with_offset(R"({"type":"order_update","a":[1,{"b":2}]})", id),
            R"({"offset":"1732400000000-7","type":"order_update","a":[1,{"b":2}]})");
  EXPECT_EQ(with_offset("{}", id), R"({"offset":"1732400000000-7"})");
  EXPECT_EQ(with_offset("{ }", id), R"({"offset":"1732400000000-7" })");
  EXPECT_EQ(with_offset(" \t\n{\r\n}\n", id), " \t\n{\"offset\":\"1732400000000-7\"\r\n}\n");
  EXPECT_EQ(with_offset(" {\"a\" : 1 } ", id), " {\"offset\":\"1732400000000-7\",\"a\" : 1 } ");
  EXPECT_EQ(with_offset("{ \"a\":1}", id), "{\"offset\":\"1732400000000-7\", \"a\":1}");
  // not objects: unchanged
  EXPECT_EQ(with_offset("", id), "");
  EXPECT_EQ(with_offset("  ", id), "  ");
  EXPECT_EQ(with_offset("[1]", id), "[1]");
  EXPECT_EQ(with_offset("x{}", id), "x{}");
  // malformed objects still get the member (the module's JSON check drops them)
  EXPECT_EQ(with_offset("{", id), "{\"offset\":\"1732400000000-7\",");
  EXPECT_EQ(with_offset("{ ", id), "{\"offset\":\"1732400000000-7\", ");
}

TEST(WithOffset, RoundTrip) {
  for (const char* j : {"{}", "{ }", " {}", "\n{\"a\":1}", R"({"type":"trade_executed","data":{"x":"}"}})",
                        "{", "{\"offset\":\"9-9\"}"}) {
    for (StreamId id : {StreamId{0, 0}, StreamId{1, 2}, StreamId{UINT64_MAX, UINT64_MAX}}) {
      const std::string out = with_offset(j, id);
      const auto back = event_offset(out);
      ASSERT_TRUE(back) << out;
      EXPECT_EQ(*back, id) << out;
    }
  }
  const std::string big = "{\"k\":\"" + std::string(300000, 'x') + "\"}";
  const std::string out = with_offset(big, {5, 6});
  EXPECT_EQ(out.size(), big.size() + std::string_view(R"("offset":"5-6",)").size());
  EXPECT_EQ(*event_offset(out), (StreamId{5, 6}));
}

// ------------------------------------------------------------ the read reply

TEST(HistoryReply, Parses) {
  const std::vector<std::string_view> items{"ep1", "10-2", "3-0", "9-0", R"({"a":1})", "10-2", "{}"};
  HistoryRead r;
  r.entries.emplace_back(StreamId{99, 9}, "stale");
  ASSERT_TRUE(parse_history_reply(items.data(), items.size(), r));
  EXPECT_EQ(r.epoch, "ep1");
  EXPECT_EQ(r.last_id, (StreamId{10, 2}));
  EXPECT_EQ(r.max_deleted, (StreamId{3, 0}));
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(r.entries[0].first, (StreamId{9, 0}));
  EXPECT_EQ(r.entries[0].second, R"({"a":1})");
  EXPECT_EQ(r.entries[1].first, (StreamId{10, 2}));
  EXPECT_EQ(r.entries[1].second, "{}");

  const std::vector<std::string_view> none{"ep2", "0-0", "0-0"};
  ASSERT_TRUE(parse_history_reply(none.data(), none.size(), r));
  EXPECT_EQ(r.epoch, "ep2");
  EXPECT_TRUE(r.entries.empty());
  // an entry that is not JSON is kept as bytes (the event parser drops it later)
  const std::vector<std::string_view> junk{"ep", "5-0", "0-0", "5-0", "not json"};
  ASSERT_TRUE(parse_history_reply(junk.data(), junk.size(), r));
  EXPECT_EQ(r.entries[0].second, "not json");
}

TEST(HistoryReply, Rejects) {
  const std::vector<std::vector<std::string_view>> bad{
      {},
      {"ep"},
      {"ep", "1-0"},
      {"ep", "1-0", "0-0", "1-0"},                  // odd
      {"", "1-0", "0-0"},                           // empty epoch
      {"e p", "1-0", "0-0"},                        //
      {"ep", "1", "0-0"},                           // bad last id
      {"ep", "1-0", "x"},                           // bad max deleted
      {"ep", "1-0", "0-0", "nope", "{}"},           // bad entry id
      {"ep", "2-0", "0-0", "1-0", "{}", "", "{}"},  //
  };
  for (const auto& items : bad) {
    HistoryRead r;
    r.epoch = "keep";
    EXPECT_FALSE(parse_history_reply(items.data(), items.size(), r)) << items.size();
    EXPECT_EQ(r.epoch, "keep");  // untouched
  }
}

// --------------------------------------------------------------- the decision

HistoryRead make_read(std::string epoch, StreamId last, StreamId maxdel, std::vector<StreamId> ids) {
  HistoryRead r;
  r.epoch = std::move(epoch);
  r.last_id = last;
  r.max_deleted = maxdel;
  for (StreamId id : ids) r.entries.emplace_back(id, "{\"n\":\"" + to_string(id) + "\"}");
  return r;
}

ResumeRequest req(StreamId since, std::string epoch) {
  ResumeRequest r;
  r.present = r.valid = true;
  r.since = since;
  r.epoch = std::move(epoch);
  return r;
}

std::vector<StreamId> ids_of(const HistoryRead& r) {
  std::vector<StreamId> out;
  for (const auto& e : r.entries) out.push_back(e.first);
  return out;
}

TEST(Decide, RecoversWithReplay) {
  HistoryRead r = make_read("E", {10, 0}, {0, 0}, {{8, 0}, {9, 0}, {10, 0}});
  const ResumeDecision d = decide_resume(req({7, 0}, "E"), &r, 1000);
  EXPECT_TRUE(d.recovered);
  EXPECT_EQ(d.reason, ResumeReason::ok);
  EXPECT_EQ(d.replayed_upto, (StreamId{10, 0}));
  EXPECT_EQ(ids_of(r), (std::vector<StreamId>{{8, 0}, {9, 0}, {10, 0}}));
  EXPECT_EQ(r.entries[0].second, R"({"n":"8-0"})");  // moved intact
}

TEST(Decide, NothingMissed) {
  HistoryRead r = make_read("E", {10, 0}, {0, 0}, {});
  ResumeDecision d = decide_resume(req({10, 0}, "E"), &r, 1000);
  EXPECT_TRUE(d.recovered);
  EXPECT_EQ(d.replayed_upto, (StreamId{10, 0}));
  EXPECT_TRUE(r.entries.empty());
  // an empty, never-published history and the "nothing received yet" offset
  r = make_read("E", {0, 0}, {0, 0}, {});
  d = decide_resume(req({0, 0}, "E"), &r, 1000);
  EXPECT_TRUE(d.recovered);
  EXPECT_EQ(d.replayed_upto, (StreamId{0, 0}));
  // since == max_deleted: the deleted entry is the one the client has
  r = make_read("E", {10, 0}, {5, 0}, {{6, 0}});
  d = decide_resume(req({5, 0}, "E"), &r, 1000);
  EXPECT_TRUE(d.recovered);
  EXPECT_EQ(ids_of(r), (std::vector<StreamId>{{6, 0}}));
}

TEST(Decide, Reasons) {
  struct Case {
    ResumeRequest rq;
    HistoryRead rd;
    std::size_t limit;
    ResumeReason want;
  };
  const std::vector<Case> cases{
      {req({7, 0}, "OLD"), make_read("E", {10, 0}, {0, 0}, {{8, 0}}), 1000, ResumeReason::epoch_changed},
      {req({11, 0}, "E"), make_read("E", {10, 0}, {0, 0}, {}), 1000, ResumeReason::from_future},
      {req({10, 1}, "E"), make_read("E", {10, 0}, {0, 0}, {}), 1000, ResumeReason::from_future},
      {req({3, 0}, "E"), make_read("E", {10, 0}, {4, 0}, {{5, 0}, {10, 0}}), 1000, ResumeReason::too_old},
      {req({4, 0}, "E"), make_read("E", {10, 0}, {4, 1}, {{5, 0}}), 1000, ResumeReason::too_old},
      {req({1, 0}, "E"), make_read("E", {4, 0}, {0, 0}, {{2, 0}, {3, 0}, {4, 0}}), 2,
       ResumeReason::over_limit},
      {req({1, 0}, "E"), make_read("E", {4, 0}, {0, 0}, {{2, 0}}), 0, ResumeReason::over_limit},
      // the epoch is compared before anything else
      {req({99, 0}, "X"), make_read("E", {10, 0}, {50, 0}, {}), 0, ResumeReason::epoch_changed},
      // future before too old
      {req({99, 0}, "E"), make_read("E", {10, 0}, {200, 0}, {}), 0, ResumeReason::from_future},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    HistoryRead rd = cases[i].rd;
    const ResumeDecision d = decide_resume(cases[i].rq, &rd, cases[i].limit);
    EXPECT_FALSE(d.recovered) << i;
    EXPECT_EQ(d.reason, cases[i].want) << i << " " << resume_reason_name(d.reason);
    EXPECT_TRUE(rd.entries.empty()) << i;  // nothing to replay
  }
  // exactly at the limit is recovered
  HistoryRead rd = make_read("E", {4, 0}, {0, 0}, {{2, 0}, {3, 0}});
  EXPECT_TRUE(decide_resume(req({1, 0}, "E"), &rd, 2).recovered);
  rd = make_read("E", {4, 0}, {0, 0}, {});
  EXPECT_TRUE(decide_resume(req({4, 0}, "E"), &rd, 0).recovered);
}

TEST(Decide, MalformedAndUnreadable) {
  HistoryRead r = make_read("E", {10, 0}, {0, 0}, {{8, 0}});
  ResumeRequest bad = parse_resume_query("since=x&epoch=E");
  ResumeDecision d = decide_resume(bad, &r, 1000);
  EXPECT_FALSE(d.recovered);
  EXPECT_EQ(d.reason, ResumeReason::malformed);
  EXPECT_TRUE(r.entries.empty());
  d = decide_resume(ResumeRequest{}, nullptr, 1000);
  EXPECT_EQ(d.reason, ResumeReason::malformed);
  d = decide_resume(req({1, 0}, "E"), nullptr, 1000);
  EXPECT_FALSE(d.recovered);
  EXPECT_EQ(d.reason, ResumeReason::unreadable);
  d = decide_catch_up("E", {1, 0}, nullptr, 1000);
  EXPECT_EQ(d.reason, ResumeReason::unreadable);
}

TEST(Decide, DefensiveAgainstOddEntries) {
  // entries <= since, duplicates and going backwards are skipped; the count
  // against the limit is of what is kept
  HistoryRead r = make_read("E", {20, 0}, {0, 0},
                            {{4, 0}, {5, 0}, {6, 0}, {6, 0}, {5, 9}, {7, 0}, {7, 0}, {20, 0}, {19, 0}});
  ResumeDecision d = decide_resume(req({5, 0}, "E"), &r, 3);
  EXPECT_TRUE(d.recovered);
  EXPECT_EQ(ids_of(r), (std::vector<StreamId>{{6, 0}, {7, 0}, {20, 0}}));
  EXPECT_EQ(r.entries[2].second, R"({"n":"20-0"})");
  EXPECT_EQ(d.replayed_upto, (StreamId{20, 0}));
  r = make_read("E", {20, 0}, {0, 0}, {{6, 0}, {7, 0}, {8, 0}, {9, 0}});
  EXPECT_EQ(decide_resume(req({5, 0}, "E"), &r, 3).reason, ResumeReason::over_limit);
}

TEST(Decide, CatchUpAfterOutage) {
  HistoryRead r = make_read("E", {12, 0}, {0, 0}, {{11, 0}, {12, 0}});
  ResumeDecision d = decide_catch_up("E", {10, 0}, &r, 1000);
  EXPECT_TRUE(d.recovered);
  EXPECT_EQ(d.replayed_upto, (StreamId{12, 0}));
  EXPECT_EQ(ids_of(r).size(), 2u);
  r = make_read("F", {12, 0}, {0, 0}, {{11, 0}});
  d = decide_catch_up("E", {10, 0}, &r, 1000);  // Redis lost its data: new epoch
  EXPECT_FALSE(d.recovered);
  EXPECT_EQ(d.reason, ResumeReason::epoch_changed);
}

TEST(Decide, ReasonNames) {
  EXPECT_STREQ(resume_reason_name(ResumeReason::ok), "ok");
  EXPECT_STREQ(resume_reason_name(ResumeReason::malformed), "malformed");
  EXPECT_STREQ(resume_reason_name(ResumeReason::epoch_changed), "epoch_changed");
  EXPECT_STREQ(resume_reason_name(ResumeReason::too_old), "too_old");
  EXPECT_STREQ(resume_reason_name(ResumeReason::from_future), "from_future");
  EXPECT_STREQ(resume_reason_name(ResumeReason::over_limit), "over_limit");
  EXPECT_STREQ(resume_reason_name(ResumeReason::unreadable), "unreadable");
}

// ---------------------------------------------------------------- the hold

TEST(ReplayHold, ReleasesInOrderDroppingReplayed) {
  ReplayHold<std::string> h(100, 1 << 20);
  EXPECT_TRUE(h.empty());
  // live events as they arrive during the read: some were also read (<= 12-0)
  EXPECT_TRUE(h.hold("a", StreamId{11, 0}, 1));
  EXPECT_TRUE(h.hold("plain1", std::nullopt, 6));  // a plain PUBLISH: no offset
  EXPECT_TRUE(h.hold("b", StreamId{12, 0}, 1));
  EXPECT_TRUE(h.hold("c", StreamId{13, 0}, 1));
  EXPECT_TRUE(h.hold("plain2", std::nullopt, 6));
  EXPECT_TRUE(h.hold("d", StreamId{13, 1}, 1));
  EXPECT_EQ(h.size(), 6u);
  EXPECT_EQ(h.bytes(), 16u);
  std::size_t dropped = 99;
  const std::vector<std::string> out = h.release(StreamId{12, 0}, &dropped);
  EXPECT_EQ(out, (std::vector<std::string>{"plain1", "c", "plain2", "d"}));
  EXPECT_EQ(dropped, 2u);
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.bytes(), 0u);
}

TEST(ReplayHold, MergeOrders) {
  // Every interleaving of "replay covered up to k" against held offsets 1..5:
  // the result is exactly the offsets > k, in order, plus the plain events.
  for (std::uint64_t k = 0; k <= 6; ++k) {
    ReplayHold<std::uint64_t> h(100, 1000);
    for (std::uint64_t i = 1; i <= 5; ++i) {
      h.hold(i, StreamId{i, 0}, 1);
      h.hold(100 + i, std::nullopt, 1);
    }
    std::vector<std::uint64_t> want;
    for (std::uint64_t i = 1; i <= 5; ++i) {
      if (i > k) want.push_back(i);
      want.push_back(100 + i);
    }
    std::size_t dropped = 0;
    EXPECT_EQ(h.release(StreamId{k, 0}, &dropped), want) << k;
    EXPECT_EQ(dropped, std::min<std::uint64_t>(k, 5)) << k;
  }
  // release_all keeps everything (not recovered: nothing was replayed)
  ReplayHold<int> h(10, 10);
  h.hold(1, StreamId{1, 0}, 1);
  h.hold(2, std::nullopt, 1);
  EXPECT_EQ(h.release_all(), (std::vector<int>{1, 2}));
}

TEST(ReplayHold, Bounded) {
  ReplayHold<std::string> by_count(2, 1000);
  EXPECT_TRUE(by_count.hold("a", std::nullopt, 1));
  EXPECT_TRUE(by_count.hold("b", std::nullopt, 1));
  EXPECT_FALSE(by_count.overflowed());
  EXPECT_FALSE(by_count.hold("c", std::nullopt, 1));
  EXPECT_TRUE(by_count.overflowed());
  EXPECT_EQ(by_count.size(), 2u);

  ReplayHold<std::string> by_bytes(100, 10);
  EXPECT_TRUE(by_bytes.hold("a", std::nullopt, 6));
  EXPECT_TRUE(by_bytes.hold("b", std::nullopt, 4));  // exactly the budget
  EXPECT_FALSE(by_bytes.hold("c", std::nullopt, 1));
  EXPECT_TRUE(by_bytes.overflowed());
  // sticky: a small item after the overflow is refused too (no gap in order)
  ReplayHold<std::string> sticky(100, 10);
  EXPECT_FALSE(sticky.hold("huge", std::nullopt, 11));
  EXPECT_FALSE(sticky.hold("small", std::nullopt, 1));
  EXPECT_TRUE(sticky.empty());
  // a byte count near SIZE_MAX cannot wrap the budget
  ReplayHold<int> wrap(100, 10);
  EXPECT_TRUE(wrap.hold(1, std::nullopt, 5));
  EXPECT_FALSE(wrap.hold(2, std::nullopt, SIZE_MAX));
  // release resets it for the next read
  EXPECT_EQ(by_bytes.release_all().size(), 2u);
  EXPECT_FALSE(by_bytes.overflowed());
  EXPECT_TRUE(by_bytes.hold("d", std::nullopt, 10));
  // zero budget: nothing fits
  ReplayHold<int> zero(0, 0);
  EXPECT_FALSE(zero.hold(1, std::nullopt, 0));
  EXPECT_TRUE(zero.overflowed());
  zero.clear();
  EXPECT_FALSE(zero.overflowed());
}

TEST(ReplayHold, MoveOnlyItems) {
  ReplayHold<std::unique_ptr<int>> h(10, 100);
  h.hold(std::make_unique<int>(1), StreamId{1, 0}, 4);
  h.hold(std::make_unique<int>(2), StreamId{2, 0}, 4);
  auto out = h.release(StreamId{1, 0});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(*out[0], 2);
}

// The whole resume path: hold while reading, decide, replay, release.
TEST(ReplayHold, ResumeExactlyOnce) {
  // history holds 1..8; the client had 3; while the read was in flight live
  // events 7, 8 (also in the read) and 9, 10 (after it) arrived.
  HistoryRead r = make_read("E", {8, 0}, {0, 0}, {{4, 0}, {5, 0}, {6, 0}, {7, 0}, {8, 0}});
  ReplayHold<std::string> h(100, 1 << 20);
  for (std::uint64_t i : {7, 8, 9, 10}) h.hold("live" + std::to_string(i), StreamId{i, 0}, 10);
  const ResumeDecision d = decide_resume(req({3, 0}, "E"), &r, 1000);
  ASSERT_TRUE(d.recovered);
  std::vector<std::string> sent;
  for (const auto& e : r.entries) sent.push_back("replay" + std::to_string(e.first.ms));
  for (auto& s : h.release(d.replayed_upto)) sent.push_back(std::move(s));
  EXPECT_EQ(sent, (std::vector<std::string>{"replay4", "replay5", "replay6", "replay7", "replay8", "live9",
                                            "live10"}));
}

}  // namespace
}  // namespace ps
