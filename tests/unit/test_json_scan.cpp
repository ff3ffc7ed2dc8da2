#include "json_scan.h"

#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ps::json {
namespace {

bool valid(std::string_view bytes) { return static_cast<bool>(parse(bytes)); }

// The unescaped value of a document that is one string.
std::string str(std::string_view doc) {
  const Value v = parse(doc);
  EXPECT_EQ(v.kind(), Kind::string) << doc;
  return v.string();
}

TEST(JsonScan, NumbersOfAnyMagnitude) {
  for (const char* n :
       {"0", "-0", "7", "-7", "10", "12345678901234567890", "-12345678901234567890",
        "1234567890123456789012345678901234567890", "-1234567890123456789012345678901234567890",
        "9223372036854775808", "-9223372036854775809", "18446744073709551616"}) {
    const Value v = parse(n);
    EXPECT_EQ(v.kind(), Kind::integer) << n;
    EXPECT_EQ(v.raw(), n);
  }
  for (const char* n :
       {"1E+2", "1e+2", "1E2", "1e-2", "1e400", "-1e400", "1e-400", "1E400000000000", "0.5e-10", "0.5",
        "-0.0", "-0.0e-0", "1.0", "0e0", "0E-0", "123.456e789", "1.7976931348623157e309",
        "0.00000000000000000000000000000000000000000000000000000000001"}) {
    const Value v = parse(n);
    EXPECT_EQ(v.kind(), Kind::number) << n;
    EXPECT_EQ(v.raw(), n);
  }
}

TEST(JsonScan, InvalidNumbers) {
  for (const char* n :
       {"01",    "-01", "00",  "-00",  "1.",       "-1.",       ".5",    "-.5",   "+1",    "+0",
        "1e",    "1E",  "1e+", "1e-",  "1.e1",     "0.e1",      "1.5.2", "1e5e5", "1e1.5", "-",
        "--1",   "- 1", "NaN", "nan",  "Infinity", "-Infinity", "inf",   "0x10",  "0X1F",  "0b1",
        "1_000", "1 2", "١",   "0.5f", "1e+-2",    "1ee2",      "e5",    "E5",    "1.5e",  "12a"}) {
    EXPECT_FALSE(valid(n)) << n;
    EXPECT_FALSE(valid(std::string("[") + n + "]")) << n;
    EXPECT_FALSE(valid(std::string("{\"a\":") + n + "}")) << n;
  }
  EXPECT_FALSE(valid("1,5"));
}

TEST(JsonScan, Literals) {
  EXPECT_EQ(parse("true").kind(), Kind::boolean);
  EXPECT_TRUE(parse("true").is_true());
  EXPECT_EQ(parse("false").kind(), Kind::boolean);
  EXPECT_FALSE(parse("false").is_true());
  EXPECT_EQ(parse("null").kind(), Kind::null);
  for (const char* s : {"tru", "True", "TRUE", "truee", "nul", "nulll", "Null", "fals", "falsey", "none", "t",
                        "f", "n", "undefined", "[true false]", "[nul]"}) {
    EXPECT_FALSE(valid(s)) << s;
  }
}

TEST(JsonScan, Escapes) {
  EXPECT_EQ(str(R"("\"\\\/\b\f\n\r\t")"), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(str(R"("\u0041\u00e9\u00E9\u20ac")"), "A\xc3\xa9\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(str(R"("\u0000")"), std::string("\0", 1));
  EXPECT_EQ(str(R"("a\u0000b")"), std::string("a\0b", 3));
  EXPECT_EQ(str(R"("\u001f\u007f\u0080\u07ff\u0800\uffff")"),
            "\x1f\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf");
  EXPECT_EQ(str(R"("x\ny")"), "x\ny");
  EXPECT_EQ(str(R"("")"), "");
  for (const char* s :
       {R"("\x41")", R"("\a")", R"("\'")", R"("\0")", R"("\u12")", R"("\u12G4")", R"("\U0041")", R"("\u")",
        R"("\u00")", R"("\ ")", "\"\\", "\"\\\"", R"("\e")", R"("\/\")"}) {
    EXPECT_FALSE(valid(s)) << s;
  }
}

TEST(JsonScan, Surrogates) {
  EXPECT_EQ(str(R"("\ud83d\ude00")"), "\xf0\x9f\x98\x80");
  EXPECT_EQ(str(R"("\uD83D\uDE00")"), "\xf0\x9f\x98\x80");
  EXPECT_EQ(str(R"("\ud800\udc00")"), "\xf0\x90\x80\x80");  // U+10000
  EXPECT_EQ(str(R"("\udbff\udfff")"), "\xf4\x8f\xbf\xbf");  // U+10FFFF
  EXPECT_EQ(str(R"("a\ud83d\ude00b")"),
            "a\xf0\x9f\x98\x80"
            "b");
  for (const char* s :
       {R"("\ud800")", R"("\udbff")", R"("\ud800x")", R"("\ud800\u0041")", R"("\ud800\ud800")",
        R"("\ud800\n")", R"("\ud800\")", R"("\udc00")", R"("\udfff")", R"("\udc00\ud800")",
        R"("\ud800\uDBFF")", R"("\ud800\u")", R"("\ud800\udc0")", "\"\\ud800"}) {
    EXPECT_FALSE(valid(s)) << s;
  }
}

TEST(JsonScan, Utf8) {
  EXPECT_EQ(str("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\xed\x9f\xbf\xee\x80\x80\""),
            "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\xed\x9f\xbf\xee\x80\x80");
  for (const char* bad : {
           "\xff",
           "\xfe",
           "\x80",
           "\xbf",  // not a lead byte
           "\xc0\xaf",
           "\xc1\xbf",  // overlong 2-byte
           "\xe0\x80\xaf",
           "\xe0\x9f\xbf",  // overlong 3-byte
           "\xf0\x80\x80\xaf",
           "\xf0\x8f\xbf\xbf",  // overlong 4-byte
           "\xed\xa0\x80",
           "\xed\xbf\xbf",  // UTF-16 surrogates
           "\xf4\x90\x80\x80",
           "\xf5\x80\x80\x80",
           "\xf8\x88\x80\x80\x80",  // above U+10FFFF
           "\xc3",
           "\xe2\x82",
           "\xf0\x9f\x98",  // truncated before the quote
           "\xc3\x28",
           "\xe2\x28\xa1",
           "\xe2\x82\x28",
           "\xf0\x9f\x98\x28",  // bad continuation
       }) {
    EXPECT_FALSE(valid(std::string("\"") + bad + "\"")) << bad;
    // At every offset from the start of the buffer (the scan reads 8 bytes at a time).
    for (std::size_t pad = 0; pad < 17; ++pad) {
      EXPECT_FALSE(valid("\"" + std::string(pad, 'a') + bad + std::string(17 - pad, 'b') + "\"")) << pad;
    }
  }
  // Truncated at the very end of the buffer.
  EXPECT_FALSE(valid("\"\xe2\x82"));
  EXPECT_FALSE(valid("\"\xf0"));
  // Invalid UTF-8 outside strings is just garbage.
  EXPECT_FALSE(valid("\xc3\xa9"));
  EXPECT_FALSE(valid("[1]\xc2\xa0"));  // U+00A0 is no JSON whitespace
}

TEST(JsonScan, ControlCharacters) {
  for (int c = 0; c < 0x20; ++c) {
    const std::string raw(1, static_cast<char>(c));
    EXPECT_FALSE(valid("\"" + raw + "\"")) << c;
    EXPECT_FALSE(valid("\"0123456789abcdef" + raw + "0123456789\"")) << c;
    EXPECT_FALSE(valid("{\"a" + raw + "\":1}")) << c;  // in a key too
    char esc[8];
    std::snprintf(esc, sizeof esc, "\\u%04x", c);
    EXPECT_EQ(str(std::string("\"") + esc + "\""), raw) << c;  // escaped they are fine
  }
  EXPECT_EQ(str("\"\x7f\""), "\x7f");  // DEL is not a control character in JSON
  EXPECT_FALSE(valid(std::string("{\"a\":1}\0", 8)));
  EXPECT_FALSE(valid(std::string("{\0\"a\":1}", 8)));
}

TEST(JsonScan, SpecialBytesAtEveryOffsetOfALongString) {
  for (std::size_t at = 0; at < 40; ++at) {
    std::string s(40, 'x');
    std::string q = s;
    q[at] = '"';
    EXPECT_FALSE(valid("\"" + q + "\"")) << at;  // a quote ends the string early: garbage follows
    std::string e = s;
    e.replace(at, 1, "\\n");
    std::string want = s;
    want[at] = '\n';
    EXPECT_EQ(str("\"" + e + "\""), want) << at;
    std::string u = s;
    u.replace(at, 1, "\xe2\x82\xac");
    EXPECT_EQ(str("\"" + u + "\""), u) << at;
    std::string c = s;
    c[at] = '\t';
    EXPECT_FALSE(valid("\"" + c + "\"")) << at;
    EXPECT_EQ(str("\"" + s.substr(0, at) + "\""), s.substr(0, at));
  }
}

std::string nest(std::size_t depth, std::string_view open, std::string_view inner, std::string_view close) {
  std::string s;
  for (std::size_t i = 0; i < depth; ++i) s.append(open);
  s.append(inner);
  for (std::size_t i = 0; i < depth; ++i) s.append(close);
  return s;
}

TEST(JsonScan, Depth) {
  EXPECT_EQ(kMaxDepth, 256u);
  EXPECT_TRUE(valid(nest(256, "[", "", "]")));
  EXPECT_FALSE(valid(nest(257, "[", "", "]")));
  EXPECT_TRUE(valid(nest(256, "{\"a\":", "1", "}")));
  EXPECT_FALSE(valid(nest(257, "{\"a\":", "1", "}")));
  EXPECT_TRUE(valid(nest(127, "[{\"k\":", "[]", "}]")));   // 255 levels, mixed
  EXPECT_TRUE(valid(nest(128, "[{\"k\":", "0", "}]")));    // 256 levels, mixed
  EXPECT_FALSE(valid(nest(128, "[{\"k\":", "[]", "}]")));  // 257
  // Depth, not count: many 256-deep values side by side.
  std::string wide = "[";
  for (int i = 0; i < 20; ++i) wide += (i ? "," : "") + nest(255, "[", "", "]");
  wide += "]";
  EXPECT_TRUE(valid(wide));
  // Hostile: far deeper, closed or not.
  for (const std::size_t depth : {1000u, 100000u, 1000000u}) {
    EXPECT_FALSE(valid(nest(depth, "[", "", "]")));
    EXPECT_FALSE(valid(std::string(depth, '[')));
    EXPECT_FALSE(valid(std::string(depth, '{')));
  }
  // Brackets in strings are no nesting.
  EXPECT_TRUE(valid("[\"" + std::string(1000, '[') + "\"]"));
  const std::string deep = nest(256, "{\"a\":", "\"deep\"", "}");  // outlives v
  const Value v = parse(deep);
  std::string path = "a";
  for (int i = 1; i < 256; ++i) path += ".a";
  EXPECT_EQ(v.find_path(path).string(), "deep");
}

TEST(JsonScan, DuplicateKeysLastWins) {
  const Value v = parse(R"({"a":1,"b":2,"a":"x","c":{"d":1,"d":[2]},"a":{"z":true}})");
  EXPECT_EQ(v.find("a").kind(), Kind::object);
  EXPECT_TRUE(v.find("a").find("z").is_true());
  EXPECT_EQ(v.find("c").find("d").raw(), "[2]");
  EXPECT_EQ(parse(R"({"k":"first","k":"second"})").find("k").string(), "second");
  // Keys compare unescaped, so an escaped duplicate counts too.
  EXPECT_EQ(parse(R"({"type":"a","\u0074ype":"b"})").find("type").string(), "b");
  EXPECT_EQ(parse(R"({"\u0074ype":"a","type":"b"})").find("type").string(), "b");
  // Members still sees every member, in order.
  std::vector<std::string> seen;
  Value k, val;
  for (Members m(parse(R"({"k":1,"k":2,"j":3})")); m.next(k, val);)
    seen.push_back(k.string() + "=" + std::string(val.raw()));
  EXPECT_EQ(seen, (std::vector<std::string>{"k=1", "k=2", "j=3"}));
}

TEST(JsonScan, WhitespaceEverywhere) {
  const std::string doc =
      " \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n[ \t\r\n1 \t\r\n, \t\r\n\"s\" \t\r\n, \t\r\n{ \t\r\n} "
      "\t\r\n, \t\r\n[ \t\r\n] \t\r\n, true , false , null , -0.5e1 ] \t\r\n, \"b\" : 2 } \t\r\n";
  const Value v = parse(doc);
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.raw().front(), '{');
  EXPECT_EQ(v.raw().back(), '}');
  EXPECT_EQ(v.find("b").raw(), "2");
  std::vector<std::string> raws;
  Value e;
  for (Elements it(v.find("a")); it.next(e);) raws.emplace_back(e.raw());
  EXPECT_EQ(raws, (std::vector<std::string>{"1", "\"s\"", "{ \t\r\n}", "[ \t\r\n]", "true", "false", "null",
                                            "-0.5e1"}));
  EXPECT_EQ(parse(" 1 ").raw(), "1");
  EXPECT_EQ(parse("\n\"x\"\n").raw(), "\"x\"");
  // Only the four RFC whitespace characters.
  for (const char* ws : {"\v", "\f", "\xc2\xa0", "\xef\xbb\xbf", "\xe2\x80\x8b"}) {
    EXPECT_FALSE(valid(std::string(ws) + "{}")) << ws;
    EXPECT_FALSE(valid(std::string("{}") + ws)) << ws;
    EXPECT_FALSE(valid(std::string("[1,") + ws + "2]")) << ws;
  }
}

TEST(JsonScan, TrailingGarbageAndIncompleteDocuments) {
  for (const char* s : {"{} x", "{}{}", "[]]", "[] ]", "{}}", "1 2", "\"a\"\"b\"", "\"a\" \"b\"", "null,",
                        "true false", "[1] [2]", "{}/", "{} //", "{}#"}) {
    EXPECT_FALSE(valid(s)) << s;
  }
  for (const char* s :
       {"{",         "[",          "[1",        "[1,",        "{\"a\"",  "{\"a\":", "{\"a\":1",
        "{\"a\":1,", "\"abc",      "[1,]",      "{\"a\":1,}", "[,1]",    "{,}",     "[,]",
        "{\"a\" 1}", "{\"a\"::1}", "{1:2}",     "{a:1}",      "{'a':1}", "['a']",   "{\"a\":1 \"b\":2}",
        "[1 2]",     "]",          "}",         ":",          ",",       "[}",      "{]",
        "{\"a\"}",   "{\"a\":}",   "[\"a\":1]", "{\"a\",1}"}) {
    EXPECT_FALSE(valid(s)) << s;
  }
}

TEST(JsonScan, EmptyInput) {
  EXPECT_FALSE(valid(""));
  EXPECT_FALSE(valid(std::string_view()));
  EXPECT_FALSE(valid(" "));
  EXPECT_FALSE(valid(" \t\r\n"));
  EXPECT_FALSE(valid(std::string_view("\0", 1)));
  EXPECT_EQ(parse("").kind(), Kind::none);
}

TEST(JsonScan, EveryProperPrefixOfADocumentIsInvalid) {
  const std::string doc =
      R"({"type":"position_update","key":"k\u00e9\ud83d\ude00","n":[1,-2.5e+3,true,false,null,{}],"s":"a\"b"})";
  ASSERT_TRUE(valid(doc));
  for (std::size_t n = 0; n < doc.size(); ++n) EXPECT_FALSE(valid(doc.substr(0, n))) << n;
}

