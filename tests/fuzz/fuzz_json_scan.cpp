// libFuzzer target: json_scan (parse, find, Members, Elements, strings,
// integers), differentially against jansson.
//
// Input: the whole input is the document. Oracles:
//  * whatever jansson accepts (JSON_DECODE_ANY | JSON_ALLOW_NUL) within
//    the depth limit, the scanner accepts, unless it holds a raw NUL byte
//    (never valid JSON; jansson lets some through);
//  * whatever the scanner accepts, jansson accepts too, or refuses only for
//    what it cannot represent: a number beyond int64/double, a NUL in a key;
//  * nothing deeper than json::kMaxDepth (json_too_deep's count) is accepted;
//  * where both accept, the trees agree: kinds, unescaped strings, int64
//    values, array elements in order, object members by key (the last of
//    duplicates, as jansson keeps it), and the root's raw() is the input
//    without surrounding whitespace.
// jansson goes when it is dropped from the build; so does this target.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "json_scan.h"
#include "json_util.h"

#include "fuzz_util.h"

namespace {

using ps::json::Kind;
using ps::json::Value;

// Structural comparison is quadratic in the keys of an object; keep it for
// inputs of a sensible size (validity is compared at any size).
constexpr std::size_t kCompareLimit = 16384;

void same(const json_t* j, Value v) {
  switch (json_typeof(j)) {
    case JSON_OBJECT: {
      PS_FUZZ_CHECK(v.kind() == Kind::object);
      const char* key;
      json_t* value;
      std::size_t distinct = 0;
      json_object_foreach(const_cast<json_t*>(j), key, value) {
        ++distinct;
        const Value mine = v.find(key);
        PS_FUZZ_CHECK(mine);
        same(value, mine);
      }
      // Every member the scanner sees is one of jansson's keys.
      Value k, m;
      for (ps::json::Members members(v); members.next(k, m);) {
        PS_FUZZ_CHECK(k.is_string());
        const std::string name = k.string();
        PS_FUZZ_CHECK(k.string_equals(name));
        PS_FUZZ_CHECK(k.string_size() == name.size());
        PS_FUZZ_CHECK(json_object_getn(j, name.data(), name.size()) != nullptr);
      }
      PS_FUZZ_CHECK(distinct == json_object_size(j));
      break;
    }
    case JSON_ARRAY: {
      PS_FUZZ_CHECK(v.kind() == Kind::array);
      std::size_t i = 0;
      Value e;
      for (ps::json::Elements elements(v); elements.next(e); ++i) {
        PS_FUZZ_CHECK(i < json_array_size(j));
        same(json_array_get(j, i), e);
      }
      PS_FUZZ_CHECK(i == json_array_size(j));
      break;
    }
    case JSON_STRING: {
      PS_FUZZ_CHECK(v.kind() == Kind::string);
      const std::string_view theirs(json_string_value(j), json_string_length(j));
      PS_FUZZ_CHECK(v.string() == theirs);
      PS_FUZZ_CHECK(v.string_equals(theirs));
      PS_FUZZ_CHECK(v.string_size() == theirs.size());
      if (v.string_is_plain()) PS_FUZZ_CHECK(v.string_contents() == theirs);
      if (!theirs.empty()) PS_FUZZ_CHECK(!v.string_equals(theirs.substr(1)));
      break;
    }
    case JSON_INTEGER: {
      PS_FUZZ_CHECK(v.kind() == Kind::integer);
      PS_FUZZ_CHECK(v.int64() == static_cast<std::int64_t>(json_integer_value(j)));
      PS_FUZZ_CHECK(v.integer_text() == std::to_string(static_cast<long long>(json_integer_value(j))));
      break;
    }
    case JSON_REAL:
      PS_FUZZ_CHECK(v.kind() == Kind::number);
      PS_FUZZ_CHECK(!v.int64());
      break;
    case JSON_TRUE:
      PS_FUZZ_CHECK(v.kind() == Kind::boolean && v.is_true());
      break;
    case JSON_FALSE:
      PS_FUZZ_CHECK(v.kind() == Kind::boolean && !v.is_true());
      break;
    case JSON_NULL:
      PS_FUZZ_CHECK(v.kind() == Kind::null);
      break;
  }
}

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const Value root = ps::json::parse(in);
  const bool too_deep = ps::detail::json_too_deep(in, ps::json::kMaxDepth);
  if (too_deep) PS_FUZZ_CHECK(!root);

  // A raw NUL byte is never valid JSON (outside strings it is no token, in
  // them a control character). jansson 2.14 skips one after a number or a
  // literal ("[1\0]" parses), so it is no oracle for such input.
  const bool has_nul = in.find('\0') != std::string_view::npos;
  if (has_nul) PS_FUZZ_CHECK(!root);

  json_error_t err;
  json_t* j = too_deep ? nullptr : json_loadb(in.data(), in.size(), JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
  if (j != nullptr && !has_nul) PS_FUZZ_CHECK(root);
  if (root && j == nullptr && !too_deep) {
    const auto code = json_error_code(&err);
    PS_FUZZ_CHECK(code == json_error_numeric_overflow || code == json_error_null_byte_in_key);
  }
  if (root) {
    std::size_t b = 0, e = in.size();
    while (b < e && is_ws(in[b])) ++b;
    while (e > b && is_ws(in[e - 1])) --e;
    PS_FUZZ_CHECK(root.raw() == in.substr(b, e - b));
  }
  if (root && j != nullptr && in.size() <= kCompareLimit) same(j, root);
  json_decref(j);
  return 0;
}
