// tetherd's `stream` config keys: defaults (kubelet's and containerd's), parsing, errors that
// name the key.
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "config/config.h"

namespace tether {
namespace {

TEST(ConfigStreamTest, Defaults) {
  auto c = ParseConfig("{}");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->stream.address, "127.0.0.1");
  EXPECT_EQ(c->stream.port, 0);
  EXPECT_EQ(c->stream.token_ttl, absl::Minutes(1));
  EXPECT_EQ(c->stream.idle_timeout, absl::Hours(4));
  EXPECT_EQ(c->stream.creation_timeout, absl::Seconds(30));
  EXPECT_EQ(c->stream.session_timeout, absl::ZeroDuration());
  EXPECT_EQ(c->stream.max_sessions, 1024);
  EXPECT_EQ(c->stream.tls_cert_file, "");
  auto j = c->ToJson();
  EXPECT_EQ(j["stream"]["idle_timeout"], "4h");
  EXPECT_EQ(j["stream"]["token_ttl"], "1m");
  EXPECT_EQ(j["stream"]["session_timeout"], "0");
}

TEST(ConfigStreamTest, EveryKey) {
  auto c = ParseConfig(R"({"stream": {
    "address": "0.0.0.0", "port": 10010, "token_ttl": "30s", "idle_timeout": "15m",
    "creation_timeout": "5s", "session_timeout": "2h30m", "max_sessions": 8,
    "tls_cert_file": "/etc/tether/stream.crt", "tls_key_file": "/etc/tether/stream.key"}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->stream.address, "0.0.0.0");
  EXPECT_EQ(c->stream.port, 10010);
  EXPECT_EQ(c->stream.token_ttl, absl::Seconds(30));
  EXPECT_EQ(c->stream.idle_timeout, absl::Minutes(15));
  EXPECT_EQ(c->stream.creation_timeout, absl::Seconds(5));
  EXPECT_EQ(c->stream.session_timeout, absl::Minutes(150));
  EXPECT_EQ(c->stream.max_sessions, 8);
  EXPECT_EQ(c->stream.tls_cert_file, "/etc/tether/stream.crt");
  EXPECT_EQ(c->stream.tls_key_file, "/etc/tether/stream.key");
  // What ToJson prints parses back to the same.
  auto again = ParseConfig(c->ToJson().dump());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->stream.session_timeout, absl::Minutes(150));
  EXPECT_EQ(again->stream.max_sessions, 8);
}

TEST(ConfigStreamTest, ErrorsNameTheKey) {
  struct Case {
    const char* json;
    const char* key;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"stream": {"idle_timeout": "forever"}})", "stream.idle_timeout"},
           {R"({"stream": {"idle_timeout": 30}})", "stream.idle_timeout"},
           {R"({"stream": {"token_ttl": "0s"}})", "stream.token_ttl"},
           {R"({"stream": {"creation_timeout": "-1s"}})", "stream.creation_timeout"},
           {R"({"stream": {"session_timeout": "soon"}})", "stream.session_timeout"},
           {R"({"stream": {"max_sessions": 0}})", "stream.max_sessions"},
           {R"({"stream": {"max_sessions": "10"}})", "stream.max_sessions"},
           {R"({"stream": {"port": 70000}})", "stream.port"},
           {R"({"stream": {"idle_timout": "1h"}})", "stream.idle_timout"},
           {R"({"stream": {"tls_cert_file": "/a.crt"}})", "stream.tls_key_file"},
           {R"({"stream": []})", "stream"},
       }) {
    auto parsed = ParseConfig(c.json);
    ASSERT_FALSE(parsed.ok()) << c.json;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(parsed.status().message(), c.key))
        << c.json << ": " << parsed.status();
  }
  // A zero session timeout is "none", not an error.
  EXPECT_TRUE(ParseConfig(R"({"stream": {"session_timeout": "0s"}})").ok());
}

}  // namespace
}  // namespace tether
