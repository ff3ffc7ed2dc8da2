// libFuzzer target: negotiate_permessage_deflate + deflate_response_value
// (RFC 7692 offers in Sec-WebSocket-Extensions header values).
//
// Input layout: byte 0 holds flags. Bit 0 set: DeflateServerOptions::
// always_client_no_context_takeover = false (the default is true). Bit 1
// selects the mode:
//  * clear (raw): the rest, split at '\n', is the list of header values.
//  * set (model): the rest drives a generator of offers (valid and invalid
//    parameters, case, whitespace, quoting, several offers and headers) whose
//    expected outcome is computed alongside; the result must match it.
// Oracles (raw mode, and model mode too):
//  * an accepted answer has window bits 15 (smaller windows are declined,
//    issue 15), and
//    client_no_context_takeover when the options demand it;
//  * its response value is made of token characters, "; " and "=" only,
//    and re-parsed as an offer it is accepted with the same parameters;
//  * the options change client_no_context_takeover only;
//  * ASCII case does not matter; each header value is judged on its own;
//    with no quotes anywhere, the values joined with "," give the same answer;
//    an extension in front of the first value changes nothing; and a plain
//    "permessage-deflate" after the last value (no quotes there) is taken
//    when nothing before was.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "permessage_deflate.h"

#include "fuzz_util.h"

namespace {

using ps::DeflateParams;
using ps::DeflateServerOptions;

std::optional<DeflateParams> negotiate(const std::vector<std::string>& values,
                                       const DeflateServerOptions& o) {
  std::vector<std::string_view> views(values.begin(), values.end());
  return ps::negotiate_permessage_deflate(views.data(), views.size(), o);
}

bool same(const std::optional<DeflateParams>& a, const std::optional<DeflateParams>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return a->server_window_bits == b->server_window_bits &&
         a->server_window_requested == b->server_window_requested &&
         a->client_no_context_takeover == b->client_no_context_takeover;
}

bool response_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == ';' || c == ' ' ||
         c == '=';
}

bool has_quote(std::string_view s) { return s.find('"') != std::string_view::npos; }

std::string ascii_case(std::string s, bool upper) {
  for (char& c : s) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// Every oracle that needs no model of the input.
void check_invariants(const std::vector<std::string>& values, const DeflateServerOptions& opts,
                      const std::optional<DeflateParams>& r) {
  if (r) {
    PS_FUZZ_CHECK(r->server_window_bits == 15);
    PS_FUZZ_CHECK(!opts.always_client_no_context_takeover || r->client_no_context_takeover);

    const std::string resp = ps::deflate_response_value(*r);
    constexpr std::string_view kHead = "permessage-deflate; server_no_context_takeover";
    PS_FUZZ_CHECK(std::string_view(resp).substr(0, kHead.size()) == kHead);
    for (char c : resp) PS_FUZZ_CHECK(response_char(c));
    PS_FUZZ_CHECK(resp.size() <= 120);
    // The answer, read back as an offer, is acceptable and means the same.
    const std::vector<std::string> back{resp};
    PS_FUZZ_CHECK(same(negotiate(back, opts), r));
    DeflateServerOptions literal;
    literal.always_client_no_context_takeover = false;
    PS_FUZZ_CHECK(same(negotiate(back, literal), r));
  }

  // The options only decide client_no_context_takeover.
  DeflateServerOptions other = opts;
  other.always_client_no_context_takeover = !opts.always_client_no_context_takeover;
  const auto r2 = negotiate(values, other);
  PS_FUZZ_CHECK(r.has_value() == r2.has_value());
  if (r) {
    PS_FUZZ_CHECK(r->server_window_bits == r2->server_window_bits);
    PS_FUZZ_CHECK(r->server_window_requested == r2->server_window_requested);
  }

  // Names compare case-insensitively; values are digits.
  std::vector<std::string> upper, lower;
  for (const auto& v : values) {
    upper.push_back(ascii_case(v, true));
    lower.push_back(ascii_case(v, false));
  }
  PS_FUZZ_CHECK(same(negotiate(upper, opts), r));
  PS_FUZZ_CHECK(same(negotiate(lower, opts), r));

  // Each header value stands alone: the first one with an acceptable offer wins.
  std::optional<DeflateParams> first;
  for (const auto& v : values) {
    first = negotiate({v}, opts);
    if (first) break;
  }
  PS_FUZZ_CHECK(same(first, r));

  bool quotes = false;
  for (const auto& v : values) quotes = quotes || has_quote(v);
  if (!quotes && !values.empty()) {
    // Several header lines are one comma-separated list (RFC 7230 3.2.2).
    std::string joined;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i != 0) joined += ',';
      joined += values[i];
    }
    PS_FUZZ_CHECK(same(negotiate({joined}, opts), r));
  }

  if (!values.empty()) {
    // A list element before the first one does not disturb it.
    std::vector<std::string> prefixed = values;
    prefixed[0] = "x-webkit-deflate-frame; no_context_takeover, " + prefixed[0];
    PS_FUZZ_CHECK(same(negotiate(prefixed, opts), r));
    // A valid offer after the last element is taken when nothing was before.
    if (!has_quote(values.back())) {
      std::vector<std::string> suffixed = values;
      suffixed.back() += ", permessage-deflate";
      std::optional<DeflateParams> expect = r;
      if (!expect) {
        expect = DeflateParams{};
        expect->client_no_context_takeover = opts.always_client_no_context_takeover;
      }
      PS_FUZZ_CHECK(same(negotiate(suffixed, opts), expect));
    }
  }
}

