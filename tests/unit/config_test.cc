// tetherd's top-level config keys: defaults, parsing, errors that name the key.
#include "config/config.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace tether {
namespace {

TEST(ConfigTest, ImportMaxBytes) {
  auto c = ParseConfig("{}");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->import_max_bytes, uint64_t{64} << 30);
  EXPECT_EQ(c->ToJson()["import_max_bytes"], uint64_t{64} << 30);

  c = ParseConfig(R"({"import_max_bytes": 1048576})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->import_max_bytes, 1048576u);

  for (const char* bad : {R"({"import_max_bytes": 0})", R"({"import_max_bytes": -5})",
                          R"({"import_max_bytes": "1G"})", R"({"import_max_bytes": 1.5})",
                          R"({"import_max_bytes": 18446744073709551615})"}) {
    auto r = ParseConfig(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StrContains(r.status().message(), "import_max_bytes")) << r.status();
  }
}

}  // namespace
}  // namespace tether
