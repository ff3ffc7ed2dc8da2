#include "permessage_deflate.h"
#include "ascii.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "frame_parser.h"
#include "frame_writer.h"
#include "utf8.h"

namespace ps {

namespace {

// ---- Sec-WebSocket-Extensions syntax (RFC 6455 9.1, RFC 7230 3.2.6) ----------

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

// "8".."15", no leading zeros; 0 when invalid.
int window_bits_value(std::string_view v) {
  if (v.size() == 1 && v[0] >= '8' && v[0] <= '9') return v[0] - '0';
  if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + (v[1] - '0');
  return 0;
}

// One offer's parameters as they are parsed.
struct Offer {
  bool valid = true;
  bool server_nct = false, client_nct = false, server_bits_seen = false, client_bits_seen = false;
  int server_bits = 0;

  void param(std::string_view name, bool has_value, std::string_view value) {
    if (iequals(name, "server_no_context_takeover")) {
      valid = valid && !server_nct && !has_value;
      server_nct = true;
    } else if (iequals(name, "client_no_context_takeover")) {
      valid = valid && !client_nct && !has_value;
      client_nct = true;
    } else if (iequals(name, "server_max_window_bits")) {
      server_bits = has_value ? window_bits_value(value) : 0;
      valid = valid && !server_bits_seen && server_bits != 0;
      server_bits_seen = true;
    } else if (iequals(name, "client_max_window_bits")) {
      // A hint that the client can limit its window; we never ask it to.
      valid = valid && !client_bits_seen && (!has_value || window_bits_value(value) != 0);
      client_bits_seen = true;
    } else {
      valid = false;
    }
  }
  // Only the full window (issue 15): every connection must be able to take
  // the one frame compressed per event; a smaller window would mean
  // compressing each event again for each such connection (13 times the
  // worker's CPU for 1,000 clients asking for 2^9). RFC 7692 7.1.2.1 lets the
  // server decline; the next offer is tried, else no extension.
  bool acceptable() const { return valid && (!server_bits_seen || server_bits == 15); }
};

// Walks one header value: a comma-separated list of extensions.
class ExtensionList {
 public:
  explicit ExtensionList(std::string_view s) : s_(s) {}

  // Parses the next non-empty element; false at the end. `is_deflate` tells
  // whether it names permessage-deflate; params are fed to `offer`, and
  // malformed syntax marks the offer invalid.
  bool next(bool& is_deflate, Offer& offer) {
    for (;;) {
      skip_ows();
      if (at_end()) return false;
      if (s_[p_] != ',') break;
      ++p_;  // empty list element (RFC 7230 7)
    }
    const std::string_view name = token();
    is_deflate = iequals(name, "permessage-deflate");
    if (name.empty()) return fail(offer);
    for (;;) {
      skip_ows();
      if (at_end() || s_[p_] == ',') return true;
      if (s_[p_] != ';') return fail(offer);
      ++p_;
      skip_ows();
      const std::string_view pname = token();
      if (pname.empty()) return fail(offer);
      skip_ows();
      bool has_value = false;
      std::string_view value;
      std::string unescaped;
      if (!at_end() && s_[p_] == '=') {
        ++p_;
        skip_ows();
        has_value = true;
        if (!at_end() && s_[p_] == '"') {
          if (!quoted(unescaped)) return fail(offer);
          // RFC 6455 9.1: the unescaped value must be a token too.
          if (!is_token(unescaped)) offer.valid = false;
          value = unescaped;
        } else {
          value = token();
          if (value.empty()) return fail(offer);
        }
      }
      offer.param(pname, has_value, value);
    }
  }

 private:
  bool at_end() const { return p_ >= s_.size(); }
  void skip_ows() {
    while (!at_end() && (s_[p_] == ' ' || s_[p_] == '\t')) ++p_;
  }
  std::string_view token() {
    const std::size_t start = p_;
    while (!at_end() && is_tchar(s_[p_])) ++p_;
    return s_.substr(start, p_ - start);
  }
  // At an opening quote: reads through the closing one. false when unterminated.
  bool quoted(std::string& out) {
    ++p_;
    while (!at_end()) {
      const char c = s_[p_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (at_end()) return false;
        out += s_[p_++];
      } else {
        out += c;
      }
    }
    return false;
  }
  // Malformed element: declined; resume after the next comma outside quotes.
  bool fail(Offer& offer) {
    offer.valid = false;
    while (!at_end() && s_[p_] != ',') {
      if (s_[p_] == '"') {
        std::string ignored;
        if (!quoted(ignored)) break;
      } else {
        ++p_;
      }
    }
    return true;
  }

