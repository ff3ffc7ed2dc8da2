#include <gtest/gtest.h>

#include "control_message.h"

namespace ps {
namespace {

TEST(ControlMessage, LogoutByUserOrSession) {
  auto a = parse_control_message(R"({"type":"logout","userId":"u123"})");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->user_id, "u123");
  EXPECT_FALSE(a->sid);
  auto b = parse_control_message(R"({ "sid" : "abc" , "type" : "logout" })");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->sid, "abc");
  EXPECT_FALSE(b->user_id);
  auto c = parse_control_message(R"({"type":"logout","userId":12345678901234567890,"sid":"s\u0031"})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->user_id, "12345678901234567890");
  EXPECT_EQ(c->sid, "s1");
}

TEST(ControlMessage, AnythingElseIsNotOne) {
  for (const char* bad : {"", "{}", "[]", "logout", R"({"type":"logout"})",
                          R"({"type":"login","userId":"u"})", R"({"type":"logout","userId":""})",
                          R"({"type":"logout","userId":null})", R"({"type":"logout","userId":1.5})",
                          R"({"type":"logout","userId":"u"} x)", R"({"type":"logout","userId":["u"]})"}) {
    EXPECT_FALSE(parse_control_message(bad)) << bad;
  }
  EXPECT_FALSE(
      parse_control_message(std::string(R"({"type":"logout","userId":")") + std::string(257, 'x') + "\"}"));
}

}  // namespace
}  // namespace ps