TEST(JsonScan, Kinds) {
  const Value v = parse(R"({"o":{},"a":[],"s":"","i":-3,"n":3.5,"t":true,"f":false,"z":null})");
  EXPECT_EQ(v.kind(), Kind::object);
  EXPECT_EQ(v.find("o").kind(), Kind::object);
  EXPECT_EQ(v.find("a").kind(), Kind::array);
  EXPECT_EQ(v.find("s").kind(), Kind::string);
  EXPECT_EQ(v.find("i").kind(), Kind::integer);
  EXPECT_EQ(v.find("n").kind(), Kind::number);
  EXPECT_EQ(v.find("t").kind(), Kind::boolean);
  EXPECT_EQ(v.find("f").kind(), Kind::boolean);
  EXPECT_EQ(v.find("z").kind(), Kind::null);
  EXPECT_EQ(v.find("missing").kind(), Kind::none);
  EXPECT_FALSE(v.find("missing"));
  EXPECT_TRUE(v.find("z"));  // null is a value
  // Asking the wrong kind gives nothing.
  EXPECT_FALSE(v.find("a").find("x"));
  EXPECT_FALSE(v.find("s").find("x"));
  EXPECT_FALSE(Value().find("x"));
  EXPECT_EQ(v.find("i").string(), "");
  EXPECT_FALSE(v.find("i").string_equals("-3"));
  EXPECT_EQ(v.find("s").integer_text(), "");
  EXPECT_FALSE(v.find("n").int64());
  EXPECT_EQ(v.find("n").integer_text(), "");
  Value e;
  EXPECT_FALSE(Elements(v).next(e));  // an object is no array
  Value k;
  EXPECT_FALSE(Members(v.find("a")).next(k, e));
}

