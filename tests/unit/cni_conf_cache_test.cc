// CniConfCache: the in-memory CNI readiness that the CRI Status RPC reads, kept current by
// inotify on the conf dir and the plugin dirs, and behind the symbolic links found there.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
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
  void TearDown() override {
    cache_.reset();
    std::filesystem::remove_all(root_);
  }

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
  static auto Named(const std::string& n) {
    return [n](const CniConfCache::View& v) { return v.list && v.list->name == n; };
  }
  // The shape most tests start from: plugin p1 installed, 10-net.conflist naming it as "net1", and
  // a cache (in cache_) that is watching and ready.
  void StartReady() {
    Plugin(bin_, "p1");
    Conf("10-net.conflist", "net1", "p1");
    cache_ = std::make_unique<CniConfCache>(Options());
    ASSERT_TRUE(cache_->watching());
    ASSERT_TRUE(cache_->Get().ready.ok()) << cache_->Get().ready;
  }
  // Makes `link` a symbolic link to `target` at once (a new link renamed over it, as `ln -sfn`
  // and a ConfigMap update do).
  static void Link(const std::string& target, const std::string& link) {
    const std::string tmp = link + ".tmp";
    ASSERT_EQ(symlink(target.c_str(), tmp.c_str()), 0) << tmp;
    ASSERT_EQ(rename(tmp.c_str(), link.c_str()), 0) << link;
  }

  std::string root_, conf_, bin_;
  std::unique_ptr<CniConfCache> cache_;
};

TEST_F(CniConfCacheTest, FirstScanIsDoneByTheConstructor) {
  ASSERT_NO_FATAL_FAILURE(StartReady());
  CniConfCache::View v = cache_->Get();
  ASSERT_NE(v.list, nullptr);
  EXPECT_EQ(v.list->name, "net1");
  EXPECT_EQ(v.list->file, conf_ + "/10-net.conflist");
}

TEST_F(CniConfCacheTest, ReadingDoesNotRescan) {
  ASSERT_NO_FATAL_FAILURE(StartReady());
  const uint64_t scans = cache_->Get().scans;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(cache_->Get().ready.ok());
  EXPECT_EQ(cache_->Get().scans, scans);  // nothing changed on disk: no scan ran
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
  ASSERT_NO_FATAL_FAILURE(StartReady());
  ASSERT_TRUE(RemoveFile(conf_ + "/10-net.conflist").ok());
  CniConfCache::View v = WaitFor(*cache_, NotReady);
  EXPECT_THAT(v.ready.message(), HasSubstr("no network config found in " + conf_));
  EXPECT_EQ(v.list, nullptr);

  Conf("10-net.conflist", "net1-again", "p1");
  v = WaitFor(*cache_, Ready);
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
  EXPECT_TRUE(Named("a")(WaitFor(cache, Named("a"))));
  Conf("10-a.conflist", "a2", "p1");  // replaced by rename
  EXPECT_TRUE(Named("a2")(WaitFor(cache, Named("a2"))));
  ASSERT_TRUE(RemoveFile(conf_ + "/10-a.conflist").ok());
  EXPECT_TRUE(Named("b")(WaitFor(cache, Named("b"))));
}

