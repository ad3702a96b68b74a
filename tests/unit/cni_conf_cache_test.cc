// CniConfCache: the in-memory CNI readiness that the CRI Status RPC reads, kept current by
// inotify on the conf dir and the plugin dirs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "network/cni_conf.h"
#include "nlohmann/json.hpp"
#include "util/file.h"
#include "util/id.h"

namespace tether {
namespace {

using ::testing::HasSubstr;

class CniConfCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("tether-cniconf-" + NewId().substr(0, 12));
    conf_ = root_ + "/etc/net.d";
    bin_ = root_ + "/bin";
    ASSERT_TRUE(MakeDirs(conf_).ok());
    ASSERT_TRUE(MakeDirs(bin_).ok());
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  CniConfigOptions Options() {
    CniConfigOptions o;
    o.conf_dir = conf_;
    o.bin_dirs = {root_ + "/opt/cni/bin", bin_};  // the first does not exist (yet)
    return o;
  }
  void Plugin(const std::string& dir, const std::string& name) {
    ASSERT_TRUE(MakeDirs(dir).ok());
    ASSERT_TRUE(WriteFileAtomic(dir + "/" + name, "#!/bin/sh\nexit 0\n", 0755).ok());
  }
  void Conf(const std::string& file, const std::string& name, const std::string& plugin) {
    nlohmann::json j = {{"cniVersion", "1.0.0"}, {"name", name}, {"plugins", {{{"type", plugin}}}}};
    ASSERT_TRUE(WriteFileAtomic(conf_ + "/" + file, j.dump()).ok());
  }
  // Waits (each completed scan is looked at) until `want` accepts the view, or 10 s pass: a change
  // on disk reaches the cache through the watcher thread, not at once.
  template <typename Want>
  CniConfCache::View WaitFor(CniConfCache& cache, Want want) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    CniConfCache::View v = cache.Get();
    while (!want(v) && absl::Now() < deadline) v = cache.AwaitScan(v.scans, deadline - absl::Now());
    return v;
  }
  static bool Ready(const CniConfCache::View& v) { return v.ready.ok(); }
  static bool NotReady(const CniConfCache::View& v) { return !v.ready.ok(); }

  std::string root_, conf_, bin_;
};

TEST_F(CniConfCacheTest, FirstScanIsDoneByTheConstructor) {
  Plugin(bin_, "p1");
  Conf("10-net.conflist", "net1", "p1");
  CniConfCache cache(Options());
  ASSERT_TRUE(cache.watching());
  CniConfCache::View v = cache.Get();
  EXPECT_TRUE(v.ready.ok()) << v.ready;
  ASSERT_NE(v.list, nullptr);
  EXPECT_EQ(v.list->name, "net1");
  EXPECT_EQ(v.list->file, conf_ + "/10-net.conflist");
}

TEST_F(CniConfCacheTest, ReadingDoesNotRescan) {
  Plugin(bin_, "p1");
  Conf("10-net.conflist", "net1", "p1");
  CniConfCache cache(Options());
  ASSERT_TRUE(cache.watching());
  const uint64_t scans = cache.Get().scans;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(cache.Get().ready.ok());
  EXPECT_EQ(cache.Get().scans, scans);  // nothing changed on disk: no scan ran
}