  std::string_view s_;
  std::size_t p_ = 0;
};

// The 00 00 ff ff that ends a sync flush: removed by the sender, put back here.
constexpr unsigned char kTail[4] = {0x00, 0x00, 0xff, 0xff};

std::size_t header_size(std::size_t len) { return len < 126 ? 2 : len <= 0xFFFF ? 4 : 10; }

// zlib's own estimates (zlib.h, deflateInit2/inflateInit2 memory notes).
std::size_t deflate_memory(int bits) {
  return (std::size_t{1} << (bits + 2)) + (std::size_t{1} << (8 + 9)) + 6 * 1024;
}

}  // namespace

std::optional<DeflateParams> negotiate_permessage_deflate(const std::string_view* header_values,
                                                          std::size_t count,
                                                          const DeflateServerOptions& options) {
  for (std::size_t i = 0; i < count; ++i) {
    ExtensionList list(header_values[i]);
    bool is_deflate = false;
    for (Offer offer; list.next(is_deflate, offer); offer = Offer{}) {
      if (!is_deflate || !offer.acceptable()) continue;
      DeflateParams p;
      p.server_window_requested = offer.server_bits_seen;
      p.server_window_bits = static_cast<std::uint8_t>(offer.server_bits_seen ? offer.server_bits : 15);
      p.client_no_context_takeover = options.always_client_no_context_takeover || offer.client_nct;
      return p;
    }
  }
  return std::nullopt;
}

std::string deflate_response_value(const DeflateParams& params) {
  std::string v = "permessage-deflate; server_no_context_takeover";
  if (params.client_no_context_takeover) v += "; client_no_context_takeover";
  if (params.server_window_requested) {
    v += "; server_max_window_bits=";
    v += std::to_string(params.server_window_bits);
  }
  return v;
}

std::string_view server_frame_payload(std::string_view frame) {
  if (frame.size() < 2) return {};
  const std::uint8_t len7 = static_cast<std::uint8_t>(frame[1]) & 0x7F;
  const std::size_t h = len7 == 126 ? 4 : len7 == 127 ? 10 : 2;
  return frame.size() < h ? std::string_view{} : frame.substr(h);
}

// ---- Compressor ----------------------------------------------------------------

Compressor::~Compressor() {
  for (z_stream*& z : streams_) {
    if (z != nullptr) {
      deflateEnd(z);
      delete z;
      z = nullptr;
    }
  }
}

z_stream* Compressor::stream(int window_bits) {
  window_bits = std::clamp(window_bits, 9, 15);
  z_stream*& z = streams_[window_bits - 9];
  if (z == nullptr) {
    auto* fresh = new (std::nothrow) z_stream{};
    if (fresh == nullptr) return nullptr;
    // Raw deflate (negative window bits), default memLevel and strategy.
    if (deflateInit2(fresh, level_, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      delete fresh;
      return nullptr;
    }
    z = fresh;
  }
  return z;
}

bool Compressor::deflate_payload(std::string_view payload, int window_bits, std::string& out) {
  z_stream* z = stream(window_bits);
  if (z == nullptr) return false;
  out.resize(deflateBound(z, payload.size()) + 16);
  z->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(payload.data()));
  z->avail_in = static_cast<uInt>(payload.size());
  std::size_t produced = 0;
  int rc;
  for (;;) {
    z->next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    z->avail_out = static_cast<uInt>(out.size() - produced);
    rc = deflate(z, Z_SYNC_FLUSH);
    produced = out.size() - z->avail_out;
    if (rc != Z_OK || z->avail_out != 0) break;
    out.resize(out.size() * 2);  // sync flush may need more than deflateBound
  }
  deflateReset(z);  // no context takeover: the next message starts fresh
  if (rc != Z_OK || produced < 4 || std::memcmp(out.data() + produced - 4, kTail, 4) != 0) return false;
  out.resize(produced - 4);
  return true;
}

SharedBytes Compressor::deflate_frame(const SharedBytes& plain, int window_bits) {
  const std::string_view payload = server_frame_payload(plain.view());
  if (payload.size() < kMinDeflateSize || payload.size() > 0xFFFFFFFFu) return plain;
  bool ok;
  try {
    ok = deflate_payload(payload, window_bits, scratch_);
  } catch (const std::bad_alloc&) {
    ok = false;
  }
  const std::size_t n = scratch_.size();
  if (!ok || header_size(n) + n >= plain.size()) {
    if (scratch_.capacity() > 256 * 1024) std::string().swap(scratch_);
    return plain;
  }
  std::uint8_t header[kMaxFrameHeader];
  const std::size_t h = write_frame_header(Opcode::text, n, header);
  header[0] |= 0x40;  // RSV1: this message is compressed
  SharedBytes frame = SharedBytes::allocate(h + n);
  std::memcpy(frame.mutable_data(), header, h);
  std::memcpy(frame.mutable_data() + h, scratch_.data(), n);
  if (scratch_.capacity() > 256 * 1024) std::string().swap(scratch_);
  return frame;
}

std::size_t Compressor::memory() const {
  std::size_t total = 0;
  for (int i = 0; i < 7; ++i) {
    if (streams_[i] != nullptr) total += deflate_memory(9 + i);
  }
  return total + scratch_.capacity();
}

SharedBytes deflated_frame_cached(SharedBytes& cache, const SharedBytes& plain, Compressor& compressor,
                                  int window_bits) {
  if (window_bits < 15 && server_frame_payload(plain.view()).size() > (std::size_t{1} << window_bits)) {
    return compressor.deflate_frame(plain, window_bits);
  }
  if (!cache) cache = compressor.deflate_frame(plain, 15);
  return cache;
}

// ---- Inflater ------------------------------------------------------------------

Inflater::~Inflater() {
  if (z_ != nullptr) {
    inflateEnd(z_);
    delete z_;
  }
}

bool Inflater::init() {
  if (z_ != nullptr) return true;
  auto* fresh = new (std::nothrow) z_stream{};
  if (fresh == nullptr) return false;
  // Raw inflate with the largest window: accepts any client window.
  if (inflateInit2(fresh, -15) != Z_OK) {
    delete fresh;
    return false;
  }
  z_ = fresh;
  return true;
}

void Inflater::reset() {
  if (z_ != nullptr) inflateReset(z_);
}

std::uint16_t Inflater::inflate_text(std::string_view compressed, std::size_t max_size,
                                     std::string_view& text) {
  text = {};
  out_.clear();
  // An empty payload is the empty message (strictly it should be one 0x00).
  if (compressed.empty()) return 0;
  if (!init()) return close_code::internal_error;
  window_used_ = true;

  const std::size_t limit = max_size == SIZE_MAX ? max_size : max_size + 1;  // one byte over proves too big
  std::size_t produced = 0;
  bool ended = false;
  const std::string_view pieces[2] = {compressed, {reinterpret_cast<const char*>(kTail), 4}};
  std::uint16_t result = 0;
  try {
    for (int i = 0; i < 2 && !ended && result == 0; ++i) {
      z_->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(pieces[i].data()));
      z_->avail_in = static_cast<uInt>(pieces[i].size());
      for (;;) {
        if (produced == out_.size()) {
          if (out_.size() >= limit) {
            result = close_code::too_big;
            break;
          }
          const std::size_t want = std::max({out_.size() * 2, compressed.size() * 4, std::size_t{1024}});
          out_.resize(std::min(want, limit));
        }
        z_->next_out = reinterpret_cast<Bytef*>(out_.data() + produced);
        z_->avail_out = static_cast<uInt>(std::min<std::size_t>(out_.size() - produced, 1u << 30));
        const uInt before = z_->avail_out;
        const int rc = inflate(z_, Z_SYNC_FLUSH);
        produced += before - z_->avail_out;
        if (rc == Z_STREAM_END) {
          // A final block (BFINAL): allowed; only the tail may follow it.
          if (i == 0 && z_->avail_in != 0) result = close_code::invalid_payload;
          ended = true;
          break;
        }
        if (rc == Z_MEM_ERROR) {
          result = close_code::internal_error;
          break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {  // Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR
          result = close_code::invalid_payload;
          break;
        }
        if (z_->avail_out != 0) break;  // this piece is used up
      }
    }
    // After the tail the stream must sit at a block boundary: anything else
    // is a truncated message.
    if (result == 0 && !ended && !(z_->data_type & 128)) result = close_code::invalid_payload;
    // A final block can end on the one byte past the limit (the buffer holds
    // max_size + 1): Z_STREAM_END comes before the buffer is found full.
    if (result == 0 && produced > max_size) result = close_code::too_big;
  } catch (const std::bad_alloc&) {
    result = close_code::internal_error;
  }
  if (result != 0 || !takeover_ || ended) reset();
  if (result != 0) {
    out_.clear();
    return result;
  }
  out_.resize(produced);
  if (!is_valid_utf8(out_)) return close_code::invalid_payload;
  text = out_;
  return 0;
}

void Inflater::trim(std::size_t keep) {
  if (out_.capacity() > keep) std::string().swap(out_);
}

std::size_t Inflater::memory() const {
  if (z_ == nullptr) return 0;
  // inflate_state is about 7 KiB; the window (2^15) is allocated on first use.
  return 7 * 1024 + (window_used_ ? std::size_t{1} << 15 : 0);
}

}  // namespace ps