TEST_F(CniConfCacheTest, RemovedPluginBinaryMakesItNotReady) {
  ASSERT_NO_FATAL_FAILURE(StartReady());
  ASSERT_TRUE(RemoveFile(bin_ + "/p1").ok());
  CniConfCache::View v = WaitFor(*cache_, NotReady);
  EXPECT_EQ(v.ready.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(v.ready.message(), HasSubstr("CNI plugin \"p1\" not found"));
  EXPECT_THAT(v.ready.message(), HasSubstr("net1"));
  ASSERT_NE(v.list, nullptr);  // the configuration itself is still loaded

  Plugin(bin_, "p1");
  v = WaitFor(*cache_, Ready);
  EXPECT_TRUE(v.ready.ok()) << v.ready;
}

TEST_F(CniConfCacheTest, PluginLosingItsExecuteBitMakesItNotReady) {
  ASSERT_NO_FATAL_FAILURE(StartReady());
  ASSERT_EQ(chmod((bin_ + "/p1").c_str(), 0644), 0);
  EXPECT_THAT(WaitFor(*cache_, NotReady).ready.message(), HasSubstr("\"p1\" not found"));
  ASSERT_EQ(chmod((bin_ + "/p1").c_str(), 0755), 0);
  EXPECT_TRUE(WaitFor(*cache_, Ready).ready.ok());
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
  ASSERT_NO_FATAL_FAILURE(StartReady());
  std::filesystem::remove_all(root_ + "/etc");
  CniConfCache::View v = WaitFor(*cache_, NotReady);
  EXPECT_THAT(v.ready.message(), HasSubstr("no network config found in " + conf_));

  ASSERT_TRUE(MakeDirs(conf_).ok());
  Conf("10-net.conflist", "net2", "p1");
  v = WaitFor(*cache_, Ready);
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

// 10-x.conflist is a link to a file elsewhere (a ConfigMap mount, a shared config): that file
// changing made no event in the conf dir and went unseen.
TEST_F(CniConfCacheTest, ConfBehindASymbolicLinkIsReloadedWhenItChanges) {
  Plugin(bin_, "p1");
  const std::string shared = root_ + "/shared";
  ASSERT_TRUE(MakeDirs(shared).ok());
  auto write_shared = [&](const std::string& name) {
    nlohmann::json j = {{"cniVersion", "1.0.0"}, {"name", name}, {"plugins", {{{"type", "p1"}}}}};
    ASSERT_TRUE(WriteFileAtomic(shared + "/x.conflist", j.dump()).ok());
  };
  write_shared("x1");
  ASSERT_EQ(symlink((shared + "/x.conflist").c_str(), (conf_ + "/10-x.conflist").c_str()), 0);
  cache_ = std::make_unique<CniConfCache>(Options());
  ASSERT_TRUE(Named("x1")(cache_->Get()));

  write_shared("x2");  // replaced by rename in its own directory
  EXPECT_TRUE(Named("x2")(WaitFor(*cache_, Named("x2"))));
  {
    std::ofstream out(shared + "/x.conflist", std::ios::trunc);  // rewritten in place
    out << R"({"cniVersion":"1.0.0","name":"x3","plugins":[{"type":"p1"}]})";
  }
  EXPECT_TRUE(Named("x3")(WaitFor(*cache_, Named("x3"))));
  ASSERT_TRUE(RemoveFile(shared + "/x.conflist").ok());  // a dangling link: no configuration
  EXPECT_THAT(WaitFor(*cache_, NotReady).ready.message(), HasSubstr("no network config found"));
}

// A ConfigMap-style chain: 10-x.conflist → ..data/x.conflist, ..data → ..v1; the update makes
// ..v2 and re-points ..data. Only a link in the middle changes.
TEST_F(CniConfCacheTest, ConfBehindAChainOfLinksFollowsARepointedLink) {
  Plugin(bin_, "p1");
  const std::string cm = root_ + "/configmap";
  for (const std::string v : {"v1", "v2"}) {
    ASSERT_TRUE(MakeDirs(cm + "/.." + v).ok());
    nlohmann::json j = {{"cniVersion", "1.0.0"}, {"name", v}, {"plugins", {{{"type", "p1"}}}}};
    ASSERT_TRUE(WriteFileAtomic(cm + "/.." + v + "/x.conflist", j.dump()).ok());
  }
  ASSERT_NO_FATAL_FAILURE(Link("..v1", cm + "/..data"));
  ASSERT_EQ(symlink((cm + "/..data/x.conflist").c_str(), (conf_ + "/10-x.conflist").c_str()), 0);
  cache_ = std::make_unique<CniConfCache>(Options());
  ASSERT_TRUE(Named("v1")(cache_->Get()));

  ASSERT_NO_FATAL_FAILURE(Link("..v2", cm + "/..data"));
  EXPECT_TRUE(Named("v2")(WaitFor(*cache_, Named("v2"))));
  // And the watches followed it: a change in ..v2 is seen too.
  nlohmann::json j = {{"cniVersion", "1.0.0"}, {"name", "v2b"}, {"plugins", {{{"type", "p1"}}}}};
  ASSERT_TRUE(WriteFileAtomic(cm + "/..v2/x.conflist", j.dump()).ok());
  EXPECT_TRUE(Named("v2b")(WaitFor(*cache_, Named("v2b"))));
}

// The conf dir itself is a link, re-pointed at another directory.
TEST_F(CniConfCacheTest, ConfDirThatIsALinkIsFollowedWhenRepointed) {
  Plugin(bin_, "p1");
  std::filesystem::remove_all(conf_);
  for (const std::string d : {"a", "b"}) {
    ASSERT_TRUE(MakeDirs(root_ + "/" + d).ok());
    nlohmann::json j = {{"cniVersion", "1.0.0"}, {"name", d}, {"plugins", {{{"type", "p1"}}}}};
    ASSERT_TRUE(WriteFileAtomic(root_ + "/" + d + "/10-net.conflist", j.dump()).ok());
  }
  ASSERT_NO_FATAL_FAILURE(Link(root_ + "/a", conf_));
  cache_ = std::make_unique<CniConfCache>(Options());
  ASSERT_TRUE(Named("a")(cache_->Get()));

  ASSERT_NO_FATAL_FAILURE(Link(root_ + "/b", conf_));
  EXPECT_TRUE(Named("b")(WaitFor(*cache_, Named("b"))));
  Conf("05-first.conflist", "b-first", "p1");  // in b now, through the link
  EXPECT_TRUE(Named("b-first")(WaitFor(*cache_, Named("b-first"))));
}

// A plugin dir entry that is a link into another directory (a packaged plugin): that file going
// or losing its execute bit made no event in the plugin dir.
TEST_F(CniConfCacheTest, PluginBehindALinkIsWatchedWhereItLeads) {
  const std::string lib = root_ + "/lib/cni";
  Plugin(lib, "p1");
  Plugin(lib, "p2");
  ASSERT_EQ(symlink((lib + "/p1").c_str(), (bin_ + "/p1").c_str()), 0);
  ASSERT_EQ(symlink((lib + "/p2").c_str(), (bin_ + "/p2").c_str()), 0);
  Conf("10-net.conflist", "net1", "p1");
  cache_ = std::make_unique<CniConfCache>(Options());
  ASSERT_TRUE(cache_->Get().ready.ok()) << cache_->Get().ready;

  ASSERT_EQ(chmod((lib + "/p1").c_str(), 0644), 0);
  EXPECT_THAT(WaitFor(*cache_, NotReady).ready.message(), HasSubstr("\"p1\" not found"));
  ASSERT_EQ(chmod((lib + "/p1").c_str(), 0755), 0);
  EXPECT_TRUE(WaitFor(*cache_, Ready).ready.ok());

  // A configuration naming another plugin: the watches follow that plugin's link too.
  Conf("10-net.conflist", "net2", "p2");
  ASSERT_TRUE(Named("net2")(WaitFor(*cache_, Named("net2"))));
  EXPECT_TRUE(WaitFor(*cache_, Ready).ready.ok());
  ASSERT_TRUE(RemoveFile(lib + "/p2").ok());
  EXPECT_THAT(WaitFor(*cache_, NotReady).ready.message(), HasSubstr("\"p2\" not found"));
}

}  // namespace
}  // namespace tether