TEST_F(CniConfCacheTest, AddedConfMakesItReady) {
  Plugin(bin_, "p1");
  CniConfCache cache(Options());
  CniConfCache::View v = cache.Get();
  EXPECT_EQ(v.ready.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(v.ready.message(), HasSubstr("no network config found in " + conf_));
  EXPECT_EQ(v.list, nullptr);

  Conf("10-net.conflist", "net1", "p1");
  v = WaitFor(cache, Ready);
  EXPECT_TRUE(v.ready.ok()) << v.ready;
  ASSERT_NE(v.list, nullptr);
  EXPECT_EQ(v.list->name, "net1");
}

TEST_F(CniConfCacheTest, RemovedConfMakesItNotReadyAndRestoredReadyAgain) {
  Plugin(bin_, "p1");
  Conf("10-net.conflist", "net1", "p1");
  CniConfCache cache(Options());
  ASSERT_TRUE(cache.Get().ready.ok());

  ASSERT_TRUE(RemoveFile(conf_ + "/10-net.conflist").ok());
  CniConfCache::View v = WaitFor(cache, NotReady);
  EXPECT_THAT(v.ready.message(), HasSubstr("no network config found in " + conf_));
  EXPECT_EQ(v.list, nullptr);

  Conf("10-net.conflist", "net1-again", "p1");
  v = WaitFor(cache, Ready);
  EXPECT_TRUE(v.ready.ok()) << v.ready;
  ASSERT_NE(v.list, nullptr);
  EXPECT_EQ(v.list->name, "net1-again");
}

TEST_F(CniConfCacheTest, ReplacedConfIsReloaded) {
  Plugin(bin_, "p1");
  Conf("20-b.conflist", "b", "p1");
  CniConfCache cache(Options());
  ASSERT_EQ(cache.Get().list->name, "b");
  Conf("10-a.conflist", "a", "p1");  // lexically first now
  auto named = [](const std::string& n) {
    return [n](const CniConfCache::View& v) { return v.list && v.list->name == n; };
  };
  EXPECT_EQ(WaitFor(cache, named("a")).list->name, "a");
  Conf("10-a.conflist", "a2", "p1");  // replaced by rename
  EXPECT_EQ(WaitFor(cache, named("a2")).list->name, "a2");
  ASSERT_TRUE(RemoveFile(conf_ + "/10-a.conflist").ok());
  EXPECT_EQ(WaitFor(cache, named("b")).list->name, "b");
}

TEST_F(CniConfCacheTest, RemovedPluginBinaryMakesItNotReady) {
  Plugin(bin_, "p1");
  Conf("10-net.conflist", "net1", "p1");
  CniConfCache cache(Options());
  ASSERT_TRUE(cache.Get().ready.ok());

  ASSERT_TRUE(RemoveFile(bin_ + "/p1").ok());
  CniConfCache::View v = WaitFor(cache, NotReady);
  EXPECT_EQ(v.ready.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(v.ready.message(), HasSubstr("CNI plugin \"p1\" not found"));
  EXPECT_THAT(v.ready.message(), HasSubstr("net1"));
  ASSERT_NE(v.list, nullptr);  // the configuration itself is still loaded

  Plugin(bin_, "p1");
  v = WaitFor(cache, Ready);
  EXPECT_TRUE(v.ready.ok()) << v.ready;
}

TEST_F(CniConfCacheTest, PluginLosingItsExecuteBitMakesItNotReady) {
  Plugin(bin_, "p1");
  Conf("10-net.conflist", "net1", "p1");
  CniConfCache cache(Options());
  ASSERT_TRUE(cache.Get().ready.ok());
  ASSERT_EQ(chmod((bin_ + "/p1").c_str(), 0644), 0);
  EXPECT_THAT(WaitFor(cache, NotReady).ready.message(), HasSubstr("\"p1\" not found"));
  ASSERT_EQ(chmod((bin_ + "/p1").c_str(), 0755), 0);
  EXPECT_TRUE(WaitFor(cache, Ready).ready.ok());
}

TEST_F(CniConfCacheTest, PluginDirCreatedLaterIsWatched) {
  Conf("10-net.conflist", "net1", "p1");
  CniConfCache cache(Options());
  EXPECT_THAT(cache.Get().ready.message(), HasSubstr("\"p1\" not found"));
  // The first bin dir's parents do not exist yet either: created a level at a time.
  Plugin(root_ + "/opt/cni/bin", "p1");
  CniConfCache::View v = WaitFor(cache, Ready);
  EXPECT_TRUE(v.ready.ok()) << v.ready;
}

TEST_F(CniConfCacheTest, ConfDirRemovedAndCreatedAgain) {
  Plugin(bin_, "p1");
  Conf("10-net.conflist", "net1", "p1");
  CniConfCache cache(Options());
  ASSERT_TRUE(cache.Get().ready.ok());

  std::filesystem::remove_all(root_ + "/etc");
  CniConfCache::View v = WaitFor(cache, NotReady);
  EXPECT_THAT(v.ready.message(), HasSubstr("no network config found in " + conf_));

  ASSERT_TRUE(MakeDirs(conf_).ok());
  Conf("10-net.conflist", "net2", "p1");
  v = WaitFor(cache, Ready);
  EXPECT_TRUE(v.ready.ok()) << v.ready;
  ASSERT_NE(v.list, nullptr);
  EXPECT_EQ(v.list->name, "net2");
}

TEST_F(CniConfCacheTest, InvalidConfIsNamed) {
  Plugin(bin_, "p1");
  CniConfCache cache(Options());
  ASSERT_TRUE(WriteFileAtomic(conf_ + "/10-x.conflist", R"({"name":"x","plugins":[]})").ok());
  auto names_file = [](const CniConfCache::View& v) {
    return absl::StrContains(v.ready.message(), "10-x.conflist");
  };
  CniConfCache::View v = WaitFor(cache, names_file);
  EXPECT_EQ(v.ready.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(v.ready.message(), HasSubstr("no valid network config found"));
  EXPECT_THAT(v.ready.message(), HasSubstr("10-x.conflist"));
}

}  // namespace
}  // namespace tether
