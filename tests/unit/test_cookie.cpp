#include "cookie.h"

#include <chrono>
#include <string>

#include <gtest/gtest.h>

namespace ps {
namespace {

constexpr const char* kSigned =
    "s:w1kZ3rI9cX2u_8Q4f0fJ-4P6vC5q0tAr.j+ljNLy8Po+Fl8DIOSHzNeHbJYYPBk818ctO1Z5xw/8";

TEST(Cookie, ExpressSessionVector) {
  const auto v = find_cookie(
      "connect.sid=s%3Aw1kZ3rI9cX2u_8Q4f0fJ-4P6vC5q0tAr.j%2BljNLy8Po%2BFl8DIOSHzNeHbJYYPBk818ctO1Z5xw%2F8",
      "connect.sid");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, kSigned);
}

TEST(Cookie, AmongOtherCookies) {
  const std::string header =
      "_ga=GA1.2.3; theme=dark; connect.sid=s%3Aw1kZ3rI9cX2u_8Q4f0fJ-4P6vC5q0tAr."
      "j%2BljNLy8Po%2BFl8DIOSHzNeHbJYYPBk818ctO1Z5xw%2F8; lang=en";
  EXPECT_EQ(find_cookie(header, "connect.sid").value_or("<none>"), kSigned);
  EXPECT_EQ(find_cookie(header, "_ga").value_or("<none>"), "GA1.2.3");
  EXPECT_EQ(find_cookie(header, "theme").value_or("<none>"), "dark");
  EXPECT_EQ(find_cookie(header, "lang").value_or("<none>"), "en");
  EXPECT_FALSE(find_cookie(header, "connect").has_value());
  EXPECT_FALSE(find_cookie(header, "sid").has_value());
  EXPECT_FALSE(find_cookie(header, "Connect.sid").has_value());  // names are case-sensitive
}

TEST(Cookie, Absent) {
  EXPECT_FALSE(find_cookie("", "connect.sid").has_value());
  EXPECT_FALSE(find_cookie(";;;", "connect.sid").has_value());
  EXPECT_FALSE(find_cookie("a=1; b=2", "connect.sid").has_value());
  EXPECT_FALSE(find_cookie("connect.sid", "connect.sid").has_value());  // no '=': not a cookie pair
  EXPECT_FALSE(find_cookie("a=1", "").has_value());
  EXPECT_FALSE(find_cookie("=1", "").has_value());
}

TEST(Cookie, WhitespaceAndSeparators) {
  EXPECT_EQ(find_cookie("  a = 1 ;  b\t=\t2\t", "a").value_or("<none>"), "1");
  EXPECT_EQ(find_cookie("  a = 1 ;  b\t=\t2\t", "b").value_or("<none>"), "2");
  EXPECT_EQ(find_cookie("a=1;b=2", "b").value_or("<none>"), "2");
  EXPECT_EQ(find_cookie(";; a=1 ;;", "a").value_or("<none>"), "1");
  EXPECT_EQ(find_cookie("a=", "a").value_or("<none>"), "");                // present but empty
  EXPECT_EQ(find_cookie("a=x=y", "a").value_or("<none>"), "x=y");          // first '=' splits
  EXPECT_EQ(find_cookie("a=one two", "a").value_or("<none>"), "one two");  // inner space kept
  EXPECT_EQ(find_cookie("flag; a=1", "a").value_or("<none>"), "1");
  // A comma does not separate cookies (RFC 6265 uses ';').
  EXPECT_EQ(find_cookie("a=1, b=2", "a").value_or("<none>"), "1, b=2");
  EXPECT_FALSE(find_cookie("a=1, b=2", "b").has_value());
}

TEST(Cookie, Quotes) {
  EXPECT_EQ(find_cookie("a=\"quoted\"", "a").value_or("<none>"), "quoted");
  EXPECT_EQ(find_cookie("a= \"s%3Ax\" ; b=1", "a").value_or("<none>"), "s:x");
  EXPECT_EQ(find_cookie("a=\"\"", "a").value_or("<none>"), "");
  EXPECT_EQ(find_cookie("a=\"", "a").value_or("<none>"), "\"");  // a lone quote is not a pair
  EXPECT_EQ(find_cookie("a=\"half", "a").value_or("<none>"), "\"half");
  EXPECT_EQ(find_cookie("a=half\"", "a").value_or("<none>"), "half\"");
  EXPECT_EQ(find_cookie("a=\"\"x\"\"", "a").value_or("<none>"), "\"x\"");  // one pair removed
  EXPECT_EQ(find_cookie("a=%22x%22", "a").value_or("<none>"), "\"x\"");    // encoded quotes stay
}

TEST(Cookie, PercentDecoding) {
  EXPECT_EQ(find_cookie("a=%41%42c", "a").value_or("<none>"), "ABc");
  EXPECT_EQ(find_cookie("a=%2b%2B+", "a").value_or("<none>"), "+++");  // '+' is not a space
  EXPECT_EQ(find_cookie("a=%e2%82%ac", "a").value_or("<none>"), "\xe2\x82\xac");
  EXPECT_EQ(find_cookie("a=%25", "a").value_or("<none>"), "%");
  EXPECT_EQ(find_cookie("a=%2541", "a").value_or("<none>"), "%41");  // decoded once only
  const auto nul = find_cookie("a=x%00y", "a");
  ASSERT_TRUE(nul.has_value());
  EXPECT_EQ(*nul, std::string("x\0y", 3));
}

TEST(Cookie, BadPercentEncodingRefused) {
  for (const char* header :
       {"a=%G1", "a=%1G", "a=%", "a=abc%", "a=abc%4", "a=%%41", "a=%-1", "a=% 1", "a=\"%zz\"", "a=%4 "}) {
    EXPECT_FALSE(find_cookie(header, "a").has_value()) << header;
  }
  // The other cookies are unaffected.
  EXPECT_EQ(find_cookie("bad=%G1; a=ok", "a").value_or("<none>"), "ok");
}

TEST(Cookie, FirstWins) {
  EXPECT_EQ(find_cookie("a=first; a=second", "a").value_or("<none>"), "first");
  EXPECT_EQ(find_cookie("b=0; a=first; a=second; a=third", "a").value_or("<none>"), "first");
  // The first one decides even when it is invalid.
  EXPECT_FALSE(find_cookie("a=%G1; a=good", "a").has_value());
}

TEST(Cookie, OverlongValueRefused) {
  const std::string ok(4096, 'x');
  EXPECT_EQ(find_cookie("a=" + ok, "a").value_or("<none>"), ok);
  EXPECT_FALSE(find_cookie("a=" + ok + "x", "a").has_value());
  EXPECT_FALSE(find_cookie("a=" + std::string(1 << 20, 'x'), "a").has_value());
  // An overlong cookie of another name does not hide ours.
  EXPECT_EQ(find_cookie("b=" + std::string(100000, 'x') + "; a=1", "a").value_or("<none>"), "1");
}

TEST(Cookie, TenThousandCookiesIsLinear) {
  std::string header;
  for (int i = 0; i < 10000; ++i) header += "c" + std::to_string(i) + "=v" + std::to_string(i) + "; ";
  header += "connect.sid=s%3Aabc.def";
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < 20; ++round) {
    EXPECT_EQ(find_cookie(header, "connect.sid").value_or("<none>"), "s:abc.def");
    EXPECT_EQ(find_cookie(header, "c9999").value_or("<none>"), "v9999");
    EXPECT_FALSE(find_cookie(header, "missing").has_value());
  }
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(ms, 2000);  // ~60 scans of ~190 KB: milliseconds when linear
}

TEST(Cookie, HostileBytes) {
  static constexpr char kRaw[] = "a=\x01\x02\xff; \0b=1; b=2";
  const std::string header(kRaw, sizeof kRaw - 1);
  ASSERT_EQ(header.size(), 16u);
  EXPECT_EQ(find_cookie(header, "a").value_or("<none>"), "\x01\x02\xff");
  EXPECT_EQ(find_cookie(header, "b").value_or("<none>"), "2");  // "\0b" is another name
  EXPECT_EQ(find_cookie(std::string(100000, ';'), "a"), std::nullopt);
  EXPECT_EQ(find_cookie(std::string(100000, '='), "a"), std::nullopt);
}

}  // namespace
}  // namespace ps
