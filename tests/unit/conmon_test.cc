// Conmon's protocol handling against fake conmon scripts (no root, runc or conmon needed).
#include "oci/conmon.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "util/file.h"

namespace tether {
namespace {

using Clock = std::chrono::steady_clock;

int CountOpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;
}

bool GoneOrZombie(int pid) {
  if (kill(pid, 0) != 0) return true;
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return true;
  size_t paren = stat->rfind(')');
  return paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] == 'Z';
}

// The fake sees conmon's arguments; it checks the pipes' protocol, records its argv, writes the
// -P pidfile with $PIDFILE_PID (default: its own pid) and then runs $BODY.
constexpr char kPrologue[] = R"(#!/bin/sh
set -u
[ "$_OCI_SYNCPIPE" = 3 ] || exit 90
[ "$_OCI_STARTPIPE" = 4 ] || exit 91
b=$(dd bs=1 count=1 <&4 2>/dev/null)
[ "$b" = 0 ] || exit 92
echo "$@" > "$(dirname "$0")/argv"
while [ $# -gt 0 ]; do case "$1" in -P) P="$2"; shift;; esac; shift; done
)";

class ConmonFake : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tether-conmon-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    ASSERT_TRUE(MakeDirs(tmp_ + "/bundle").ok());
    ASSERT_TRUE(WriteFileAtomic(tmp_ + "/bundle/config.json", "{}").ok());
    spec_.id = "c0ffee";
    spec_.name = "pause";
    spec_.bundle_dir = tmp_ + "/bundle";
    spec_.log_path = tmp_ + "/logs/c0ffee.log";
    spec_.exit_dir = tmp_ + "/exits";
    spec_.persist_dir = tmp_ + "/persist";
    spec_.socket_dir = tmp_ + "/socks";
    spec_.runtime_path = "/bin/true";  // `delete --force` after a failure "succeeds"
    spec_.runtime_root = tmp_ + "/runtime";
  }
  void TearDown() override { EXPECT_TRUE(RemoveAll(tmp_).ok()); }

  std::string Fake(const std::string& body) {
    std::string path = tmp_ + "/conmon";
    EXPECT_TRUE(WriteFileAtomic(path, std::string(kPrologue) + body, 0755).ok());
    return path;
  }

  std::string tmp_;
  MonitorSpec spec_;
};

TEST_F(ConmonFake, ReportsPids) {
  Conmon conmon(Fake(R"(echo $$ > "$P"; echo '{"pid": 4242}' >&3)"), "warning");
  int before = CountOpenFds();
  auto started = conmon.Create(spec_);
  EXPECT_EQ(CountOpenFds(), before);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->container_pid, 4242);
  EXPECT_GT(started->monitor_pid, 0);
  EXPECT_EQ(started->attach_socket_path, spec_.socket_dir + "/c0ffee/attach");
  for (const auto& d : {spec_.exit_dir, spec_.persist_dir, spec_.socket_dir, tmp_ + "/logs"}) {
    EXPECT_TRUE(PathExists(d)) << d;
  }
  auto argv = ReadFile(tmp_ + "/argv");
  ASSERT_TRUE(argv.ok());
  for (const char* want :
       {"-b ", "-c c0ffee", "-u c0ffee", "-n pause", "-r /bin/true",
        "--runtime-arg --root=", "/bundle/pidfile", "-P ", "--exit-dir ", "--persist-dir ",
        "--socket-dir-path ", "-l k8s-file:", "--log-level warn"}) {
    EXPECT_NE(argv->find(want), std::string::npos) << want << " in " << *argv;
  }
  EXPECT_EQ(argv->find("--full-attach"), std::string::npos);
  EXPECT_EQ(argv->find(" -t"), std::string::npos);
  EXPECT_EQ(argv->find(" -i"), std::string::npos);
}

TEST_F(ConmonFake, TerminalStdinAndLongSocketPath) {
  spec_.terminal = true;
  spec_.stdin_open = true;
  spec_.socket_dir = tmp_ + "/" + std::string(100, 's');
  spec_.log_path.clear();
  Conmon conmon(Fake(R"(echo $$ > "$P"; echo '{"pid": 7}' >&3)"), "debug");
  auto started = conmon.Create(spec_);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->attach_socket_path, spec_.bundle_dir + "/attach");
  auto argv = ReadFile(tmp_ + "/argv");
  ASSERT_TRUE(argv.ok());
  for (const char* want : {"--full-attach", " -t", " -i", "--leave-stdin-open", "-l none"}) {
    EXPECT_NE(argv->find(want), std::string::npos) << want << " in " << *argv;
  }
  EXPECT_EQ(argv->find("--socket-dir-path"), std::string::npos);
}

TEST_F(ConmonFake, RuntimeFailureCarriesMessage) {
  Conmon conmon(Fake(R"(echo $$ > "$P"
printf '%s\n' '{"pid": -1, "message": "time=\"x\" level=error msg=\"exec: \\\"/nope\\\": no such file\"\n"}' >&3
exit 0)"),
                "info");
  int before = CountOpenFds();
  auto started = conmon.Create(spec_);
  EXPECT_EQ(CountOpenFds(), before);
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.status().code(), absl::StatusCode::kUnknown);
  EXPECT_NE(started.status().message().find("exec: \"/nope\": no such file"), std::string::npos)
      << started.status();
}

TEST_F(ConmonFake, ExitWithoutReport) {
  Conmon conmon(Fake(R"(echo $$ > "$P")"), "info");
  auto started = conmon.Create(spec_);
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.status().message().find("without reporting"), std::string::npos)
      << started.status();
}

TEST_F(ConmonFake, FirstProcessFailure) {
  Conmon conmon(Fake(R"(echo "conmon: option parsing failed: bad flag" >&2; exit 1)"), "info");
  auto started = conmon.Create(spec_);
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.status().message().find("option parsing failed"), std::string::npos)
      << started.status();
}

TEST_F(ConmonFake, SilentDaemonTimesOutAndIsKilled) {
  // The "daemon" keeps the sync pipe open and never answers.
  Conmon conmon(Fake(R"(sleep 30 >/dev/null 2>&1 </dev/null &
echo $! > "$P")"),
                "info", std::chrono::milliseconds(300));
  int before = CountOpenFds();
  auto t0 = Clock::now();
  auto started = conmon.Create(spec_);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(CountOpenFds(), before);
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.status().code(), absl::StatusCode::kDeadlineExceeded) << started.status();
  auto pid_text = ReadFile(spec_.bundle_dir + "/conmon.pid");
  ASSERT_TRUE(pid_text.ok());
  int pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(*pid_text), &pid));
  auto deadline = Clock::now() + std::chrono::seconds(3);
  while (!GoneOrZombie(pid) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(GoneOrZombie(pid)) << "the silent conmon was not killed";
}

TEST_F(ConmonFake, RequiresBundleConfig) {
  spec_.bundle_dir = tmp_ + "/missing";
  Conmon conmon(Fake("exit 0"), "info");
  EXPECT_EQ(conmon.Create(spec_).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ConmonFake, RejectsColonInLogPath) {
  spec_.log_path = tmp_ + "/a:b.log";
  Conmon conmon(Fake("exit 0"), "info");
  EXPECT_EQ(conmon.Create(spec_).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tether
