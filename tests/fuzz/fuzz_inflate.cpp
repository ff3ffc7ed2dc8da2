// libFuzzer target: ps::Inflater (client messages, RFC 7692) and the
// ps::Compressor round trip.
//
// Input layout: byte 0 selects max_size (small limits, so bombs hit them),
// byte 1 the round trip's parameters (bits 0-2 window 9..15, bits 3-4 the
// shape of x: the rest once, 3 times, 40 times, or twice around a filler of
// about the window's size; bits 5-6 the zlib level; bit 7 also a
// context-takeover pair), the rest is the data.
// Oracles:
//  * the rest as a compressed payload: the result is exactly what an
//    independent raw inflate (zlib, one call, output capped at max_size + 1)
//    says: 0 with the same text (<= max_size bytes, valid UTF-8), 1009 when
//    the output would pass max_size (or 1007 when bad data comes right
//    there), 1007 for bad, truncated or trailing data or invalid UTF-8;
//    never anything else. The output buffer stays within
//    twice the limit. A per-worker Inflater reused across inputs answers like
//    a fresh one; a context-takeover Inflater answers like a fresh one for a
//    first message and is still usable after it.
//  * x = the rest (repeated, or around a filler): deflate_payload(x) decodes with an independent
//    inflate using only the negotiated window, and through the Inflater gives
//    x back (or 1007 when x is not UTF-8, 1009 when it is over the limit);
//    deflate_frame / deflated_frame_cached carry the same bytes in a smaller
//    RSV1 frame or return the plain frame itself; a client that keeps its
//    context across two messages is decoded by an Inflater(true).
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "frame_parser.h"
#include "frame_writer.h"
#include "permessage_deflate.h"
#include "shared_bytes.h"
#include "utf8.h"

#include "fuzz_util.h"

namespace {

constexpr char kTail[] = {'\x00', '\x00', '\xff', '\xff'};

struct RefResult {
  std::uint16_t code;
  std::string text;
  // The output reached max_size + 1 bytes. Then 1007 is as right as 1009:
  // zlib may find bad data in the same call that fills the buffer, and the
  // Inflater (which stops between the payload and the appended tail when its
  // buffer is full) and this one-call reference may see it or not.
  bool over = false;
};

// What inflate_text() must answer, from zlib alone.
RefResult reference_inflate(std::string_view compressed, std::size_t max_size) {
  if (compressed.empty()) return {0, {}};  // documented leniency: the empty message
  std::string in(compressed);
  in.append(kTail, 4);
  std::string out(max_size + 1, '\0');
  z_stream z{};
  if (inflateInit2(&z, -15) != Z_OK) ps_fuzz::fuzz_fail("inflateInit2");
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&z, Z_SYNC_FLUSH);
  const std::size_t produced = out.size() - z.avail_out;
  const std::size_t consumed = z.total_in;
  const bool boundary = (z.data_type & 128) != 0;
  inflateEnd(&z);
  out.resize(produced);
  RefResult r{ps::close_code::invalid_payload, {}, produced > max_size};
  if (rc == Z_STREAM_END) {
    if (consumed < compressed.size()) return r;  // data after the final block
    if (produced > max_size) return {ps::close_code::too_big, {}, true};
  } else if (rc == Z_OK || rc == Z_BUF_ERROR) {
    if (produced > max_size) return {ps::close_code::too_big, {}, true};
    if (z.avail_in != 0 || !boundary) return r;  // truncated
  } else {
    return r;  // Z_DATA_ERROR
  }
  if (!ps::is_valid_utf8(out)) return r;
  return {0, std::move(out)};
}

