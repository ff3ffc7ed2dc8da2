#include "permessage_deflate.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "event.h"
#include "frame_writer.h"

namespace {

using ps::DeflateParams;

std::optional<DeflateParams> negotiate(std::vector<std::string_view> values,
                                       ps::DeflateServerOptions o = {}) {
  return ps::negotiate_permessage_deflate(values.data(), values.size(), o);
}

std::string response(std::vector<std::string_view> values) {
  auto p = negotiate(std::move(values));
  return p ? ps::deflate_response_value(*p) : std::string("(declined)");
}

constexpr const char* kBasic = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

// ---- negotiation ----------------------------------------------------------------

TEST(DeflateNegotiation, BrowserAndWsOffers) {
  // Chrome and ws (default options): client_max_window_bits without a value.
  EXPECT_EQ(response({"permessage-deflate; client_max_window_bits"}), kBasic);
  // Firefox, Safari.
  EXPECT_EQ(response({"permessage-deflate"}), kBasic);
  auto p = negotiate({"permessage-deflate; client_max_window_bits"});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->server_window_bits, 15);
  EXPECT_FALSE(p->server_window_requested);
  EXPECT_TRUE(p->client_no_context_takeover);
}

TEST(DeflateNegotiation, NothingOffered) {
  EXPECT_FALSE(negotiate({}));
  EXPECT_FALSE(negotiate({""}));
  EXPECT_FALSE(negotiate({" , ,"}));
  EXPECT_FALSE(negotiate({"x-webkit-deflate-frame"}));
  EXPECT_FALSE(negotiate({"permessage-foo; client_max_window_bits"}));
  EXPECT_FALSE(negotiate({"permessage-deflate-x"}));
}

TEST(DeflateNegotiation, ClientParamsAccepted) {
  EXPECT_EQ(response({"permessage-deflate; client_no_context_takeover"}), kBasic);
  EXPECT_EQ(response({"permessage-deflate; server_no_context_takeover"}), kBasic);
  EXPECT_EQ(response({"permessage-deflate; client_max_window_bits=10"}), kBasic);
  EXPECT_EQ(response({"permessage-deflate; client_max_window_bits=8"}), kBasic);
  EXPECT_EQ(response({"permessage-deflate;client_no_context_takeover;server_no_context_takeover;"
                      "client_max_window_bits=15"}),
            kBasic);
}

TEST(DeflateNegotiation, SmallerServerWindowsAreDeclined) {
  // Issue 15: only the full window shares one compressed frame per event.
  for (int bits = 8; bits <= 14; ++bits) {
    const std::string offer = "permessage-deflate; server_max_window_bits=" + std::to_string(bits);
    EXPECT_FALSE(negotiate({offer.c_str()})) << offer;
    EXPECT_FALSE(negotiate({(offer + "; client_max_window_bits").c_str()})) << offer;
  }
  // 15 is what the server uses anyway: accepted and echoed.
  EXPECT_EQ(response({"permessage-deflate; server_max_window_bits=15"}),
            std::string(kBasic) + "; server_max_window_bits=15");
  auto p = negotiate({"permessage-deflate; server_max_window_bits=15"});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->server_window_bits, 15);
  EXPECT_TRUE(p->server_window_requested);
  // A later offer without the parameter (or with 15) is taken instead.
  EXPECT_EQ(response({"permessage-deflate; server_max_window_bits=9, permessage-deflate"}), kBasic);
  EXPECT_EQ(response({"permessage-deflate; server_max_window_bits=10; client_max_window_bits, "
                      "permessage-deflate; client_max_window_bits"}),
            kBasic);
  EXPECT_EQ(response({"permessage-deflate; server_max_window_bits=12",
                      "permessage-deflate; server_max_window_bits=15"}),
            std::string(kBasic) + "; server_max_window_bits=15");
  EXPECT_EQ(
      response(
          {"permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=12"}),
      "(declined)");
  // Whatever the offers, an accepted one never has a window below 15.
  for (const char* offer : {"permessage-deflate; server_max_window_bits=9", "permessage-deflate",
                            "permessage-deflate; server_max_window_bits=\"11\"",
                            "permessage-deflate; client_max_window_bits=9"}) {
    if (auto q = negotiate({offer})) {
      EXPECT_EQ(q->server_window_bits, 15) << offer;
    }
  }
}