TEST(JsonScan, Integers) {
  EXPECT_EQ(parse("9223372036854775807").int64(), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(parse("-9223372036854775808").int64(), std::numeric_limits<std::int64_t>::min());
  EXPECT_FALSE(parse("9223372036854775808").int64());
  EXPECT_FALSE(parse("-9223372036854775809").int64());
  EXPECT_FALSE(parse("10000000000000000000").int64());
  EXPECT_FALSE(parse("12345678901234567890").int64());
  EXPECT_EQ(parse("0").int64(), 0);
  EXPECT_EQ(parse("-0").int64(), 0);
  EXPECT_EQ(parse("1732400000000").int64(), 1732400000000);
  EXPECT_EQ(parse("-1").int64(), -1);
  EXPECT_FALSE(parse("1.0").int64());
  EXPECT_FALSE(parse("1e2").int64());
  // Text as written (canonical: JSON has no leading zeros or plus), "-0" as "0".
  EXPECT_EQ(parse("12345678901234567890").integer_text(), "12345678901234567890");
  EXPECT_EQ(parse("-1234567890123456789012345678901234567890").integer_text(),
            "-1234567890123456789012345678901234567890");
  EXPECT_EQ(parse("-0").integer_text(), "0");
  EXPECT_EQ(parse("0").integer_text(), "0");
  EXPECT_EQ(parse("-7").integer_text(), "-7");
  EXPECT_EQ(parse("[-0]").raw(), "[-0]");
}

TEST(JsonScan, StringComparisons) {
  const Value plain = parse(R"("type")");
  EXPECT_TRUE(plain.string_equals("type"));
  EXPECT_FALSE(plain.string_equals("typ"));
  EXPECT_FALSE(plain.string_equals("types"));
  EXPECT_FALSE(plain.string_equals("Type"));
  EXPECT_FALSE(plain.string_equals(""));
  EXPECT_TRUE(plain.string_is_plain());
  EXPECT_EQ(plain.string_contents(), "type");
  EXPECT_EQ(plain.string_size(), 4u);

  const Value esc = parse(R"("\u0074y\u0070e")");
  EXPECT_TRUE(esc.string_equals("type"));
  EXPECT_FALSE(esc.string_equals("typ"));
  EXPECT_FALSE(esc.string_equals("typee"));
  EXPECT_FALSE(esc.string_equals("\\u0074y\\u0070e"));  // the contents are not the value
  EXPECT_FALSE(esc.string_is_plain());
  EXPECT_EQ(esc.string_size(), 4u);

  // Same length as the contents but escaped: never equal.
  EXPECT_FALSE(parse(R"("a\nb")").string_equals("a\\nb"));
  EXPECT_TRUE(parse(R"("a\nb")").string_equals("a\nb"));
  EXPECT_TRUE(parse(R"("\\")").string_equals("\\"));
  EXPECT_TRUE(parse(R"("\"")").string_equals("\""));
  EXPECT_TRUE(parse(R"("\u0000")").string_equals(std::string_view("\0", 1)));
  EXPECT_FALSE(parse(R"("\u0000")").string_equals(""));
  EXPECT_TRUE(parse(R"("\ud83d\ude00!")").string_equals("\xf0\x9f\x98\x80!"));
  EXPECT_EQ(parse(R"("\ud83d\ude00!")").string_size(), 5u);
  EXPECT_TRUE(parse(R"("")").string_equals(""));
  EXPECT_EQ(parse(R"("")").string_size(), 0u);
  // A string with an escaped quote as its last character, then more members.
  const Value v = parse(R"({"a":"x\"","b":"\\","c":"\\\"","d":1})");
  EXPECT_EQ(v.find("a").string(), "x\"");
  EXPECT_EQ(v.find("b").string(), "\\");
  EXPECT_EQ(v.find("c").string(), "\\\"");
  EXPECT_EQ(v.find("d").raw(), "1");
}

