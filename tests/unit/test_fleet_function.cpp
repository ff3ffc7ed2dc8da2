#include "fleet_function.h"

#include <fstream>
#include <iterator>
#include <regex>
#include <string>

#include <gtest/gtest.h>

namespace ps {
namespace {

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

TEST(FleetFunction, EmbeddedTextIsTheLuaFile) {
  const std::string lua = read_file(source_dir() + "/redis/portfolio_stream_fleet.lua");
  ASSERT_FALSE(lua.empty());
  // byte for byte; if this fails, run redis/embed.sh
  EXPECT_TRUE(fleet_function_code() == lua) << "src/fleet_function.cpp is stale: run redis/embed.sh";
  EXPECT_EQ(fleet_function_code().size(), lua.size());
}

TEST(FleetFunction, HeaderVersionAndFunctions) {
  const std::string_view code = fleet_function_code();
  const std::string first = "#!lua name=" + std::string(kFleetLibraryName) + "\n";
  EXPECT_EQ(code.substr(0, first.size()), first);
  const std::string s(code);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(s, m, std::regex("\nlocal VERSION = ([0-9]+)\n")));
  EXPECT_EQ(std::stoi(m[1]), kFleetFunctionVersion);
  for (std::string_view fn :
       {kFleetAcquireFunction, kFleetReleaseFunction, kFleetRenewFunction, kFleetSyncFunction,
        kFleetDropFunction, kFleetCountFunction, kFleetVersionFunction}) {
    EXPECT_NE(s.find("function_name = '" + std::string(fn) + "'"), std::string::npos) << fn;
  }
  // exactly these seven
  std::size_t n = 0;
  for (std::size_t p = 0; (p = s.find("function_name = '", p)) != std::string::npos; ++p) ++n;
  EXPECT_EQ(n, 7u);
  EXPECT_EQ(code.find('\0'), std::string_view::npos);
}

}  // namespace
}  // namespace ps
