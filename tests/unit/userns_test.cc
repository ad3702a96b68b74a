#include "oci/userns.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tether {
namespace {

namespace v1 = runtime::v1;
using ::testing::HasSubstr;

v1::NamespaceOption Pod(std::vector<std::array<uint32_t, 3>> uids,
                        std::vector<std::array<uint32_t, 3>> gids) {
  v1::NamespaceOption ns;
  auto* u = ns.mutable_userns_options();
  u->set_mode(v1::POD);
  for (const auto& [c, h, l] : uids) {
    auto* m = u->add_uids();
    m->set_container_id(c);
    m->set_host_id(h);
    m->set_length(l);
  }
  for (const auto& [c, h, l] : gids) {
    auto* m = u->add_gids();
    m->set_container_id(c);
    m->set_host_id(h);
    m->set_length(l);
  }
  return ns;
}

std::string Error(const v1::NamespaceOption& ns) {
  auto r = PodUserns(ns, "ns");
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

TEST(PodUserns, NoneOrNodeMeansTheHosts) {
  v1::NamespaceOption ns;
  EXPECT_EQ(*PodUserns(ns, "ns"), std::nullopt);
  ns.mutable_userns_options()->set_mode(v1::NODE);
  EXPECT_EQ(*PodUserns(ns, "ns"), std::nullopt);
}

TEST(PodUserns, PodWithOneMappingEach) {
  auto r = PodUserns(Pod({{0, 1000, 100000}}, {{0, 2000, 65536}}), "ns");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->uids.host_id, 1000u);
  EXPECT_EQ((*r)->uids.length, 100000u);
  EXPECT_EQ((*r)->gids.host_id, 2000u);
  EXPECT_EQ(OciIdMappings((*r)->uids),
            nlohmann::json::array({{{"containerID", 0}, {"hostID", 1000}, {"size", 100000}}}));
}

TEST(PodUserns, RejectsWhatKubeletWouldNeverSend) {
  EXPECT_THAT(Error(Pod({{0, 1000, 100000}, {0, 2000, 100000}}, {{0, 1000, 100000}})),
              HasSubstr("ns.userns_options.uids: exactly one mapping"));
  EXPECT_THAT(Error(Pod({{1, 1000, 100000}}, {{1, 1000, 100000}})),
              HasSubstr("container id 0 must be mapped"));
  EXPECT_THAT(Error(Pod({{0, 1000, 100000}}, {})), HasSubstr("ns.userns_options.gids"));
  EXPECT_THAT(Error(Pod({{0, 1000, 0}}, {{0, 1000, 10}})), HasSubstr("length"));
  EXPECT_THAT(Error(Pod({{0, 0xffffffffu, 2}}, {{0, 1000, 10}})), HasSubstr("overflow"));
  for (auto mode : {v1::CONTAINER, v1::TARGET}) {
    v1::NamespaceOption ns;
    ns.mutable_userns_options()->set_mode(mode);
    EXPECT_THAT(Error(ns), HasSubstr("ns.userns_options.mode"));
  }
  auto host_net = Pod({{0, 1000, 100000}}, {{0, 1000, 100000}});
  host_net.set_network(v1::NODE);
  EXPECT_THAT(Error(host_net), HasSubstr("host's network"));
  v1::NamespaceOption node_with_maps = Pod({{0, 1000, 10}}, {{0, 1000, 10}});
  node_with_maps.mutable_userns_options()->set_mode(v1::NODE);
  EXPECT_THAT(Error(node_with_maps), HasSubstr("NODE takes no"));
}

}  // namespace
}  // namespace tether