// ---- model mode ----------------------------------------------------------------

const char* const kOws[] = {"", "", " ", "\t", "  ", " \t "};

std::string ows(std::string_view& in) { return kOws[ps_fuzz::take_byte(in) % 6]; }

std::string random_case(std::string_view name, std::string_view& in) {
  std::string s(name);
  const unsigned char mask = ps_fuzz::take_byte(in);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((mask >> (i % 8)) & 1 && s[i] >= 'a' && s[i] <= 'z') s[i] = static_cast<char>(s[i] - 'a' + 'A');
  }
  return s;
}

// A window bits value as written: plain, quoted, or quoted with an escape.
std::string bits_text(const std::string& digits, unsigned char how) {
  switch (how % 4) {
    case 1:
      return "\"" + digits + "\"";
    case 2: {
      std::string q = "\"";
      for (char c : digits) q += std::string("\\") + c;
      return q + "\"";
    }
    default:
      return digits;
  }
}

struct ModelOffer {
  bool deflate = false;
  bool valid = true;
  bool server_nct = false, client_nct = false, server_bits_seen = false, client_bits_seen = false;
  int server_bits = 0;
};

// Appends one parameter to `text`, updating the model.
void model_param(std::string_view& in, std::string& text, ModelOffer& m) {
  const unsigned char kind = ps_fuzz::take_byte(in);
  const unsigned char variant = ps_fuzz::take_byte(in);
  static const char* const kGoodBits[] = {"8", "9", "10", "11", "12", "13", "14", "15"};
  static const char* const kBadBits[] = {"16", "7", "08", "0", "1", "015", "0x0f", "99", "-9", "1 0"};
  const auto param_name = [&](std::string_view n) { return random_case(n, in); };
  std::string p;
  switch (kind % 6) {
    case 0:
    case 1: {
      const bool server = kind % 6 == 0;
      p = param_name(server ? "server_no_context_takeover" : "client_no_context_takeover");
      bool& seen = server ? m.server_nct : m.client_nct;
      if (variant % 5 == 4) {  // takes no value
        p += ows(in) + "=" + ows(in) + (variant & 8 ? "\"\"" : "1");
        m.valid = false;
      }
      m.valid = m.valid && !seen;
      seen = true;
      break;
    }
    case 2: {
      p = param_name("server_max_window_bits");
      if (variant % 7 == 6) {  // value required
        m.valid = false;
      } else if (variant % 7 == 5) {
        const char* bad = kBadBits[(variant >> 3) % 10];
        // "1 0" unquoted is a syntax error, quoted an invalid value: both decline.
        p += ows(in) + "=" + ows(in) + bits_text(bad, (variant >> 4) % 2 ? 1 : 0);
        m.valid = false;
      } else {
        const int n = 8 + (variant >> 3) % 8;
        p += ows(in) + "=" + ows(in) + bits_text(kGoodBits[n - 8], variant >> 6);
        if (!m.server_bits_seen) m.server_bits = n;
      }
      m.valid = m.valid && !m.server_bits_seen;
      m.server_bits_seen = true;
      break;
    }
    case 3: {
      p = param_name("client_max_window_bits");
      if (variant % 7 == 5) {
        p += ows(in) + "=" + ows(in) + bits_text(kBadBits[(variant >> 3) % 10], (variant >> 4) % 2 ? 1 : 0);
        m.valid = false;
      } else if (variant % 7 != 6) {
        p += ows(in) + "=" + ows(in) + bits_text(kGoodBits[(variant >> 3) % 8], variant >> 6);
      }
      m.valid = m.valid && !m.client_bits_seen;
      m.client_bits_seen = true;
      break;
    }
    case 4: {  // unknown parameter
      static const char* const kUnknown[] = {"mystery", "max_window_bits", "no_context_takeover",
                                             "server_max_window_bit", "client_max_window_bitss"};
      p = param_name(kUnknown[variant % 5]);
      if (variant & 8) p += "=" + bits_text("10", variant >> 4);
      m.valid = false;
      break;
    }
    default: {  // malformed syntax: declines this offer only
      static const char* const kJunk[] = {"", "=10", "\"q\"", "a=", "a==1", "a=\"1,2\" b", "@", "a b"};
      p = kJunk[variant % 8];
      m.valid = false;
      break;
    }
  }
  text += ows(in) + ";" + ows(in) + p + ows(in);
}

