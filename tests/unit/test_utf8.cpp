#include "utf8.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace {

using ps::is_valid_utf8;
using ps::Utf8Validator;

// Reference decoder (straight from RFC 3629 section 4) to check the DFA against.
bool reference_valid(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    int n;
    std::uint32_t cp;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      n = 1;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      n = 2;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      n = 3;
      cp = b & 0x07;
    } else {
      return false;
    }
    for (int k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = cp << 6 | (c & 0x3F);
    }
    static const std::uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

TEST(Utf8, AcceptsValidText) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("hello, world"));
  EXPECT_TRUE(is_valid_utf8("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"));  // "κόσμε"
  EXPECT_TRUE(is_valid_utf8("\xc2\x80"));                                      // U+0080
  EXPECT_TRUE(is_valid_utf8("\xdf\xbf"));                                      // U+07FF
  EXPECT_TRUE(is_valid_utf8("\xe0\xa0\x80"));                                  // U+0800
  EXPECT_TRUE(is_valid_utf8("\xed\x9f\xbf"));                                  // U+D7FF
  EXPECT_TRUE(is_valid_utf8("\xee\x80\x80"));                                  // U+E000
  EXPECT_TRUE(is_valid_utf8("\xef\xbf\xbf"));                                  // U+FFFF
  EXPECT_TRUE(is_valid_utf8("\xf0\x90\x80\x80"));                              // U+10000
  EXPECT_TRUE(is_valid_utf8("\xf4\x8f\xbf\xbf"));                              // U+10FFFF
  EXPECT_TRUE(is_valid_utf8(std::string("a\0b", 3)));                          // NUL is valid
}

TEST(Utf8, RejectsInvalidText) {
  EXPECT_FALSE(is_valid_utf8("\x80"));              // lone continuation
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xc1\xbf"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xe0\x9f\xbf"));      // overlong 3-byte
  EXPECT_FALSE(is_valid_utf8("\xf0\x8f\xbf\xbf"));  // overlong 4-byte
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate U+D800
  EXPECT_FALSE(is_valid_utf8("\xed\xbf\xbf"));      // surrogate U+DFFF
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(is_valid_utf8("\xf5\x80\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xfe"));
  EXPECT_FALSE(is_valid_utf8("\xce"));             // truncated
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));         // truncated
  EXPECT_FALSE(is_valid_utf8("abc\xf0\x9f\x98"));  // truncated 4-byte at the end
  EXPECT_FALSE(is_valid_utf8("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80tail"));
}

// Fail fast: the validator reports the first byte that cannot continue, not
// only at the end (Autobahn 6.4.x relies on this).
TEST(Utf8, FailsAtTheFirstBadByte) {
  struct Case {
    std::string good_prefix;
    char bad;
  } cases[] = {
      {"\xf4", '\x90'}, {"\xed", '\xa0'}, {"\xe0", '\x80'}, {"\xf0", '\x80'},
      {"abc", '\x80'},  {"\xc2", 'a'},    {"", '\xc0'},     {"\xe2\x82", '\x20'},
  };
  for (const auto& c : cases) {
    Utf8Validator v;
    EXPECT_TRUE(v.feed(c.good_prefix)) << testing::PrintToString(c.good_prefix);
    EXPECT_FALSE(v.feed(std::string(1, c.bad))) << testing::PrintToString(c.good_prefix);
    // Stays failed whatever follows.
    EXPECT_FALSE(v.feed("a"));
    EXPECT_FALSE(v.complete());
  }
}

TEST(Utf8, IncrementalAcrossPieces) {
  const std::string text = "price \xe2\x82\xac 12 \xf0\x9f\x93\x88 ok";  // € and 📈
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    for (std::size_t cut2 = cut; cut2 <= text.size(); ++cut2) {
      Utf8Validator v;
      EXPECT_TRUE(v.feed(text.substr(0, cut)));
      EXPECT_TRUE(v.feed(text.substr(cut, cut2 - cut)));
      EXPECT_TRUE(v.feed(text.substr(cut2)));
      EXPECT_TRUE(v.complete());
    }
  }
  Utf8Validator v;
  EXPECT_TRUE(v.feed("\xf0\x9f"));
  EXPECT_FALSE(v.complete());
  EXPECT_TRUE(v.feed("\x93"));
  EXPECT_FALSE(v.complete());
  EXPECT_TRUE(v.feed("\x88"));
  EXPECT_TRUE(v.complete());
  v.reset();
  EXPECT_TRUE(v.complete());
}

TEST(Utf8, FastPathBoundaries) {
  // Multi-byte sequences placed across the 8-byte ASCII skip.
  for (std::size_t pad = 0; pad < 20; ++pad) {
    const std::string ascii(pad, 'x');
    EXPECT_TRUE(is_valid_utf8(ascii + "\xe2\x82\xac" + ascii));
    EXPECT_FALSE(is_valid_utf8(ascii + "\xe2\x82" + ascii));
    EXPECT_FALSE(is_valid_utf8(ascii + "\xed\xa0\x80" + ascii));
  }
}

// Every 1- and 2-byte string and every 3-byte string starting with a lead
// byte, against the reference decoder.
TEST(Utf8, MatchesReferenceExhaustively) {
  std::string s;
  for (int a = 0; a < 256; ++a) {
    s.assign(1, static_cast<char>(a));
    ASSERT_EQ(is_valid_utf8(s), reference_valid(s)) << a;
    for (int b = 0; b < 256; ++b) {
      s.assign({static_cast<char>(a), static_cast<char>(b)});
      ASSERT_EQ(is_valid_utf8(s), reference_valid(s)) << a << " " << b;
      if (a < 0xE0 || a > 0xF4) continue;
      for (int c = 0x70; c < 0xD0; ++c) {
        s.assign({static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)});
        ASSERT_EQ(is_valid_utf8(s), reference_valid(s)) << a << " " << b << " " << c;
        // feed() without complete(): true iff some continuation can still make
        // it valid (s itself, or s + one continuation byte for a 4-byte lead).
        Utf8Validator v;
        const bool prefix_ok = v.feed(s);
        ASSERT_EQ(prefix_ok, reference_valid(s) || reference_valid(s + "\x80")) << a << " " << b << " " << c;
      }
    }
  }
}

}  // namespace
