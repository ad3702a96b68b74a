// Pods in their own user namespace (NamespaceMode POD): the pause creates the user and network
// namespaces, CNI wires the latter, and containers join both.
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/e2e/harness.h"
#include "util/file.h"

namespace tether::e2e {
namespace {

void MapPod(runtime::v1::NamespaceOption* ns, runtime::v1::NamespaceMode mode) {
  auto* u = ns->mutable_userns_options();
  u->set_mode(mode);
  if (mode != runtime::v1::POD) return;
  for (auto* maps : {u->mutable_uids(), u->mutable_gids()}) {
    auto* m = maps->Add();
    m->set_host_id(200000);
    m->set_length(65536);
  }
}

TEST(UsernsE2E, PodInItsOwnUserNamespace) {
  REQUIRE_E2E();
  REQUIRE_REGISTRY();
  Daemon d;
  ASSERT_TRUE(d.Start().ok());
  ASSERT_TRUE(d.Pull(TestImage("busybox")).ok()) << d.Log();

  runtime::v1::PodSandboxConfig pc = PodConfig("userns");
  MapPod(pc.mutable_linux()->mutable_security_context()->mutable_namespace_options(),
         runtime::v1::POD);
  auto pod = StartedPod(d, &pc);
  ASSERT_FALSE(pod.empty());
  auto ps = d.PodStatus(pod);
  ASSERT_TRUE(ps.ok()) << ps.status();
  EXPECT_TRUE(absl::StartsWith(ps->status().network().ip(), E2ESubnetPrefix()))
      << ps->status().network().ip();

  auto config = ContainerConfig("app", TestImage("busybox"), {"sleep", "1000"});
  *config.mutable_linux()->mutable_security_context()->mutable_namespace_options() =
      pc.linux().security_context().namespace_options();
  auto cid = StartedContainer(d, pod, pc, config);
  ASSERT_FALSE(cid.empty());
  // Root in the container is host id 200000; the pod's eth0 is in its sysfs.
  auto map = d.Exec(cid, {"cat", "/proc/self/uid_map"});
  ASSERT_TRUE(map.ok()) << map.status();
  std::vector<std::string> fields = absl::StrSplit(map->stdout(), ' ', absl::SkipEmpty());
  ASSERT_EQ(fields.size(), 3u) << map->stdout();
  EXPECT_EQ(fields[0], "0");
  EXPECT_EQ(fields[1], "200000");
  EXPECT_EQ(absl::StripAsciiWhitespace(fields[2]), "65536");
  auto net = d.Exec(cid, {"ls", "/sys/class/net"});
  ASSERT_TRUE(net.ok()) << net.status();
  EXPECT_TRUE(absl::StrContains(net->stdout(), "eth0")) << net->stdout();
  auto ip = d.Exec(cid, {"ip", "-4", "addr", "show", "eth0"});
  ASSERT_TRUE(ip.ok()) << ip.status();
  EXPECT_TRUE(absl::StrContains(ip->stdout(), ps->status().network().ip())) << ip->stdout();
  // The container's root cannot write where the image's (host) root owns the files.
  auto write = d.Exec(cid, {"sh", "-c", "echo x > /bin/owned"});
  ASSERT_TRUE(write.ok());
  EXPECT_NE(write->exit_code(), 0);

  // Stop and remove leave no netns pin or mount behind.
  grpc::ClientContext ctx;
  runtime::v1::RemovePodSandboxRequest rm;
  rm.set_pod_sandbox_id(pod);
  runtime::v1::RemovePodSandboxResponse rm_resp;
  ASSERT_TRUE(d.runtime().RemovePodSandbox(&ctx, rm, &rm_resp).ok());
  EXPECT_FALSE(PathExists(d.state() + "/netns/" + pod));
  EXPECT_TRUE(MountsMentioning(pod).empty());
}

TEST(UsernsE2E, BadModesAndMappingsAreRefusedAndLeaveNothing) {
  REQUIRE_E2E();
  Daemon d;
  ASSERT_TRUE(d.Start().ok());
  for (auto mode : {runtime::v1::CONTAINER, runtime::v1::TARGET}) {
    runtime::v1::PodSandboxConfig pc = PodConfig("bad-userns");
    MapPod(pc.mutable_linux()->mutable_security_context()->mutable_namespace_options(), mode);
    grpc::ClientContext ctx;
    runtime::v1::RunPodSandboxRequest req;
    *req.mutable_config() = pc;
    runtime::v1::RunPodSandboxResponse resp;
    auto st = d.runtime().RunPodSandbox(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
    EXPECT_TRUE(absl::StrContains(st.error_message(), "userns_options")) << st.error_message();
  }
  runtime::v1::PodSandboxConfig pc = PodConfig("bad-userns");
  auto* ns = pc.mutable_linux()->mutable_security_context()->mutable_namespace_options();
  MapPod(ns, runtime::v1::POD);
  ns->mutable_userns_options()->mutable_uids(0)->set_container_id(1);
  grpc::ClientContext ctx;
  runtime::v1::RunPodSandboxRequest req;
  *req.mutable_config() = pc;
  runtime::v1::RunPodSandboxResponse resp;
  EXPECT_EQ(d.runtime().RunPodSandbox(&ctx, req, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext lctx;
  runtime::v1::ListPodSandboxResponse list;
  ASSERT_TRUE(d.runtime().ListPodSandbox(&lctx, {}, &list).ok());
  EXPECT_EQ(list.items_size(), 0);
}

}  // namespace
}  // namespace tether::e2e