TEST(JsonScan, FindPath) {
  const Value v = parse(R"({"":{"":"x"},"a":{"":"y","b":{"c":"deep"}},"a.b":"z","p":{"user":7}})");
  EXPECT_EQ(v.find_path("a.b.c").string(), "deep");
  EXPECT_EQ(v.find_path("p.user").integer_text(), "7");
  EXPECT_EQ(v.find_path("a").kind(), Kind::object);
  for (const char* path : {"", ".", "..", "a.", ".a", "a..b", "a.b.c.d", "p.user.x", "x", "A"}) {
    EXPECT_FALSE(v.find_path(path)) << path;
  }
  EXPECT_EQ(v.find_path("a.b").kind(), Kind::object);  // dots always split
  EXPECT_EQ(v.find("a.b").string(), "z");              // find does not split
  EXPECT_EQ(v.find("").find("").string(), "x");
}

TEST(JsonScan, ElementsInOrder) {
  std::vector<std::string> got;
  Value e;
  for (Elements it(parse(R"([ "a" , ["b",{"c":"]"}] ,"d\"]", 1e400 ,12345678901234567890])")); it.next(e);)
    got.emplace_back(e.raw());
  EXPECT_EQ(got, (std::vector<std::string>{"\"a\"", R"(["b",{"c":"]"}])", R"("d\"]")", "1e400",
                                           "12345678901234567890"}));
  Elements empty(parse("[ ]"));
  EXPECT_FALSE(empty.next(e));
  EXPECT_FALSE(empty.next(e));  // stays at the end
}

}  // namespace
}  // namespace ps::json