// Raw inflate with exactly `window_bits`, the output taken in small pieces:
// zlib checks distances against its 2^window_bits window only for bytes
// that are no longer in the current output buffer, so this catches a
// back-reference further than the negotiated window. false on bad data.
bool zlib_inflate(std::string_view deflated, int window_bits, std::size_t expect_size, std::string& out) {
  z_stream z{};
  if (inflateInit2(&z, -window_bits) != Z_OK) ps_fuzz::fuzz_fail("inflateInit2");
  std::string in(deflated);
  in.append(kTail, 4);
  out.assign(expect_size + 1, '\0');
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  std::size_t produced = 0;
  int rc = Z_OK;
  while (rc == Z_OK && produced < out.size()) {
    z.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    z.avail_out = static_cast<uInt>(std::min<std::size_t>(out.size() - produced, 200));
    const uInt before = z.avail_out;
    rc = inflate(&z, Z_SYNC_FLUSH);
    produced += before - z.avail_out;
    if (rc == Z_OK && z.avail_out != 0) break;  // input used up
  }
  out.resize(produced);
  const bool ok = (rc == Z_OK || rc == Z_BUF_ERROR || rc == Z_STREAM_END) && z.avail_in == 0;
  inflateEnd(&z);
  return ok;
}

// A client's deflater: sync-flushed message, tail removed.
std::string client_deflate(z_stream& z, std::string_view msg) {
  std::string out(deflateBound(&z, msg.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(msg.data()));
  z.avail_in = static_cast<uInt>(msg.size());
  std::size_t produced = 0;
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    z.avail_out = static_cast<uInt>(out.size() - produced);
    const int rc = deflate(&z, Z_SYNC_FLUSH);
    PS_FUZZ_CHECK(rc == Z_OK || rc == Z_BUF_ERROR);
    produced = out.size() - z.avail_out;
    if (z.avail_out != 0) break;
    out.resize(out.size() * 2);
  }
  PS_FUZZ_CHECK(produced >= 4 && std::memcmp(out.data() + produced - 4, kTail, 4) == 0);
  out.resize(produced - 4);
  return out;
}

std::size_t header_size(std::size_t n) { return n < 126 ? 2 : n <= 0xFFFF ? 4 : 10; }

void check_inflate(std::string_view compressed, std::size_t max_size) {
  static ps::Inflater shared;  // one per worker, across connections: reset per message
  const RefResult ref = reference_inflate(compressed, max_size);

  ps::Inflater fresh;
  std::string_view text;
  const std::uint16_t rc = fresh.inflate_text(compressed, max_size, text);
  PS_FUZZ_CHECK(rc == 0 || rc == ps::close_code::invalid_payload || rc == ps::close_code::too_big);
  if (rc == 0) {
    PS_FUZZ_CHECK(text.size() <= max_size);
    PS_FUZZ_CHECK(ps::is_valid_utf8(text));
  } else {
    PS_FUZZ_CHECK(text.empty());
  }
  if (ref.over) {
    PS_FUZZ_CHECK(rc == ps::close_code::too_big || rc == ps::close_code::invalid_payload);
  } else {
    PS_FUZZ_CHECK(rc == ref.code);  // in particular 1009 only past the limit
  }
  PS_FUZZ_CHECK(text == ref.text);
  // A bomb costs at most the limit (string growth may double it).
  PS_FUZZ_CHECK(fresh.buffer_capacity() <= std::max<std::size_t>(30, 2 * (max_size + 1)));

  std::string_view text2;
  PS_FUZZ_CHECK(shared.inflate_text(compressed, max_size, text2) == rc);
  PS_FUZZ_CHECK(text2 == ref.text);
  shared.trim();

  // A connection keeping its context: the first message is like any other,
  // and the stream is usable afterwards (reset after an error or a final
  // block, at a block boundary otherwise).
  ps::Inflater takeover(true);
  PS_FUZZ_CHECK(takeover.inflate_text(compressed, max_size, text2) == rc);
  PS_FUZZ_CHECK(text2 == ref.text);
  PS_FUZZ_CHECK(takeover.inflate_text(std::string_view("\0", 1), max_size, text2) == 0);
  PS_FUZZ_CHECK(text2.empty());
}

