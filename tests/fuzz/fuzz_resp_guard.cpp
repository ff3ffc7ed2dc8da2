// libFuzzer target: the RESP2 reply guard (resp_guard.h).
//
// Input: byte 0 = max_bulk (0..31), byte 1 = max_line (0..63), byte 2 = the
// seed of the chunk sizes, then the stream.
// Oracles:
// - chunking does not matter: the stream fed whole and fed in seeded chunks
//   gives the same status, output and counters;
// - an independent recursive reading of the stream (same grammar, same
//   limits) agrees: malformed input is malformed for the guard; for a stream
//   of complete replies the guard ends at a boundary and its output is the
//   input with every bulk over max_bulk replaced by "$-1\r\n"; for a stream
//   cut inside a reply, the output starts with the complete replies' output;
// - the output is valid RESP: hiredis 0.14's own reader parses it into
//   exactly those replies, a null wherever a bulk was discarded.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <hiredis/hiredis.h>

#include "resp_guard.h"

#include "fuzz_util.h"

namespace {

using ps::RespGuard;

void append(void* ctx, const char* p, std::size_t n) { static_cast<std::string*>(ctx)->append(p, n); }

// ---- the reference: a recursive reading of a whole buffer ----------------------

struct Node {
  int type;  // REDIS_REPLY_*
  std::string str;
  long long integer = 0;
  std::vector<Node> elements;
};

enum class Ref { complete, incomplete, malformed };

struct Reader {
  std::string_view in;
  std::size_t pos = 0;
  ps::RespGuardLimits limits;
  std::string out;

  // The content of a ":" "$" "*" line, strictly an int64 (string2ll).
  Ref number(long long* v) {
    const std::size_t start = pos;
    while (pos < in.size() && in[pos] != '\r') {
      if (pos - start == 20) return Ref::malformed;
      pos++;
    }
    if (pos == in.size()) return Ref::incomplete;
    const std::string_view s = in.substr(start, pos - start);
    pos++;
    if (pos == in.size()) return Ref::incomplete;
    if (in[pos] != '\n') return Ref::malformed;
    pos++;
    if (s.empty()) return Ref::malformed;
    if (s == "0") {
      *v = 0;
      return Ref::complete;
    }
    std::size_t i = s[0] == '-' ? 1 : 0;
    if (i == s.size() || s[i] < '1' || s[i] > '9') return Ref::malformed;
    unsigned __int128 m = 0;
    for (; i < s.size(); i++) {
      if (s[i] < '0' || s[i] > '9') return Ref::malformed;
      m = m * 10 + static_cast<unsigned>(s[i] - '0');
    }
    const unsigned __int128 limit = (static_cast<unsigned __int128>(1) << 63) - (s[0] == '-' ? 0 : 1);
    if (m > limit) return Ref::malformed;
    *v = s[0] == '-' ? -static_cast<long long>(m - 1) - 1 : static_cast<long long>(m);
    return Ref::complete;
  }

