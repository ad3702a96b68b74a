// Sandbox and container records: their JSON documents (OCI spec, CNI result) are shared between
// snapshots instead of copied, and survive the record's JSON round trip unchanged.
#include <gtest/gtest.h>

#include "container/container.h"
#include "sandbox/sandbox.h"
#include "util/shared_json.h"

namespace tether {
namespace {

const nlohmann::json kSpec = {{"process", {{"args", {"sleep", "1"}}, {"user", {{"uid", 7}}}}},
                              {"linux", {{"cgroupsPath", "/tether/x"}}}};

TEST(SharedJson, DefaultIsASharedNullDocument) {
  ContainerRecord c;
  SandboxRecord s;
  ASSERT_NE(c.runtime_spec, nullptr);
  ASSERT_NE(s.runtime_spec, nullptr);
  ASSERT_NE(s.cni_result, nullptr);
  EXPECT_TRUE(c.runtime_spec->is_null());
  EXPECT_TRUE(s.cni_result->is_null());
  EXPECT_EQ(c.runtime_spec.get(), NullJson().get());
  EXPECT_TRUE(c.ToJson()["runtime_spec"].is_null());
  EXPECT_TRUE(s.ToJson()["cni_result"].is_null());
}

TEST(SharedJson, SnapshotsShareTheSpec) {
  ContainerRecord r;
  r.id = "c1";
  r.runtime_spec = MakeSharedJson(kSpec);
  Container c(r);
  ContainerRecord a = c.Snapshot(), b = c.Snapshot();
  EXPECT_EQ(a.runtime_spec.get(), b.runtime_spec.get());
  EXPECT_EQ(*a.runtime_spec, kSpec);

  SandboxRecord sr;
  sr.id = "s1";
  sr.runtime_spec = MakeSharedJson(kSpec);
  sr.cni_result = MakeSharedJson({{"ips", {{{"address", "10.0.0.2/24"}}}}});
  Sandbox sb(sr);
  SandboxRecord x = sb.Snapshot(), y = sb.Snapshot();
  EXPECT_EQ(x.runtime_spec.get(), y.runtime_spec.get());
  EXPECT_EQ(x.cni_result.get(), y.cni_result.get());
}

TEST(SharedJson, RecordsRoundTripTheirDocuments) {
  ContainerRecord r;
  r.id = "c1";
  r.runtime_spec = MakeSharedJson(kSpec);
  nlohmann::json j = r.ToJson();
  EXPECT_EQ(j["runtime_spec"], kSpec);
  auto back = ContainerRecord::FromJson(j);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back->runtime_spec, kSpec);

  SandboxRecord s;
  s.id = "s1";
  s.runtime_spec = MakeSharedJson(kSpec);
  s.cni_result = MakeSharedJson({{"cniVersion", "1.0.0"}});
  auto sback = SandboxRecord::FromJson(s.ToJson());
  ASSERT_TRUE(sback.ok()) << sback.status();
  EXPECT_EQ(*sback->runtime_spec, kSpec);
  EXPECT_EQ(*sback->cni_result, (nlohmann::json{{"cniVersion", "1.0.0"}}));

  // A record written before the field existed reads back as a null document, never a null pointer.
  j.erase("runtime_spec");
  auto old = ContainerRecord::FromJson(j);
  ASSERT_TRUE(old.ok()) << old.status();
  ASSERT_NE(old->runtime_spec, nullptr);
  EXPECT_TRUE(old->runtime_spec->is_null());
}

}  // namespace
}  // namespace tether
