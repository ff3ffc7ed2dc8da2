#include "session_cookie.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cookie.h"

namespace ps {
namespace {

constexpr std::string_view kSid = "w1kZ3rI9cX2u_8Q4f0fJ-4P6vC5q0tAr";
constexpr std::string_view kSig = "j+ljNLy8Po+Fl8DIOSHzNeHbJYYPBk818ctO1Z5xw/8";
constexpr std::string_view kSecret = "keyboard cat";
constexpr std::string_view kHeader =
    "connect.sid=s%3Aw1kZ3rI9cX2u_8Q4f0fJ-4P6vC5q0tAr.j%2BljNLy8Po%2BFl8DIOSHzNeHbJYYPBk818ctO1Z5xw%2F8";

std::optional<std::string_view> check(std::string_view value, std::vector<std::string_view> secrets) {
  return session_id_from_cookie(value, secrets.data(), secrets.size());
}

TEST(SessionCookie, SignMatchesCookieSignature) {
  // Values from node's cookie-signature (same algorithm, checked with Python's hmac too).
  EXPECT_EQ(sign_session_id(kSid, kSecret), std::string(kSid) + "." + std::string(kSig));
  EXPECT_EQ(sign_session_id(kSid, "new secret"),
            "w1kZ3rI9cX2u_8Q4f0fJ-4P6vC5q0tAr.x1o7qQVFNtFbQOAchuW+uiif8fwkyC4WEMoIZdNYtRY");
  EXPECT_EQ(sign_session_id("a.b", kSecret), "a.b.sKNesNyAbFAJ+fsoA7qNx4Tsyo+r5keVpJkZSzFMXZw");
  EXPECT_EQ(sign_session_id("abc", ""), "abc./XrbFSwF74Dcz1Ch+kwF1aPsbalVdfwxKufF0JGDY1E");
  EXPECT_EQ(sign_session_id("", ""), ".thNnmggU2ex3L5XXeMNfxf8Wl8STcVZTxscSFEKSxa0");
}

TEST(SessionCookie, EndToEndVector) {
  const auto value = find_cookie(kHeader, "connect.sid");
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(*value, "s:" + std::string(kSid) + "." + std::string(kSig));
  const auto sid = check(*value, {kSecret});
  ASSERT_TRUE(sid.has_value());
  EXPECT_EQ(*sid, kSid);
  // The view points into the value it was given.
  EXPECT_EQ(sid->data(), value->data() + 2);
}

TEST(SessionCookie, SecretRotation) {
  const std::string value = "s:" + sign_session_id(kSid, kSecret);
  EXPECT_EQ(check(value, {"new secret", kSecret}).value_or("<none>"), kSid);
  EXPECT_EQ(check(value, {kSecret, "new secret"}).value_or("<none>"), kSid);
  EXPECT_EQ(check(value, {"a", "b", kSecret, "c"}).value_or("<none>"), kSid);
  EXPECT_FALSE(check(value, {"new secret"}).has_value());
  EXPECT_FALSE(check(value, {"a", "b", "c"}).has_value());
}

TEST(SessionCookie, WrongSignatureOfRightLength) {
  std::string value = "s:" + std::string(kSid) + "." + std::string(kSig);
  for (std::size_t i = value.size() - kSig.size(); i < value.size(); ++i) {
    std::string tampered = value;
    tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(check(tampered, {kSecret}).has_value()) << tampered;
  }
  // A changed sid with the old signature.
  std::string other_sid = value;
  other_sid[2] = 'x';
  EXPECT_FALSE(check(other_sid, {kSecret}).has_value());
  // The secret is case-sensitive and exact.
  EXPECT_FALSE(check(value, {"Keyboard cat"}).has_value());
  EXPECT_FALSE(check(value, {"keyboard cat "}).has_value());
}

TEST(SessionCookie, MalformedSignedValues) {
  const std::string good = "s:" + std::string(kSid) + "." + std::string(kSig);
  for (const std::string& bad : {
           std::string(kSid) + "." + std::string(kSig),               // missing "s:"
           "S:" + std::string(kSid) + "." + std::string(kSig),        // prefix is case-sensitive
           "s:" + std::string(kSid) + std::string(kSig),              // missing '.'
           "s:" + std::string(kSid),                                  // no signature at all
           "s:" + std::string(kSid) + ".",                            // empty signature
           "s:" + std::string(kSid) + "." + std::string(kSig) + "=",  // padded: not cookie-signature
           "s:" + std::string(kSid) + "." + std::string(kSig.substr(0, 42)),
           "s:" + std::string(kSid) + "." + std::string(kSig) + "x",
           "s:" + std::string(kSid) + "." + std::string(kSig) + ".",  // last '.' splits: empty sig
           std::string("s:"),
           std::string("s"),
           std::string(""),
           std::string("."),
           "s:." + sign_session_id("", kSecret).substr(1),  // empty sid, correctly signed
           " " + good,
           good + " ",
       }) {
    EXPECT_FALSE(check(bad, {kSecret}).has_value()) << bad;
  }
  EXPECT_EQ(check(good, {kSecret}).value_or("<none>"), kSid);
}

TEST(SessionCookie, SidWithDotsUsesLastDot) {
  const std::string value = "s:" + sign_session_id("a.b", kSecret);
  EXPECT_EQ(check(value, {kSecret}).value_or("<none>"), "a.b");
}

TEST(SessionCookie, SidLengthLimit) {
  const std::string sid256(256, 'a');
  EXPECT_EQ(check("s:" + sign_session_id(sid256, kSecret), {kSecret}).value_or("<none>"), sid256);
  const std::string sid257(257, 'a');
  EXPECT_FALSE(check("s:" + sign_session_id(sid257, kSecret), {kSecret}).has_value());
  const std::string huge(1 << 20, 'a');
  EXPECT_FALSE(check("s:" + sign_session_id(huge, kSecret), {kSecret}).has_value());
  EXPECT_FALSE(check(huge, {}).has_value());
}

TEST(SessionCookie, EmptySecretNeverValidates) {
  const std::string value = "s:" + sign_session_id("abc", "");
  EXPECT_FALSE(check(value, {""}).has_value());
  EXPECT_FALSE(check(value, {"x", ""}).has_value());
}

TEST(SessionCookie, UnsignedWithoutSecrets) {
  EXPECT_EQ(check("plain-sid", {}).value_or("<none>"), "plain-sid");
  EXPECT_EQ(session_id_from_cookie("plain-sid", nullptr, 0).value_or("<none>"), "plain-sid");
  EXPECT_EQ(check(std::string(256, 'z'), {}).value_or("<none>"), std::string(256, 'z'));
  EXPECT_FALSE(check(std::string(257, 'z'), {}).has_value());
  EXPECT_FALSE(check("", {}).has_value());
  // Without secrets an express-session signed value yields its sid
  // (unverified: there is nothing to verify with), even with a bad signature.
  const std::string value = "s:" + std::string(kSid) + "." + std::string(kSig);
  EXPECT_EQ(check(value, {}).value_or("<none>"), std::string(kSid));
  std::string forged = value;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(check(forged, {}).value_or("<none>"), std::string(kSid));
  // Not of the signed shape (signature of the wrong length): taken whole.
  EXPECT_EQ(check("s:abc.def", {}).value_or("<none>"), "s:abc.def");
}

TEST(SessionCookie, BinaryGarbage) {
  std::string junk;
  for (int i = 0; i < 256; ++i) junk.push_back(static_cast<char>(i));
  EXPECT_FALSE(check(junk, {kSecret}).has_value());
  EXPECT_FALSE(check("s:" + junk + "." + std::string(43, '\0'), {kSecret}).has_value());
  EXPECT_FALSE(check(std::string("s:\0.", 4) + std::string(43, 'A'), {kSecret}).has_value());
}

}  // namespace
}  // namespace ps
