// Stats: cgroup v1 and v2 readers over fake cgroup trees, systemd slice expansion, net/dev
// parsing, usage_nano_cores math and the writable-layer / CPU-sample cache.
#include "stats/cgroup_stats.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "stats/stats_cache.h"
#include "util/file.h"

namespace tether {
namespace {

class TempTree {
 public:
  TempTree() {
    char tmpl[] = "/tmp/tether-cgroup-stats-XXXXXX";
    EXPECT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  ~TempTree() { (void)RemoveAll(root_); }
  const std::string& root() const { return root_; }
  // Writes `data` at `rel` below the root, creating directories.
  void Write(const std::string& rel, const std::string& data) {
    std::string path = absl::StrCat(root_, "/", rel);
    ASSERT_TRUE(MakeDirs(path.substr(0, path.rfind('/'))).ok());
    ASSERT_TRUE(WriteFileAtomic(path, data).ok());
  }

 private:
  std::string root_;
};

CgroupLayout Layout(CgroupMode mode, const std::string& root) {
  CgroupLayout l;
  l.mode = mode;
  l.root = root;
  return l;
}

constexpr uint64_t kMiB = 1 << 20;

TEST(ExpandSlice, NestedSlices) {
  EXPECT_EQ(*ExpandSlice("system.slice"), "/system.slice");
  EXPECT_EQ(*ExpandSlice("a-b.slice"), "/a.slice/a-b.slice");
  EXPECT_EQ(*ExpandSlice("kubepods-besteffort-pod12_34.slice"),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12_34.slice");
  EXPECT_EQ(*ExpandSlice("-.slice"), "/");
}

TEST(ExpandSlice, RejectsInvalidNames) {
  for (const char* bad :
       {"", ".slice", "system", "x.scope", "a--b.slice", "-a.slice", "a-.slice", "a/b.slice"}) {
    EXPECT_EQ(ExpandSlice(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(CgroupRelativePath, CgroupfsAndSystemd) {
  EXPECT_EQ(*CgroupRelativePath("/tether/abc"), "/tether/abc");
  EXPECT_EQ(*CgroupRelativePath("/kubepods//besteffort/pod1/abc/"),
            "/kubepods/besteffort/pod1/abc");
  EXPECT_EQ(*CgroupRelativePath("relative/x"), "/relative/x");
  EXPECT_EQ(*CgroupRelativePath("/"), "/");
  EXPECT_EQ(*CgroupRelativePath("kubepods-besteffort-pod1.slice:tether:abc"),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/"
            "tether-abc.scope");
  EXPECT_EQ(*CgroupRelativePath("system.slice:tether:abc"), "/system.slice/tether-abc.scope");
  EXPECT_EQ(*CgroupRelativePath(":tether:abc"), "/system.slice/tether-abc.scope");
  EXPECT_EQ(*CgroupRelativePath("-.slice:tether:abc"), "/tether-abc.scope");
  // A name that is a slice is the unit itself.
  EXPECT_EQ(*CgroupRelativePath("a.slice:tether:a-b.slice"), "/a.slice/a-b.slice");
  for (const char* bad : {"", "a.slice:b", "a:b:c:d", "bad:tether:abc", "/a/../b"}) {
    EXPECT_FALSE(CgroupRelativePath(bad).ok()) << bad;
  }
}

TEST(CgroupRelativePath, Parent) {
  EXPECT_EQ(ParentCgroup("/kubepods/pod1/abc"), "/kubepods/pod1");
  EXPECT_EQ(ParentCgroup("/abc"), "/");
  EXPECT_EQ(ParentCgroup("/"), "/");
}

TEST(CgroupStatsReader, V1) {
  TempTree t;
  t.Write("cpuacct/tether/c1/cpuacct.usage", "123456789\n");
  t.Write("memory/tether/c1/memory.usage_in_bytes", absl::StrCat(100 * kMiB, "\n"));
  t.Write(
      "memory/tether/c1/memory.stat",
      absl::StrCat("cache 1\nrss 2\ninactive_file 3\npgfault 4\n", "total_rss ", 60 * kMiB,
                   "\ntotal_inactive_file ", 4 * kMiB, "\ntotal_pgfault 77\ntotal_pgmajfault 3\n"));
  t.Write("memory/tether/c1/memory.limit_in_bytes", "9223372036854771712\n");  // no limit
  t.Write("memory/tether/c1/cgroup.procs", "10\n11\n");
  t.Write("pids/tether/c1/pids.current", "5\n");
  CgroupStatsReader reader(Layout(CgroupMode::kLegacy, t.root()));

  auto s = reader.Read("/tether/c1");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_GT(s->timestamp, 0);
  EXPECT_EQ(s->cpu_usage_ns, 123456789u);
  ASSERT_TRUE(s->memory);
  EXPECT_EQ(s->memory->usage_bytes, 100 * kMiB);
  EXPECT_EQ(s->memory->working_set_bytes, 96 * kMiB);
  EXPECT_EQ(s->memory->rss_bytes, 60 * kMiB);
  EXPECT_EQ(s->memory->page_faults, 77u);
  EXPECT_EQ(s->memory->major_page_faults, 3u);
  EXPECT_FALSE(s->memory->limit_bytes);
  EXPECT_FALSE(s->memory->available_bytes());
  EXPECT_EQ(s->pids, 5u);

  // A limit: available = limit - working set. Without the pids controller: cgroup.procs lines.
  t.Write("memory/tether/c1/memory.limit_in_bytes", absl::StrCat(200 * kMiB, "\n"));
  ASSERT_TRUE(RemoveAll(t.root() + "/pids").ok());
  s = reader.Read("/tether/c1");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->memory->limit_bytes, 200 * kMiB);
  EXPECT_EQ(s->memory->available_bytes(), 104 * kMiB);
  EXPECT_EQ(s->pids, 2u);

  // Inactive file pages above the usage (a race between the two files): working set 0.
  t.Write("memory/tether/c1/memory.usage_in_bytes", "100\n");
  s = reader.Read("/tether/c1");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->memory->working_set_bytes, 0u);

  EXPECT_EQ(reader.Read("/tether/missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(reader.Read("tether/c1").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CgroupStatsReader, V1WithoutMemoryController) {
  TempTree t;
  t.Write("cpuacct/a/cpuacct.usage", "42\n");
  t.Write("cpuacct/a/cgroup.procs", "1\n");
  CgroupStatsReader reader(Layout(CgroupMode::kLegacy, t.root()));
  auto s = reader.Read("/a");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->cpu_usage_ns, 42u);
  EXPECT_FALSE(s->memory);
  EXPECT_EQ(s->pids, 1u);
}

TEST(CgroupStatsReader, V2) {
  TempTree t;
  t.Write("kubepods.slice/pod.slice/tether-c1.scope/cpu.stat",
          "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 0\n");
  t.Write("kubepods.slice/pod.slice/tether-c1.scope/memory.current", absl::StrCat(50 * kMiB, "\n"));
  t.Write("kubepods.slice/pod.slice/tether-c1.scope/memory.stat",
          absl::StrCat("anon ", 30 * kMiB, "\nfile ", 20 * kMiB, "\ninactive_file ", 15 * kMiB,
                       "\nactive_file ", 5 * kMiB, "\npgfault 1000\npgmajfault 7\n"));
  t.Write("kubepods.slice/pod.slice/tether-c1.scope/memory.max", "max\n");
  t.Write("kubepods.slice/pod.slice/tether-c1.scope/cgroup.procs", "1\n2\n3\n");
  CgroupStatsReader reader(Layout(CgroupMode::kUnified, t.root()));

  auto rel = CgroupRelativePath("kubepods-pod.slice:tether:c1");
  ASSERT_TRUE(rel.ok());
  EXPECT_EQ(*rel, "/kubepods.slice/kubepods-pod.slice/tether-c1.scope");
  // (The fake tree uses a short name for the pod slice.)
  auto s = reader.Read("/kubepods.slice/pod.slice/tether-c1.scope");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->cpu_usage_ns, 2500000u);
  ASSERT_TRUE(s->memory);
  EXPECT_EQ(s->memory->usage_bytes, 50 * kMiB);
  EXPECT_EQ(s->memory->working_set_bytes, 35 * kMiB);
  EXPECT_EQ(s->memory->rss_bytes, 30 * kMiB);
  EXPECT_EQ(s->memory->page_faults, 1000u);
  EXPECT_EQ(s->memory->major_page_faults, 7u);
  EXPECT_FALSE(s->memory->limit_bytes);
  EXPECT_EQ(s->pids, 3u);  // no pids.current: cgroup.procs

  t.Write("kubepods.slice/pod.slice/tether-c1.scope/memory.max", absl::StrCat(64 * kMiB, "\n"));
  t.Write("kubepods.slice/pod.slice/tether-c1.scope/pids.current", "4\n");
  s = reader.Read("/kubepods.slice/pod.slice/tether-c1.scope");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->memory->available_bytes(), 29 * kMiB);
  EXPECT_EQ(s->pids, 4u);
  // The parent (the pod's cgroup) reads the same way.
  EXPECT_TRUE(reader.Read(ParentCgroup("/kubepods.slice/pod.slice/tether-c1.scope")).ok());
  EXPECT_EQ(reader.Read("/nope").status().code(), absl::StatusCode::kNotFound);
}

TEST(CgroupStatsReader, DetectOnThisHost) {
  // Whatever the host runs, Detect answers and a temp dir is never cgroup2.
  TempTree t;
  EXPECT_EQ(CgroupLayout::Detect(t.root()).mode, CgroupMode::kLegacy);
  EXPECT_EQ(CgroupLayout::Detect().root, "/sys/fs/cgroup");
  // The host's root cgroup has a CPU counter in every mode.
  if (!PathExists("/sys/fs/cgroup/cgroup.controllers") &&
      !PathExists("/sys/fs/cgroup/cpuacct/cpuacct.usage")) {
    GTEST_SKIP() << "no cgroupfs here";
  }
  auto s = CgroupStatsReader(CgroupLayout::Detect()).Read("/");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_GT(s->cpu_usage_ns.value_or(0), 0u);
}

TEST(CgroupStats, Sum) {
  CgroupStats a, b, c;
  a.cpu_usage_ns = 10;
  a.memory = MemoryStats{.usage_bytes = 100,
                         .working_set_bytes = 80,
                         .rss_bytes = 50,
                         .page_faults = 5,
                         .major_page_faults = 1,
                         .limit_bytes = 1000};
  a.pids = 1;
  b.cpu_usage_ns = 5;
  b.memory = MemoryStats{.usage_bytes = 10,
                         .working_set_bytes = 8,
                         .rss_bytes = 5,
                         .page_faults = 1,
                         .major_page_faults = 0};
  b.pids = 2;
  // c has nothing (its cgroup vanished).
  auto s = SumCgroupStats({a, b, c}, 77);
  EXPECT_EQ(s.timestamp, 77);
  EXPECT_EQ(s.cpu_usage_ns, 15u);
  ASSERT_TRUE(s.memory);
  EXPECT_EQ(s.memory->usage_bytes, 110u);
  EXPECT_EQ(s.memory->working_set_bytes, 88u);
  EXPECT_EQ(s.memory->rss_bytes, 55u);
  EXPECT_EQ(s.memory->page_faults, 6u);
  EXPECT_EQ(s.memory->major_page_faults, 1u);
  EXPECT_FALSE(s.memory->limit_bytes);
  EXPECT_EQ(s.pids, 3u);
  auto empty = SumCgroupStats({}, 1);
  EXPECT_FALSE(empty.cpu_usage_ns);
  EXPECT_FALSE(empty.memory);
  EXPECT_FALSE(empty.pids);
}

TEST(ParseFlatKeyed, SkipsJunk) {
  auto m = ParseFlatKeyed("a 1\nb\tx\n c  2 \nd 3 4\n\ne 18446744073709551615\n");
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ(m["a"], 1u);
  EXPECT_EQ(m["c"], 2u);
  EXPECT_EQ(m["e"], 18446744073709551615u);
}

constexpr char kNetDev[] =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
    "    lo:     280       4    0    0    0     0          0         0      280       4    0    0 "
    "   0     0       0          0\n"
    "  eth0:  123456     100    2    3    0     0          0         5    65432      90    1    4 "
    "   0     0       0          0\n"
    "veth1:7 1 0 0 0 0 0 0 8 1 0 0 0 0 0 0\n"
    "broken: 1 2 3\n";

TEST(NetDev, Parse) {
  auto ifaces = ParseNetDev(kNetDev);
  ASSERT_TRUE(ifaces.ok()) << ifaces.status();
  ASSERT_EQ(ifaces->size(), 3u);
  const auto& eth0 = ifaces->at("eth0");
  EXPECT_EQ(eth0.rx_bytes, 123456u);
  EXPECT_EQ(eth0.rx_packets, 100u);
  EXPECT_EQ(eth0.rx_errors, 2u);
  EXPECT_EQ(eth0.rx_dropped, 3u);
  EXPECT_EQ(eth0.tx_bytes, 65432u);
  EXPECT_EQ(eth0.tx_packets, 90u);
  EXPECT_EQ(eth0.tx_errors, 1u);
  EXPECT_EQ(eth0.tx_dropped, 4u);
  EXPECT_EQ(ifaces->at("lo").rx_bytes, 280u);
  EXPECT_EQ(ifaces->at("veth1").rx_bytes, 7u);  // no space after the colon
  EXPECT_EQ(ifaces->at("veth1").tx_bytes, 8u);
  EXPECT_EQ(ParseNetDev("eth0: 1 2 3\n").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(NetDev, ReadFromProcRoot) {
  TempTree t;
  t.Write("4242/net/dev", kNetDev);
  auto ifaces = ReadNetDev(4242, t.root());
  ASSERT_TRUE(ifaces.ok()) << ifaces.status();
  EXPECT_EQ(ifaces->at("eth0").rx_bytes, 123456u);
  EXPECT_EQ(ReadNetDev(4243, t.root()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(ReadNetDev(0, t.root()).ok());
  // Our own namespace, through the real /proc: at least lo.
  auto self = ReadNetDev(getpid());
  ASSERT_TRUE(self.ok()) << self.status();
  EXPECT_TRUE(self->count("lo"));
}

TEST(NanoCores, Math) {
  constexpr int64_t kSec = 1000000000;
  // Half a core over two seconds.
  EXPECT_EQ(
      NanoCores({.timestamp = 1 * kSec, .usage_ns = 0}, {.timestamp = 3 * kSec, .usage_ns = kSec}),
      500000000u);
  // Two full cores.
  EXPECT_EQ(NanoCores({.timestamp = 10 * kSec, .usage_ns = 5 * kSec},
                      {.timestamp = 11 * kSec, .usage_ns = 7 * kSec}),
            2000000000u);
  // Idle.
  EXPECT_EQ(NanoCores({.timestamp = 0, .usage_ns = 9}, {.timestamp = kSec, .usage_ns = 9}), 0u);
  // Large counters do not overflow: 1e18 ns used, 1 core for 1e9 s.
  EXPECT_EQ(NanoCores({.timestamp = 0, .usage_ns = 0},
                      {.timestamp = 1000000000 * kSec, .usage_ns = 1000000000 * uint64_t{kSec}}),
            1000000000u);
  // Time did not advance, or the counter went back (a recreated cgroup): no rate.
  EXPECT_FALSE(NanoCores({.timestamp = kSec, .usage_ns = 1}, {.timestamp = kSec, .usage_ns = 2}));
  EXPECT_FALSE(
      NanoCores({.timestamp = 2 * kSec, .usage_ns = 1}, {.timestamp = kSec, .usage_ns = 2}));
  EXPECT_FALSE(
      NanoCores({.timestamp = kSec, .usage_ns = 5}, {.timestamp = 2 * kSec, .usage_ns = 4}));
}

StatsCache::Options TestOptions(
    std::function<absl::StatusOr<std::pair<uint64_t, uint64_t>>(const std::string&)> walker) {
  StatsCache::Options o;
  o.interval = absl::Hours(1);  // only the first sweep, at start
  o.stale_after = absl::Hours(1);
  o.low_priority = false;
  o.walker = std::move(walker);
  o.cgroups = CgroupLayout{};
  return o;
}

TEST(StatsCache, NanoCoresFromPreviousSample) {
  StatsCache cache([] { return std::vector<StatsCache::Layer>{}; }, TestOptions(nullptr));
  constexpr int64_t kSec = 1000000000;
  EXPECT_FALSE(cache.NanoCores("c", {.timestamp = 10 * kSec, .usage_ns = 0}));  // first: unset
  EXPECT_EQ(cache.NanoCores("c", {.timestamp = 12 * kSec, .usage_ns = kSec}), 500000000u);
  // Less than a second later: the last rate, not a rate over a tiny window.
  EXPECT_EQ(cache.NanoCores("c", {.timestamp = 12 * kSec + 1000, .usage_ns = kSec + 1000}),
            500000000u);
  // An older, concurrent reading changes nothing.
  EXPECT_EQ(cache.NanoCores("c", {.timestamp = 11 * kSec, .usage_ns = 0}), 500000000u);
  // Measured from the sample at 12 s.
  EXPECT_EQ(cache.NanoCores("c", {.timestamp = 14 * kSec, .usage_ns = 5 * kSec}), 2000000000u);
  // Keys are independent.
  EXPECT_FALSE(cache.NanoCores("other", {.timestamp = 14 * kSec, .usage_ns = 5 * kSec}));
  // The counter went back (a new cgroup with the same key): unset, then measured from the new one.
  EXPECT_FALSE(cache.NanoCores("c", {.timestamp = 16 * kSec, .usage_ns = 1}));
  EXPECT_EQ(cache.NanoCores("c", {.timestamp = 17 * kSec, .usage_ns = 1 + kSec / 4}), 250000000u);
}

TEST(StatsCache, SweepWalksListedLayersAndForgetsTheRest) {
  std::vector<StatsCache::Layer> layers = {{.id = "a", .dir = "/upper/a"},
                                           {.id = "b", .dir = "/upper/b"}};
  std::map<std::string, int> walks;
  StatsCache cache(
      [&] { return layers; },
      TestOptions([&](const std::string& dir) -> absl::StatusOr<std::pair<uint64_t, uint64_t>> {
        ++walks[dir];
        if (dir == "/upper/b") return absl::NotFoundError("gone");
        return std::make_pair(uint64_t{4096} * walks[dir], static_cast<uint64_t>(walks[dir]));
      }));
  // Nothing walked yet: no answer, and a walk is requested (not done on this thread).
  EXPECT_FALSE(cache.WritableLayer("a"));
  EXPECT_TRUE(cache.PendingForTesting("a"));
  EXPECT_TRUE(walks.empty());

  cache.SweepForTesting();
  auto a = cache.WritableLayer("a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->bytes, 4096u);
  EXPECT_EQ(a->inodes, 1u);
  EXPECT_GT(a->timestamp, 0);
  EXPECT_FALSE(cache.WritableLayer("b"));  // the walk failed: nothing cached

  // An exited container's layer is walked once after it stopped changing, then kept.
  layers[0].frozen_at = a->timestamp - 1;
  cache.SweepForTesting();
  EXPECT_EQ(walks["/upper/a"], 1);
  layers[0].frozen_at = a->timestamp + 1;  // exited after the last walk
  cache.SweepForTesting();
  EXPECT_EQ(walks["/upper/a"], 2);
  EXPECT_EQ(cache.WritableLayer("a")->bytes, 8192u);
  cache.SweepForTesting();
  EXPECT_EQ(walks["/upper/a"], 2);

  // A container that is gone is forgotten.
  layers.erase(layers.begin());
  cache.SweepForTesting();
  EXPECT_FALSE(cache.WritableLayer("a"));
}

TEST(StatsCache, BackgroundThreadWalksOnRequest) {
  std::atomic<int> walks{0};
  std::atomic<uint64_t> size{100};
  StatsCache cache(
      [] { return std::vector<StatsCache::Layer>{{.id = "c", .dir = "/upper/c"}}; },
      TestOptions([&](const std::string&) -> absl::StatusOr<std::pair<uint64_t, uint64_t>> {
        ++walks;
        return std::make_pair(size.load(), uint64_t{1});
      }));
  cache.Start();
  auto wait_for = [&](auto pred) {
    for (int i = 0; i < 500 && !pred(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return pred();
  };
  // The first sweep runs at start.
  ASSERT_TRUE(wait_for([&] { return cache.WritableLayer("c").has_value(); }));
  EXPECT_EQ(cache.WritableLayer("c")->bytes, 100u);
  // Not stale (stale_after is an hour): no new walk. An explicit request walks again.
  int before = walks;
  size = 200;
  cache.RequestRefresh("c");
  ASSERT_TRUE(wait_for([&] { return cache.WritableLayer("c")->bytes == 200u; }));
  EXPECT_EQ(walks, before + 1);
  EXPECT_FALSE(cache.PendingForTesting("c"));
  cache.Stop();
  cache.Stop();  // idempotent
}

TEST(StatsCache, StaleEntriesAreRefreshedInTheBackground) {
  std::atomic<uint64_t> size{1};
  auto options =
      TestOptions([&](const std::string&) -> absl::StatusOr<std::pair<uint64_t, uint64_t>> {
        return std::make_pair(size.load(), uint64_t{1});
      });
  options.stale_after = absl::ZeroDuration();
  StatsCache cache([] { return std::vector<StatsCache::Layer>{{.id = "c", .dir = "/upper/c"}}; },
                   options);
  cache.Start();
  for (int i = 0; i < 500 && !cache.WritableLayer("c"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  size = 5;
  uint64_t seen = 0;
  for (int i = 0; i < 500 && seen != 5; ++i) {
    if (auto l = cache.WritableLayer("c")) seen = l->bytes;  // the old value, and a request
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(seen, 5u);
}

}  // namespace
}  // namespace tether