TEST(DeflateNegotiation, InvalidOffersAreDeclinedNotFatal) {
  for (const char* bad : {
           "permessage-deflate; server_max_window_bits",        // value required
           "permessage-deflate; server_max_window_bits=16",     // range
           "permessage-deflate; server_max_window_bits=7",      //
           "permessage-deflate; server_max_window_bits=08",     // leading zero
           "permessage-deflate; server_max_window_bits=0x0f",   //
           "permessage-deflate; server_max_window_bits=",       // empty value
           "permessage-deflate; client_max_window_bits=16",     //
           "permessage-deflate; client_max_window_bits=010",    //
           "permessage-deflate; server_no_context_takeover=1",  // takes no value
           "permessage-deflate; client_no_context_takeover=\"\"",
           "permessage-deflate; server_no_context_takeover; server_no_context_takeover",  // duplicate
           "permessage-deflate; client_max_window_bits; client_max_window_bits=9",        //
           "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",    //
           "permessage-deflate; mystery",                                                 // unknown
           "permessage-deflate; server_max_window_bits=\"1 0\"",  // unescaped value not a token
           "permessage-deflate; ; client_max_window_bits",        // syntax
           "permessage-deflate client_max_window_bits",           //
           "permessage-deflate; =10",                             //
           "permessage-deflate; server_max_window_bits=\"10",     // unterminated quote
           ";permessage-deflate",                                 //
       }) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(negotiate({bad}));
    // The next offer (same header, after a comma, or the next header) is tried.
    EXPECT_EQ(response({bad, "permessage-deflate"}), kBasic);
  }
  EXPECT_EQ(response({"permessage-deflate; mystery, permessage-deflate; client_max_window_bits"}), kBasic);
}

TEST(DeflateNegotiation, SyntaxDetails) {
  // Case-insensitive names, optional whitespace, empty list elements.
  EXPECT_EQ(response({"PerMessage-Deflate; Client_Max_Window_Bits; SERVER_NO_CONTEXT_TAKEOVER"}), kBasic);
  EXPECT_EQ(
      response({" \t permessage-deflate \t;  client_max_window_bits = 15 ; server_max_window_bits=15 "}),
      std::string(kBasic) + "; server_max_window_bits=15");
  EXPECT_EQ(response({",, ,permessage-deflate,"}), kBasic);
  // Quoted values, with escapes, must unescape to a token.
  EXPECT_EQ(response({"permessage-deflate; server_max_window_bits=\"15\""}),
            std::string(kBasic) + "; server_max_window_bits=15");
  EXPECT_EQ(response({"permessage-deflate; server_max_window_bits=\"1\\5\""}),
            std::string(kBasic) + "; server_max_window_bits=15");
  EXPECT_EQ(response({"permessage-deflate; server_max_window_bits=\"1\\3\""}),
            "(declined)");  // valid, but 13
  // A comma inside a quoted string does not end the element.
  EXPECT_EQ(response({"foo; a=\"x,permessage-deflate\", permessage-deflate; server_max_window_bits=15"}),
            std::string(kBasic) + "; server_max_window_bits=15");
  EXPECT_FALSE(negotiate({"foo; a=\"x, permessage-deflate"}));  // unterminated: nothing after it
  // Other extensions before it are skipped.
  EXPECT_EQ(response({"x-webkit-deflate-frame, foo; bar=1; baz", "permessage-deflate"}), kBasic);
}

TEST(DeflateNegotiation, ClientContextTakeoverPolicy) {
  ps::DeflateServerOptions o;
  o.always_client_no_context_takeover = false;
  auto p = negotiate({"permessage-deflate; client_max_window_bits"}, o);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->client_no_context_takeover);
  EXPECT_EQ(ps::deflate_response_value(*p), "permessage-deflate; server_no_context_takeover");
  p = negotiate({"permessage-deflate; client_no_context_takeover"}, o);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->client_no_context_takeover);
}

