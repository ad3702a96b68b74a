#include <gtest/gtest.h>

#include <set>

#include "stream/token_cache.h"

namespace tether::stream {
namespace {

ExecRequest Exec(const std::string& id) {
  ExecRequest e;
  e.container_id = id;
  e.cmd = {"ls"};
  e.stdout = true;
  return e;
}

TEST(TokenCacheTest, TokensAreSingleUse) {
  TokenCache cache;
  auto token = cache.Insert(Exec("c1"));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(cache.size(), 1u);
  auto got = cache.Consume(*token);
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(std::holds_alternative<ExecRequest>(*got));
  EXPECT_EQ(std::get<ExecRequest>(*got).container_id, "c1");
  EXPECT_FALSE(cache.Consume(*token).has_value());
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(cache.Consume("nonsense").has_value());
}

TEST(TokenCacheTest, TokensAreUrlSafeAndDistinct) {
  TokenCache cache;
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto token = cache.Insert(Exec("c"));
    ASSERT_TRUE(token.ok());
    EXPECT_EQ(token->size(), 16u) << *token;
    for (char c : *token) {
      EXPECT_TRUE(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << *token;
    }
    EXPECT_TRUE(seen.insert(*token).second);
  }
}

TEST(TokenCacheTest, TokensExpire) {
  absl::Time now = absl::FromUnixSeconds(1000);
  TokenCache cache(10, absl::Minutes(1), [&] { return now; });
  auto a = cache.Insert(Exec("a"));
  now += absl::Seconds(30);
  auto b = cache.Insert(Exec("b"));
  now += absl::Seconds(31);  // a is 61 s old, b 31 s
  EXPECT_FALSE(cache.Consume(*a).has_value());
  EXPECT_TRUE(cache.Consume(*b).has_value());
}

TEST(TokenCacheTest, BoundedPendingWithEvictionOfExpired) {
  absl::Time now = absl::FromUnixSeconds(1000);
  TokenCache cache(3, absl::Minutes(1), [&] { return now; });
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cache.Insert(Exec("x")).ok());
  auto full = cache.Insert(Exec("y"));
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  now += absl::Minutes(2);  // all expired: room again
  EXPECT_TRUE(cache.Insert(Exec("z")).ok());
  EXPECT_EQ(cache.size(), 1u);
}

TEST(TokenCacheTest, KeepsEachKindOfRequest) {
  TokenCache cache;
  AttachRequest a;
  a.container_id = "att";
  PortForwardRequest p;
  p.sandbox_id = "pod";
  p.ports = {80, 443};
  auto ta = cache.Insert(a);
  auto tp = cache.Insert(p);
  auto ga = cache.Consume(*ta);
  auto gp = cache.Consume(*tp);
  ASSERT_TRUE(ga && std::holds_alternative<AttachRequest>(*ga));
  ASSERT_TRUE(gp && std::holds_alternative<PortForwardRequest>(*gp));
  EXPECT_EQ(std::get<PortForwardRequest>(*gp).ports, (std::vector<int32_t>{80, 443}));
}

}  // namespace
}  // namespace tether::stream