void model_mode(std::string_view in, const DeflateServerOptions& opts) {
  static const char* const kNames[] = {
      "permessage-deflate", "permessage-deflate", "x-webkit-deflate-frame", "permessage-deflate-x", "deflate",
      "permessage_deflate"};
  std::vector<std::string> values(1);
  std::optional<DeflateParams> expect;
  for (int offers = 0; !in.empty() && offers < 16; ++offers) {
    const unsigned char head = ps_fuzz::take_byte(in);
    ModelOffer m;
    const unsigned name = head % 6;
    m.deflate = name < 2;
    std::string text = ows(in) + random_case(kNames[name], in);
    for (unsigned n = (head >> 3) % 6; n > 0 && !in.empty(); --n) model_param(in, text, m);
    // Between offers: a comma in the same value (maybe with empty elements)
    // or a new header value.
    std::string& cur = values.back();
    if (!cur.empty()) cur += (head & 0x40) ? ", ," : ",";
    cur += text;
    if (head & 0x80) values.emplace_back();
    const bool acceptable = m.deflate && m.valid && (!m.server_bits_seen || m.server_bits == 15);
    if (acceptable && !expect) {
      DeflateParams p;
      p.server_window_requested = m.server_bits_seen;
      p.server_window_bits = static_cast<std::uint8_t>(m.server_bits_seen ? m.server_bits : 15);
      p.client_no_context_takeover = opts.always_client_no_context_takeover || m.client_nct;
      expect = p;
    }
  }
  const auto r = negotiate(values, opts);
  PS_FUZZ_CHECK(same(r, expect));
  check_invariants(values, opts, r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const unsigned char flags = ps_fuzz::take_byte(in);
  DeflateServerOptions opts;
  opts.always_client_no_context_takeover = (flags & 1) == 0;
  if (flags & 2) {
    model_mode(in, opts);
    return 0;
  }
  std::vector<std::string> values;
  while (!in.empty() && values.size() < 64) {
    const std::size_t nl = in.find('\n');
    values.emplace_back(ps_fuzz::take(in, nl));
    ps_fuzz::take(in, 1);
  }
  check_invariants(values, opts, negotiate(values, opts));
  return 0;
}