// ---- compression ------------------------------------------------------------------

// An independent raw inflate (not ps::Inflater) with the given window.
std::string zlib_inflate(std::string_view deflated, int window_bits = 15) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, -window_bits), Z_OK);
  std::string in(deflated);
  in.append("\x00\x00\xff\xff", 4);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&z, Z_SYNC_FLUSH);
  EXPECT_TRUE(rc == Z_OK || rc == Z_STREAM_END) << rc << " " << (z.msg ? z.msg : "");
  out.resize(out.size() - z.avail_out);
  inflateEnd(&z);
  return out;
}

ps::SharedBytes plain_frame(std::string_view payload) {
  return ps::SharedBytes::concat({ps::make_frame(ps::Opcode::text, payload)});
}

std::string tick_event(int i) {
  return "{\"type\":\"position_update\",\"key\":\"SYM" + std::to_string(i % 20) +
         "\",\"data\":{\"symbol\":\"SYM" + std::to_string(i % 20) + "\",\"qty\":" + std::to_string(100 + i) +
         ",\"px\":101.23,\"pnl\":-50.50,\"account\":\"ACC-000123\"},\"ts\":1717000000" +
         std::to_string(100 + i) + "}";
}

std::string large_json(std::size_t n) {
  std::string s = "{\"type\":\"account_update\",\"data\":[";
  for (int i = 0; s.size() < n; ++i)
    s += "{\"i\":" + std::to_string(i) + ",\"name\":\"caf\xc3\xa9 \xe2\x82\xac\"},";
  s.back() = ']';
  return s + "}";
}

TEST(DeflateCompressor, TypicalEventRoundTrip) {
  ps::Compressor c;
  const std::string json = tick_event(3);
  const ps::SharedBytes plain = plain_frame(json);
  const ps::SharedBytes f = c.deflate_frame(plain);
  ASSERT_NE(f.data(), plain.data());
  const auto b0 = static_cast<std::uint8_t>(f.data()[0]);
  EXPECT_EQ(b0, 0xC1);  // FIN + RSV1 + text
  const std::string_view payload = ps::server_frame_payload(f.view());
  EXPECT_EQ(static_cast<std::uint8_t>(f.data()[1]), payload.size());
  EXPECT_LT(f.size(), plain.size());
  EXPECT_EQ(zlib_inflate(payload), json);
  std::cout << "tick event: " << plain.size() << " B plain frame, " << f.size() << " B deflated frame\n";
}

TEST(DeflateCompressor, SmallOrIncompressiblePayloadsStayPlain) {
  ps::Compressor c;
  const ps::SharedBytes small = plain_frame(std::string(ps::kMinDeflateSize - 1, 'a'));
  EXPECT_EQ(c.deflate_frame(small).data(), small.data());
  std::mt19937 rng(1);
  std::string noise(4000, '\0');
  for (char& ch : noise) ch = static_cast<char>(rng());
  const ps::SharedBytes random = plain_frame(noise);
  EXPECT_EQ(c.deflate_frame(random).data(), random.data());
  const ps::SharedBytes enough = plain_frame(std::string(ps::kMinDeflateSize, 'a'));
  EXPECT_NE(c.deflate_frame(enough).data(), enough.data());
}

TEST(DeflateCompressor, LargeMessagesAndEveryWindow) {
  ps::Compressor c;
  const std::string json = large_json(200 * 1024);
  const ps::SharedBytes plain = plain_frame(json);
  for (int bits = 9; bits <= 15; ++bits) {
    SCOPED_TRACE(bits);
    const ps::SharedBytes f = c.deflate_frame(plain, bits);
    ASSERT_NE(f.data(), plain.data());
    EXPECT_EQ(static_cast<std::uint8_t>(f.data()[0]), 0xC1);
    // Decodable with exactly the negotiated window.
    EXPECT_EQ(zlib_inflate(ps::server_frame_payload(f.view()), bits), json);
  }
  std::cout << "200 KB event: " << plain.size() << " B plain, " << c.deflate_frame(plain).size()
            << " B deflated; compressor memory " << c.memory() << " B\n";
}