  Ref reply(int depth, Node& n) {
    if (pos == in.size()) return Ref::incomplete;
    const char t = in[pos];
    const std::size_t start = pos;
    pos++;
    switch (t) {
      case '+':
      case '-': {
        n.type = t == '+' ? REDIS_REPLY_STATUS : REDIS_REPLY_ERROR;
        // Up to the first CRLF; while it has not come, everything but a
        // trailing CR is known to be content.
        const std::size_t from = pos;
        const std::size_t crlf = in.find("\r\n", from);
        if (crlf == std::string_view::npos) {
          const std::size_t known = in.size() - from - (in.back() == '\r' && in.size() > from ? 1 : 0);
          return known > limits.max_line ? Ref::malformed : Ref::incomplete;
        }
        if (crlf - from > limits.max_line) return Ref::malformed;
        pos = crlf;
        n.str.assign(in.substr(from, pos - from));
        pos += 2;
        out.append(in.substr(start, pos - start));
        return Ref::complete;
      }
      case ':': {
        n.type = REDIS_REPLY_INTEGER;
        const Ref r = number(&n.integer);
        if (r == Ref::complete) out.append(in.substr(start, pos - start));
        return r;
      }
      case '$': {
        long long len = 0;
        const Ref r = number(&len);
        if (r != Ref::complete) return r;
        if (len == -1) {
          n.type = REDIS_REPLY_NIL;
          out += "$-1\r\n";
          return Ref::complete;
        }
        if (len < 0) return Ref::malformed;
        const auto u = static_cast<unsigned long long>(len);
        const bool drop = u > limits.max_bulk;
        const std::size_t header_end = pos;
        const std::size_t avail = in.size() - pos;
        // CR and LF are checked as they arrive, like the guard does.
        if (u > avail) return Ref::incomplete;
        pos += u;
        for (const char want : {'\r', '\n'}) {
          if (pos == in.size()) return Ref::incomplete;
          if (in[pos] != want) return Ref::malformed;
          pos++;
        }
        if (drop) {
          n.type = REDIS_REPLY_NIL;
          out += "$-1\r\n";
        } else {
          n.type = REDIS_REPLY_STRING;
          n.str.assign(in.substr(header_end, u));
          out.append(in.substr(start, pos - start));
        }
        return Ref::complete;
      }
      case '*': {
        if (depth == RespGuard::kMaxDepth) return Ref::malformed;
        long long count = 0;
        const Ref r = number(&count);
        if (r != Ref::complete) return r;
        if (count == -1) {
          n.type = REDIS_REPLY_NIL;
          out.append(in.substr(start, pos - start));
          return Ref::complete;
        }
        if (count < 0 || static_cast<unsigned long long>(count) > limits.max_elements) return Ref::malformed;
        n.type = REDIS_REPLY_ARRAY;
        out.append(in.substr(start, pos - start));
        for (long long i = 0; i < count; i++) {
          n.elements.emplace_back();
          const Ref e = reply(depth + 1, n.elements.back());
          if (e != Ref::complete) return e;
        }
        return Ref::complete;
      }
      default:
        return Ref::malformed;
    }
  }
};

void same_tree(const redisReply* r, const Node& n) {
  PS_FUZZ_CHECK(r->type == n.type);
  switch (n.type) {
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
    case REDIS_REPLY_STRING:
      PS_FUZZ_CHECK(std::string_view(r->str, r->len) == n.str);
      break;
    case REDIS_REPLY_INTEGER:
      PS_FUZZ_CHECK(r->integer == n.integer);
      break;
    case REDIS_REPLY_ARRAY:
      PS_FUZZ_CHECK(r->elements == n.elements.size());
      for (std::size_t i = 0; i < n.elements.size(); i++) same_tree(r->element[i], n.elements[i]);
      break;
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  ps::RespGuardLimits limits;
  limits.max_bulk = ps_fuzz::take_byte(in) % 32;
  limits.max_line = ps_fuzz::take_byte(in) % 64;
  limits.max_elements = 16;
  unsigned seed = ps_fuzz::take_byte(in) | 1u;

  // Whole.
  RespGuard whole(limits);
  std::string out;
  const RespGuard::Status st = whole.feed(in.data(), in.size(), append, &out);

  // In chunks of 1..16 bytes, the sizes from a small LCG.
  RespGuard chunked(limits);
  std::string out2;
  RespGuard::Status st2 = RespGuard::Status::ok;
  for (std::size_t pos = 0; pos < in.size() && st2 == RespGuard::Status::ok;) {
    seed = seed * 1103515245u + 12345u;
    const std::size_t n = std::min<std::size_t>(1 + (seed >> 16) % 16, in.size() - pos);
    st2 = chunked.feed(in.data() + pos, n, append, &out2);
    pos += n;
  }
  PS_FUZZ_CHECK(st == st2);
  PS_FUZZ_CHECK(out == out2);
  PS_FUZZ_CHECK(whole.discarded() == chunked.discarded());
  PS_FUZZ_CHECK(whole.dropped_bytes() == chunked.dropped_bytes());
  PS_FUZZ_CHECK(whole.at_boundary() == chunked.at_boundary());
  PS_FUZZ_CHECK((st == RespGuard::Status::malformed) == (std::strlen(whole.error()) != 0));
  // Never more out than in, but for "$N\r\n" (4 bytes) -> "$-1\r\n" (5).
  PS_FUZZ_CHECK(out.size() <= in.size() + whole.discarded());

  // The reference.
  Reader ref{in, 0, limits, {}};
  std::vector<Node> replies;
  std::size_t complete_out = 0;
  Ref outcome = Ref::complete;
  while (ref.pos < in.size()) {
    replies.emplace_back();
    outcome = ref.reply(0, replies.back());
    if (outcome != Ref::complete) {
      replies.pop_back();
      break;
    }
    complete_out = ref.out.size();
  }
  switch (outcome) {
    case Ref::malformed:
      PS_FUZZ_CHECK(st == RespGuard::Status::malformed);
      break;
    case Ref::incomplete:
      PS_FUZZ_CHECK(st == RespGuard::Status::ok);
      PS_FUZZ_CHECK(!whole.at_boundary());
      PS_FUZZ_CHECK(out.compare(0, complete_out, ref.out, 0, complete_out) == 0);
      break;
    case Ref::complete: {
      PS_FUZZ_CHECK(st == RespGuard::Status::ok);
      PS_FUZZ_CHECK(whole.at_boundary());
      PS_FUZZ_CHECK(out == ref.out);
      // hiredis reads the output as exactly those replies.
      redisReader* r = redisReaderCreate();
      PS_FUZZ_CHECK(r != nullptr);
      PS_FUZZ_CHECK(redisReaderFeed(r, out.data(), out.size()) == REDIS_OK);
      for (const Node& n : replies) {
        void* reply = nullptr;
        PS_FUZZ_CHECK(redisReaderGetReply(r, &reply) == REDIS_OK);
        PS_FUZZ_CHECK(reply != nullptr);
        same_tree(static_cast<redisReply*>(reply), n);
        freeReplyObject(reply);
      }
      void* extra = nullptr;
      PS_FUZZ_CHECK(redisReaderGetReply(r, &extra) == REDIS_OK && extra == nullptr);
      redisReaderFree(r);
      break;
    }
  }
  return 0;
}