void check_round_trip(std::string_view x, std::size_t max_size, unsigned char params) {
  static ps::Compressor compressors[4] = {ps::Compressor(1), ps::Compressor(6), ps::Compressor(9),
                                          ps::Compressor(-1)};
  static ps::Inflater shared;
  const int window_bits = 9 + (params & 7) % 7;
  ps::Compressor& c = compressors[(params >> 5) & 3];
  const bool utf8 = ps::is_valid_utf8(x);

  std::string d;
  PS_FUZZ_CHECK(c.deflate_payload(x, window_bits, d));
  std::string plain_back;
  PS_FUZZ_CHECK(zlib_inflate(d, window_bits, x.size(), plain_back));
  PS_FUZZ_CHECK(plain_back == x);

  std::string_view text;
  std::uint16_t rc = shared.inflate_text(d, 1 << 20, text);
  PS_FUZZ_CHECK(rc == (utf8 ? 0 : ps::close_code::invalid_payload));
  if (utf8) PS_FUZZ_CHECK(text == x);
  rc = shared.inflate_text(d, max_size, text);
  PS_FUZZ_CHECK(rc == (x.size() > max_size ? ps::close_code::too_big
                       : utf8              ? 0
                                           : ps::close_code::invalid_payload));
  if (rc == 0) PS_FUZZ_CHECK(text == x);
  shared.trim();

  // The frame a deflate connection gets.
  const ps::SharedBytes plain = ps::SharedBytes::concat({ps::make_frame(ps::Opcode::text, x)});
  const ps::SharedBytes f = c.deflate_frame(plain, window_bits);
  const bool kept_plain = x.size() < ps::kMinDeflateSize || header_size(d.size()) + d.size() >= plain.size();
  PS_FUZZ_CHECK((f.data() == plain.data()) == kept_plain);
  if (!kept_plain) {
    PS_FUZZ_CHECK(static_cast<std::uint8_t>(f.data()[0]) == 0xC1);
    PS_FUZZ_CHECK(f.size() < plain.size());
    PS_FUZZ_CHECK(ps::server_frame_payload(f.view()) == d);  // deterministic after the reset
  }
  ps::SharedBytes cache;
  const ps::SharedBytes cached = ps::deflated_frame_cached(cache, plain, c, window_bits);
  if (cached.data() != plain.data()) {
    PS_FUZZ_CHECK(static_cast<std::uint8_t>(cached.data()[0]) == 0xC1);
    PS_FUZZ_CHECK(zlib_inflate(ps::server_frame_payload(cached.view()), window_bits, x.size(), plain_back));
    PS_FUZZ_CHECK(plain_back == x);
  }

  if ((params & 0x80) && !x.empty()) {
    // A client that keeps its context: the second message refers into the first.
    // (Not for x empty: a second sync flush with no input emits nothing.)
    z_stream z{};
    PS_FUZZ_CHECK(deflateInit2(&z, 6, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    const std::string d1 = client_deflate(z, x);
    const std::string d2 = client_deflate(z, x);
    deflateEnd(&z);
    ps::Inflater per_connection(true);
    for (const std::string* m : {&d1, &d2}) {
      rc = per_connection.inflate_text(*m, 1 << 20, text);
      PS_FUZZ_CHECK(rc == (utf8 ? 0 : ps::close_code::invalid_payload));
      if (utf8) PS_FUZZ_CHECK(text == x);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static constexpr std::size_t kLimits[] = {0,  1,   2,    3,    4,    7,    15,   16,
                                            31, 100, 1000, 1023, 1024, 1025, 4096, 65535};
  const std::size_t max_size = kLimits[ps_fuzz::take_byte(in) % 16];
  const unsigned char params = ps_fuzz::take_byte(in);

  check_inflate(in, max_size);

  // x: the rest once, 3 or 40 times, or twice around a filler about as long
  // as the window (so matches sit just inside or just outside it).
  std::string x;
  const unsigned shape = (params >> 3) & 3;
  if (shape == 3) {
    const int window_bits = 9 + (params & 7) % 7;
    const std::size_t filler = (std::size_t{1} << window_bits) + (in.size() & 31) - 16;
    x.append(in);
    std::uint32_t lcg = static_cast<std::uint32_t>(in.size()) * 2654435761u + 1;
    for (std::size_t i = 0; i < filler; ++i) {
      lcg = lcg * 1664525u + 1013904223u;
      x.push_back(static_cast<char>(' ' + (lcg >> 24) % 95));  // printable ASCII, barely compressible
    }
    x.append(in);
  } else {
    static constexpr std::size_t kRepeat[] = {1, 3, 40};
    for (std::size_t i = 0; i < kRepeat[shape] && x.size() + in.size() <= 64 * 1024; ++i) x.append(in);
  }
  check_round_trip(x, max_size, params);
  return 0;
}
