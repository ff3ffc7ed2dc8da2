// permessage-deflate (RFC 7692), shaped for a push server with many small
// connections: no per-connection compression state at all.
//
//  * Negotiation always answers with server_no_context_takeover, so every
//    server message is compressed on its own by one per-worker Compressor and
//    one compressed frame can be queued on every connection that negotiated
//    the extension (the frame depends only on the payload and window size).
//  * It also always answers with client_no_context_takeover (RFC 7692
//    7.1.1.2: a server MAY include it whether or not the offer did; Chrome's,
//    Firefox's and ws' clients accept it), so client messages are inflated by
//    one per-worker Inflater reset after every message. The Inflater can keep
//    a context across messages (one per connection) for a policy that lets a
//    client take over its context; that costs about 7 KiB of zlib state plus
//    a 2^15 = 32 KiB window per connection once it has sent a message.
//
// Sans-I/O: bytes in, bytes out. Not thread-safe (one instance per worker).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shared_bytes.h"

typedef struct z_stream_s z_stream;

namespace ps {

// ---- negotiation (RFC 7692 section 5 and 7.1) --------------------------------

// What the server agreed to for one connection.
struct DeflateParams {
  // The server's LZ77 window (2^bits). Always 15 since negotiation declines
  // smaller windows (issue 15); kept for the response and the callers.
  std::uint8_t server_window_bits = 15;
  bool server_window_requested = false;  // echo server_max_window_bits=15 in the response
  bool client_no_context_takeover = true;
};

struct DeflateServerOptions {
  // Answer client_no_context_takeover to every offer (else only to offers that
  // carry it): then no connection needs its own inflate context.
  bool always_client_no_context_takeover = true;
};

// Every Sec-WebSocket-Extensions header value of the request, in order. Each
// value is a comma-separated list of offers (RFC 6455 9.1: name, then
// ";"-separated params, a param value a token or a quoted-string whose
// unescaped content is a token; names are compared ASCII case-insensitively).
// The first acceptable permessage-deflate offer wins. An offer is declined
// (and the next one tried) when it has an unknown or duplicated parameter, a
// parameter value that is not 8..15 without leading zeros, a
// client_no_context_takeover / server_no_context_takeover with a value, a
// server_max_window_bits without a value, or server_max_window_bits below 15:
// one frame compressed per event serves every connection only with the full
// window, and compressing again per connection for a smaller one costs the
// worker about 13 times the CPU (issue 15; RFC 7692 7.1.2.1 allows declining).
// server_max_window_bits=15 is accepted and echoed. Malformed syntax declines
// the offer it is in. Never fails the handshake: nullopt means "no extension".
std::optional<DeflateParams> negotiate_permessage_deflate(const std::string_view* header_values,
                                                          std::size_t count,
                                                          const DeflateServerOptions& options = {});

// The Sec-WebSocket-Extensions response value, e.g.
// "permessage-deflate; server_no_context_takeover; client_no_context_takeover".
std::string deflate_response_value(const DeflateParams& params);

// ---- server to client ---------------------------------------------------------

// Payloads shorter than this go out uncompressed (RSV1 clear): deflate's
// framing would save little or nothing.
inline constexpr std::size_t kMinDeflateSize = 100;

// The payload of a complete unmasked server frame (FIN, no extended checks).
std::string_view server_frame_payload(std::string_view frame);

class Compressor {
 public:
  // level: zlib level 1..9 (Z_DEFAULT_COMPRESSION = -1 is 6).
  explicit Compressor(int level = -1) : level_(level) {}
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;

  // `plain` is a complete unmasked text frame (FIN set, RSV clear). Returns
  // the frame to send on a permessage-deflate connection whose server window
  // is 2^window_bits (9..15): the payload deflated as one message (fresh
  // context, trailing 00 00 ff ff removed) in a new frame with RSV1 set; or
  // `plain` itself (shared, not copied) when the payload is shorter than
  // kMinDeflateSize, when deflating does not make the frame smaller, or when
  // zlib fails (out of memory). Throws std::bad_alloc only for the new frame.
  SharedBytes deflate_frame(const SharedBytes& plain, int window_bits = 15);

  // The deflated payload alone (for tests and benchmarks); false on a zlib error.
  bool deflate_payload(std::string_view payload, int window_bits, std::string& out);

  // Bytes of zlib state allocated so far (per window size used).
  std::size_t memory() const;

 private:
  z_stream* stream(int window_bits);  // created on first use; nullptr on failure
  int level_;
  z_stream* streams_[7] = {};  // window bits 9..15
  std::string scratch_;        // compressed bytes of the message in progress
};

// The frame a deflate connection gets for a shared plain frame, built on first
// use and kept in `cache` (e.g. PublishedEvent::deflated) for the next
// connection. Window 15 is cached; a connection with a smaller window gets
// the cached frame when the payload fits its window (then no back-reference
// can reach further), else a frame compressed for it alone.
SharedBytes deflated_frame_cached(SharedBytes& cache, const SharedBytes& plain, Compressor& compressor,
                                  int window_bits = 15);

// ---- client to server ---------------------------------------------------------

class Inflater {
 public:
  // context_takeover: keep the LZ77 window from one message to the next (a
  // client that did not agree to client_no_context_takeover; one Inflater per
  // connection). Otherwise the stream is reset after every message and one
  // Inflater serves every connection of a worker.
  explicit Inflater(bool context_takeover = false) : takeover_(context_takeover) {}
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Inflates one compressed message (the payload of a message whose first
  // frame had RSV1 set; the 00 00 ff ff tail is appended here) and checks
  // that the result is valid UTF-8. Returns 0 and sets `text` (valid until the
  // next call or trim()) or the close code to fail the connection with:
  // 1009 when the inflated message would exceed max_size bytes (inflation
  // stops there: a bomb never inflates past max_size + 1 bytes; the buffer
  // holding them may grow to about twice that while it is filled),
  // 1007 for invalid deflate data (truncated, bad codes, preset dictionary,
  // data after a final block) or invalid UTF-8, 1011 when zlib runs out of
  // memory. After an error the stream is reset (a takeover context is lost).
  std::uint16_t inflate_text(std::string_view compressed, std::size_t max_size, std::string_view& text);

  // Releases the output buffer when it grew large (call when done with text).
  void trim(std::size_t keep = 64 * 1024);
  std::size_t buffer_capacity() const { return out_.capacity(); }
  // Bytes of zlib state (about 7 KiB, plus the 32 KiB window once used).
  std::size_t memory() const;

 private:
  bool init();
  void reset();
  bool takeover_;
  bool window_used_ = false;
  z_stream* z_ = nullptr;
  std::string out_;
};

}  // namespace ps