TEST(DeflateCompressor, EveryMessageStandsAlone) {
  // One stream, reset per message: each output decodes with a fresh inflater.
  ps::Compressor c;
  for (int i = 0; i < 50; ++i) {
    const std::string json = tick_event(i);
    const ps::SharedBytes f = c.deflate_frame(plain_frame(json));
    ASSERT_EQ(zlib_inflate(ps::server_frame_payload(f.view())), json) << i;
  }
}

TEST(DeflateCompressor, CachedFrameIsBuiltOnce) {
  ps::Compressor c;
  auto ev = ps::make_event(tick_event(1), ps::EventInfo{});
  const ps::SharedBytes a = ps::deflated_frame_cached(ev->deflated, ev->frame, c);
  const ps::SharedBytes b = ps::deflated_frame_cached(ev->deflated, ev->frame, c);
  EXPECT_EQ(a.data(), b.data());
  EXPECT_EQ(a.data(), ev->deflated.data());
  // A smaller window: the cached frame when the payload fits in it.
  EXPECT_EQ(ps::deflated_frame_cached(ev->deflated, ev->frame, c, 9).data(), a.data());
  // A payload larger than the window: compressed for that window, not cached.
  ps::SharedBytes cache;
  const ps::SharedBytes big = plain_frame(large_json(5000));
  const ps::SharedBytes w15 = ps::deflated_frame_cached(cache, big, c);
  const ps::SharedBytes w9 = ps::deflated_frame_cached(cache, big, c, 9);
  EXPECT_NE(w9.data(), w15.data());
  EXPECT_EQ(cache.data(), w15.data());
  EXPECT_EQ(zlib_inflate(ps::server_frame_payload(w9.view()), 9), ps::server_frame_payload(big.view()));
}

// ---- inflation ----------------------------------------------------------------------

