#include "history_function.h"

#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace ps {
namespace {

// The source dir: from tests/CMakeLists.txt, else from where this file is.
std::string source_dir() {
#ifdef PS_SOURCE_DIR
  return PS_SOURCE_DIR;
#else
  std::string f = __FILE__;
  return f.substr(0, f.rfind("/tests/unit/"));
#endif
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(HistoryFunction, EmbeddedTextIsTheLuaFile) {
  const std::string lua = read_file(source_dir() + "/redis/portfolio_stream.lua");
  ASSERT_FALSE(lua.empty());
  // byte for byte; if this fails, run redis/embed.sh
  EXPECT_TRUE(history_function_code() == lua) << "src/history_function.cpp is stale: run redis/embed.sh";
  EXPECT_EQ(history_function_code().size(), lua.size());
}

TEST(HistoryFunction, HeaderAndVersion) {
  const std::string_view code = history_function_code();
  EXPECT_EQ(code.substr(0, 28), "#!lua name=portfolio_stream\n");
  const std::string s(code);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(s, m, std::regex("\nlocal VERSION = ([0-9]+)\n")));
  EXPECT_EQ(std::stoi(m[1]), kHistoryFunctionVersion);
  for (std::string_view fn : {kHistoryPublishFunction, kHistoryReadFunction, kHistoryVersionFunction}) {
    EXPECT_NE(s.find("function_name = '" + std::string(fn) + "'"), std::string::npos) << fn;
  }
  EXPECT_EQ(code.find('\0'), std::string_view::npos);
}

}  // namespace
}  // namespace ps