std::string deflate_raw(std::string_view in, int flush = Z_SYNC_FLUSH, z_stream* keep = nullptr) {
  z_stream local{};
  z_stream* z = keep;
  if (z == nullptr) {
    z = &local;
    EXPECT_EQ(deflateInit2(z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  }
  std::string out(deflateBound(z, in.size()) + 64, '\0');
  z->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z->avail_in = static_cast<uInt>(in.size());
  z->next_out = reinterpret_cast<Bytef*>(out.data());
  z->avail_out = static_cast<uInt>(out.size());
  deflate(z, flush);
  out.resize(out.size() - z->avail_out);
  if (keep == nullptr) deflateEnd(z);
  if (flush == Z_SYNC_FLUSH) {
    EXPECT_EQ(out.substr(out.size() - 4), std::string("\x00\x00\xff\xff", 4));
    out.resize(out.size() - 4);
  }
  return out;
}

TEST(DeflateInflater, RoundTripAndReuse) {
  ps::Inflater inf;
  for (const std::string& msg : {std::string("{\"type\":\"ping\"}"), tick_event(7), large_json(100000),
                                 std::string("\xe2\x82\xac\xf0\x9f\x93\x88 unicode"), std::string()}) {
    std::string_view text;
    ASSERT_EQ(inf.inflate_text(deflate_raw(msg), 1 << 20, text), 0);
    EXPECT_EQ(text, msg);
    inf.trim();
  }
  // The sender's own compressor output too.
  ps::Compressor c;
  std::string d;
  ASSERT_TRUE(c.deflate_payload(tick_event(1), 15, d));
  std::string_view text;
  ASSERT_EQ(inf.inflate_text(d, 1 << 20, text), 0);
  EXPECT_EQ(text, tick_event(1));
  // Empty message, strictly (one 0x00) and leniently (no bytes).
  ASSERT_EQ(inf.inflate_text(std::string(1, '\0'), 10, text), 0);
  EXPECT_EQ(text, "");
  ASSERT_EQ(inf.inflate_text("", 10, text), 0);
  EXPECT_EQ(text, "");
  std::cout << "inflater memory " << inf.memory() << " B\n";
}

TEST(DeflateInflater, SizeLimitAfterInflation) {
  ps::Inflater inf;
  const std::string msg = large_json(20000);
  const std::string d = deflate_raw(msg);
  std::string_view text;
  EXPECT_EQ(inf.inflate_text(d, msg.size(), text), 0);
  EXPECT_EQ(inf.inflate_text(d, msg.size() - 1, text), 1009);
  EXPECT_TRUE(text.empty());
  // The stream is reset after the error: the next message works.
  EXPECT_EQ(inf.inflate_text(d, msg.size(), text), 0);
  EXPECT_EQ(text, msg);
}

TEST(DeflateInflater, BombStopsAtTheLimit) {
  ps::Inflater inf;
  const std::string zeros(16 << 20, ' ');
  const std::string d = deflate_raw(zeros);
  EXPECT_LT(d.size(), 20000u);
  std::string_view text;
  EXPECT_EQ(inf.inflate_text(d, 64 * 1024, text), 1009);
  EXPECT_LE(inf.buffer_capacity(), 2 * 64 * 1024u);
  inf.trim();
  EXPECT_EQ(inf.buffer_capacity(), std::string().capacity());
}

TEST(DeflateInflater, CorruptDataIs1007) {
  ps::Inflater inf;
  std::string_view text;
  EXPECT_EQ(inf.inflate_text("\xff\xff\xff\xff", 1 << 20, text), 1007);  // reserved block type
  EXPECT_EQ(inf.inflate_text("garbage!", 1 << 20, text), 1007);
  // Truncated mid-block.
  const std::string d = deflate_raw(large_json(50000));
  EXPECT_EQ(inf.inflate_text(std::string_view(d).substr(0, d.size() / 2), 1 << 20, text), 1007);
  // Data after a final block.
  const std::string fin = deflate_raw(tick_event(2), Z_FINISH);
  ASSERT_EQ(inf.inflate_text(fin, 1 << 20, text), 0);  // BFINAL is allowed
  EXPECT_EQ(text, tick_event(2));
  EXPECT_EQ(inf.inflate_text(fin + "xyz", 1 << 20, text), 1007);
  // Valid deflate, invalid UTF-8.
  EXPECT_EQ(inf.inflate_text(deflate_raw("{\"a\":\"\xc3\x28\"}"), 1 << 20, text), 1007);
  EXPECT_EQ(inf.inflate_text(deflate_raw("ends mid code point \xe2\x82"), 1 << 20, text), 1007);
  // Still usable afterwards.
  ASSERT_EQ(inf.inflate_text(deflate_raw("ok"), 1 << 20, text), 0);
  EXPECT_EQ(text, "ok");
}

TEST(DeflateInflater, ContextTakeoverNeedsItsOwnInflater) {
  // A client keeping its context: the second message refers back into the first.
  z_stream z{};
  ASSERT_EQ(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  const std::string m1 = tick_event(1) + tick_event(2);
  const std::string m2 = tick_event(1) + tick_event(2);
  const std::string d1 = deflate_raw(m1, Z_SYNC_FLUSH, &z);
  const std::string d2 = deflate_raw(m2, Z_SYNC_FLUSH, &z);
  deflateEnd(&z);
  EXPECT_LT(d2.size(), d1.size() / 2);

  ps::Inflater per_connection(true);
  std::string_view text;
  ASSERT_EQ(per_connection.inflate_text(d1, 1 << 20, text), 0);
  EXPECT_EQ(text, m1);
  ASSERT_EQ(per_connection.inflate_text(d2, 1 << 20, text), 0);
  EXPECT_EQ(text, m2);
  std::cout << "per-connection (context takeover) inflater: " << per_connection.memory() << " B\n";

  ps::Inflater shared;  // reset per message: the back-reference is "too far back"
  ASSERT_EQ(shared.inflate_text(d1, 1 << 20, text), 0);
  EXPECT_EQ(shared.inflate_text(d2, 1 << 20, text), 1007);
}

}  // namespace
