// tetherctl image and container commands: the CRI log reader, image and container output, and
// whole commands run against an in-process fake runtime + image service on a unix socket.
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "runtime/v1/api.grpc.pb.h"
#include "tetherctl/cli.h"
#include "tetherctl/container_output.h"
#include "tetherctl/image_output.h"
#include "tetherctl/log_reader.h"
#include "tetherctl/output.h"
#include "tetherctl_test_util.h"

namespace tether::ctl {
namespace {

using nlohmann::json;

constexpr int64_t kSecond = 1000000000LL;

// A table line laid out like tabwriter: each cell but the last padded to its column's width.
std::string Row(const std::vector<std::string>& cells, const std::vector<size_t>& widths) {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    line += cells[i];
    if (i + 1 < cells.size()) line.append(widths[i] - cells[i].size(), ' ');
  }
  return line + "\n";
}

// --- CRI log records -----------------------------------------------------------------------------

TEST(TetherctlLogs, ParseRfc3339) {
  auto t = ParseRfc3339("2023-11-14T22:13:20Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->time, absl::FromUnixSeconds(kBaseSeconds));
  EXPECT_EQ(t->utc_offset_seconds, 0);

  t = ParseRfc3339("2023-11-15T00:13:20.123456789+02:00");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->time, absl::FromUnixNanos(kBaseNs + 123456789));
  EXPECT_EQ(t->utc_offset_seconds, 7200);

  t = ParseRfc3339("2023-11-14T22:13:20.5-01:30");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->time, absl::FromUnixNanos(kBaseNs + 5400 * kSecond + 500000000));
  EXPECT_EQ(t->utc_offset_seconds, -5400);

  // More than nine fraction digits are cut; a one-digit hour and a comma are Go-compatible.
  t = ParseRfc3339("2023-11-14T22:13:20,1234567899Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->time, absl::FromUnixNanos(kBaseNs + 123456789));
  EXPECT_TRUE(ParseRfc3339("2023-11-14T2:13:20Z").has_value());

  for (const char* bad :
       {"", "2023-11-14", "2023-11-14 22:13:20Z", "2023-11-14T22:13:20", "2023-11-14T22:13:20z",
        "2023-13-14T22:13:20Z", "2023-02-30T22:13:20Z", "2023-11-14T24:00:00Z",
        "2023-11-14T22:13:20+0200", "2023-11-14T22:13:20Zjunk", "2023-11-14T22:13:2Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad).has_value()) << bad;
  }
}

TEST(TetherctlLogs, TimestampsAreFixedNanoseconds) {
  EXPECT_EQ(FormatLogTimestamp({absl::FromUnixSeconds(kBaseSeconds), 0}),
            "2023-11-14T22:13:20.000000000Z");
  EXPECT_EQ(FormatLogTimestamp({absl::FromUnixNanos(kBaseNs + 5), 7200}),
            "2023-11-15T00:13:20.000000005+02:00");
}

TEST(TetherctlLogs, ParseCriLogLine) {
  auto r = ParseCriLogLine("2023-11-14T22:13:20Z stdout F hello world\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->stream, LogStream::kStdout);
  EXPECT_FALSE(r->partial);
  EXPECT_EQ(r->text, "hello world\n");
  EXPECT_EQ(r->time.time, absl::FromUnixSeconds(kBaseSeconds));

  // A partial record loses its line's newline; spaces in the text are kept.
  r = ParseCriLogLine("2023-11-14T22:13:20Z stderr P  two  spaces \n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->stream, LogStream::kStderr);
  EXPECT_TRUE(r->partial);
  EXPECT_EQ(r->text, " two  spaces ");

  // More tags after ':'; an empty line; a last line without its newline.
  r = ParseCriLogLine("2023-11-14T22:13:20Z stdout F:x:y text\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->partial);
  r = ParseCriLogLine("2023-11-14T22:13:20Z stdout P:x text\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->partial);
  EXPECT_EQ(r->text, "text");
  EXPECT_EQ(ParseCriLogLine("2023-11-14T22:13:20Z stdout F \n")->text, "\n");
  EXPECT_EQ(ParseCriLogLine("2023-11-14T22:13:20Z stdout F unfinished")->text, "unfinished");

  for (const char* bad :
       {"", "\n", "garbage\n", "2023-11-14T22:13:20Z\n", "2023-11-14T22:13:20Z stdout\n",
        "2023-11-14T22:13:20Z stdout F\n", "2023-11-14T22:13:20Z stdin F text\n",
        "yesterday stdout F text\n", "{\"log\":\"docker json\"}\n"}) {
    EXPECT_FALSE(ParseCriLogLine(bad).has_value()) << bad;
  }
}

TEST(TetherctlLogs, TailStartCountsLinesFromTheEnd) {
  EXPECT_EQ(TailStart("a\nb\nc\n", -1), 0u);
  EXPECT_EQ(TailStart("a\nb\nc\n", 0), 6u);
  EXPECT_EQ(TailStart("a\nb\nc\n", 1), 4u);
  EXPECT_EQ(TailStart("a\nb\nc\n", 2), 2u);
  EXPECT_EQ(TailStart("a\nb\nc\n", 3), 0u);
  EXPECT_EQ(TailStart("a\nb\nc\n", 10), 0u);
  EXPECT_EQ(TailStart("a\nb\nc", 1), 2u);  // the unfinished line goes with the one before
  EXPECT_EQ(TailStart("", 3), 0u);
}

using Chunks = std::vector<std::pair<LogStream, std::string>>;
constexpr LogStream kOut = LogStream::kStdout;
constexpr LogStream kErr = LogStream::kStderr;

// Records at 20s, 21s, (20s at +02:00 = 22:13:22 local), 23s, 24s; one malformed line.
const char kLog[] =
    "2023-11-14T22:13:20.000000001Z stdout F hello\n"
    "2023-11-14T22:13:21Z stderr P part one \n"
    "2023-11-15T00:13:22+02:00 stderr F and two\n"
    "garbage line\n"
    "2023-11-14T22:13:23Z stdout F \n"
    "2023-11-14T22:13:24Z stdout F last\n";

TEST(TetherctlLogs, RenderJoinsPartialsPerStreamAndSkipsMalformedLines) {
  EXPECT_EQ(RenderCriLog(kLog, {}),
            (Chunks{{kOut, "hello\n"}, {kErr, "part one and two\n"}, {kOut, "\nlast\n"}}));
  EXPECT_EQ(RenderCriLog("", {}), Chunks{});
  // An unfinished last line is printed when the file is read once.
  EXPECT_EQ(RenderCriLog("2023-11-14T22:13:20Z stdout F a\n2023-11-14T22:13:21Z stdout P b", {}),
            (Chunks{{kOut, "a\nb"}}));
}

TEST(TetherctlLogs, RenderTail) {
  EXPECT_EQ(RenderCriLog(kLog, {.tail = 1}), (Chunks{{kOut, "last\n"}}));
  // The malformed line counts as a line of the file, not as one printed.
  EXPECT_EQ(RenderCriLog(kLog, {.tail = 3}), (Chunks{{kOut, "\nlast\n"}}));
  // A tail starting inside a partial line prints the rest of it.
  EXPECT_EQ(RenderCriLog(kLog, {.tail = 4}), (Chunks{{kErr, "and two\n"}, {kOut, "\nlast\n"}}));
  EXPECT_EQ(RenderCriLog(kLog, {.tail = 0}), Chunks{});
  EXPECT_EQ(RenderCriLog(kLog, {.tail = 100}), RenderCriLog(kLog, {}));
}

TEST(TetherctlLogs, RenderSinceTimestampsAndLimit) {
  // Records before --since go, compared as instants (the +02:00 record is at 22:13:22Z).
  EXPECT_EQ(RenderCriLog(kLog, {.since = absl::FromUnixSeconds(kBaseSeconds + 1)}),
            (Chunks{{kErr, "part one and two\n"}, {kOut, "\nlast\n"}}));
  EXPECT_EQ(RenderCriLog(kLog, {.since = absl::FromUnixSeconds(kBaseSeconds + 3)}),
            (Chunks{{kOut, "\nlast\n"}}));

  // A timestamp starts each output line; the rest of a partial line gets none.
  EXPECT_EQ(RenderCriLog(kLog, {.timestamps = true}),
            (Chunks{{kOut, "2023-11-14T22:13:20.000000001Z hello\n"},
                    {kErr, "2023-11-14T22:13:21.000000000Z part one and two\n"},
                    {kOut,
                     "2023-11-14T22:13:23.000000000Z \n"
                     "2023-11-14T22:13:24.000000000Z last\n"}}));

  EXPECT_EQ(RenderCriLog(kLog, {.limit_bytes = 8}), (Chunks{{kOut, "hello\n"}, {kErr, "pa"}}));
  EXPECT_EQ(RenderCriLog(kLog, {.limit_bytes = 0}), Chunks{});
}

TEST(TetherctlLogs, ParseSince) {
  const absl::Time now = absl::FromUnixNanos(kBaseNs + 700000000);
  const absl::TimeZone plus2 = absl::FixedTimeZone(7200);
  auto since = [&](const char* value) { return ParseSince(value, now, plus2); };
  // Durations count back from now, cut to the second.
  EXPECT_EQ(*since("10s"), absl::FromUnixSeconds(kBaseSeconds - 10));
  EXPECT_EQ(*since("1h30m"), absl::FromUnixSeconds(kBaseSeconds - 5400));
  EXPECT_EQ(*since("500ms"), absl::FromUnixSeconds(kBaseSeconds));
  // RFC 3339 and its prefixes; without a zone the local offset applies.
  EXPECT_EQ(*since("2023-11-14T22:13:20Z"), absl::FromUnixSeconds(kBaseSeconds));
  EXPECT_EQ(*since("2023-11-14T22:13:20.5+01:00"),
            absl::FromUnixNanos(kBaseNs - 3600 * kSecond + 500000000));
  EXPECT_EQ(*since("2023-11-15T00:13:20"), absl::FromUnixSeconds(kBaseSeconds));
  EXPECT_EQ(*since("2023-11-15T00:13"), absl::FromUnixSeconds(kBaseSeconds - 20));
  EXPECT_EQ(*since("2023-11-15T00"), absl::FromUnixSeconds(kBaseSeconds - 13 * 60 - 20));
  EXPECT_EQ(*since("2023-11-15"), absl::FromUnixSeconds(kBaseSeconds - 13 * 60 - 20));
  EXPECT_EQ(*since("2023-11-14T22:13:20-00:00"), absl::FromUnixSeconds(kBaseSeconds));
  // Unix seconds.
  EXPECT_EQ(*since("1700000000"), absl::FromUnixSeconds(kBaseSeconds));
  EXPECT_EQ(*since("1700000000.25"), absl::FromUnixNanos(kBaseNs + 250000000));
  EXPECT_EQ(*since("0"), absl::UnixEpoch());

  for (const char* bad : {"", "yesterday", "2023-13-01", "2023-11-14T25:00:00Z", "10 s", "1.x"}) {
    EXPECT_FALSE(since(bad).ok()) << bad;
  }
}

// A temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            absl::StrCat("tetherctl-cmd-test-", getpid(), "-", counter_++);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

void Append(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::app);
  out << text;
}

struct Captured {
  std::string out;
  std::string err;
  LogSink Sink() {
    return [this](LogStream stream, absl::string_view text) {
      (stream == LogStream::kStdout ? out : err).append(text.data(), text.size());
    };
  }
};

TEST(TetherctlLogs, ReadFileOnce) {
  TempDir dir;
  const std::string path = dir.File("c.log");
  Append(path, kLog);
  Captured got;
  int checks = 0;
  ASSERT_TRUE(ReadCriLogFile(path, {.tail = 3}, got.Sink(), [&]() -> absl::StatusOr<bool> {
                ++checks;
                return true;
              }).ok());
  EXPECT_EQ(got.out, "\nlast\n");
  EXPECT_EQ(got.err, "");
  EXPECT_EQ(checks, 0);  // the container is asked about only with --follow

  // A symlink is resolved; a missing file is an error.
  std::filesystem::create_symlink(path, dir.File("link.log"));
  Captured linked;
  ASSERT_TRUE(ReadCriLogFile(dir.File("link.log"), {}, linked.Sink(), nullptr).ok());
  EXPECT_EQ(linked.err, "part one and two\n");
  EXPECT_FALSE(ReadCriLogFile(dir.File("missing.log"), {}, linked.Sink(), nullptr).ok());
}

TEST(TetherctlLogs, ReadFileLargerThanABlock) {
  TempDir dir;
  const std::string path = dir.File("big.log");
  std::string content, expected_tail;
  for (int i = 0; i < 5000; ++i) {
    const std::string line = absl::StrCat("2023-11-14T22:13:20Z stdout F line ", i, "\n");
    content += line;
    if (i >= 4990) absl::StrAppend(&expected_tail, "line ", i, "\n");
  }
  Append(path, content);
  Captured got;
  ASSERT_TRUE(ReadCriLogFile(path, {.tail = 10}, got.Sink(), nullptr).ok());
  EXPECT_EQ(got.out, expected_tail);
}

TEST(TetherctlLogs, FollowUntilTheContainerStops) {
  TempDir dir;
  const std::string path = dir.File("c.log");
  Append(path, "2023-11-14T22:13:20Z stdout F first\n");
  std::atomic<bool> stopped = false;
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    Append(path, "2023-11-14T22:13:21Z stderr P half");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    Append(path, "\n2023-11-14T22:13:22Z stderr F  done\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    Append(path, "2023-11-14T22:13:23Z stdout F after\n");
    stopped = true;  // written before the container counts as stopped: still printed
  });
  Captured got;
  int checks = 0;
  absl::Status status = ReadCriLogFile(
      path, {.tail = 5, .follow = true}, got.Sink(),
      [&]() -> absl::StatusOr<bool> {
        ++checks;
        return !stopped.load();
      },
      absl::Milliseconds(20));
  writer.join();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(got.out, "first\nafter\n");
  EXPECT_EQ(got.err, "half done\n");
  EXPECT_GE(checks, 2);
}

TEST(TetherctlLogs, FollowReopensARotatedFile) {
  TempDir dir;
  const std::string path = dir.File("c.log");
  Append(path, "2023-11-14T22:13:20Z stdout F old\n");
  std::atomic<bool> stopped = false;
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::filesystem::rename(path, path + ".1");
    Append(path, "2023-11-14T22:13:21Z stdout F new\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stopped = true;
  });
  Captured got;
  absl::Status status = ReadCriLogFile(
      path, {.follow = true}, got.Sink(), [&]() -> absl::StatusOr<bool> { return !stopped.load(); },
      absl::Milliseconds(20));
  writer.join();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(got.out, "old\nnew\n");
}

TEST(TetherctlLogs, FollowStopsOnAStatusError) {
  TempDir dir;
  const std::string path = dir.File("c.log");
  Append(path, "2023-11-14T22:13:20Z stdout F one\n");
  Captured got;
  absl::Status status = ReadCriLogFile(
      path, {.follow = true}, got.Sink(),
      []() -> absl::StatusOr<bool> { return absl::NotFoundError("gone"); }, absl::Milliseconds(1));
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(got.out, "one\n");
}

// --- images ----------------------------------------------------------------------------------

TEST(TetherctlImages, HumanSizeLikeGoUnits) {
  EXPECT_EQ(HumanSize(0, 3), "0B");
  EXPECT_EQ(HumanSize(999, 3), "999B");
  EXPECT_EQ(HumanSize(1000, 3), "1kB");
  EXPECT_EQ(HumanSize(77834560, 3), "77.8MB");
  EXPECT_EQ(HumanSize(1234567890, 3), "1.23GB");
  EXPECT_EQ(HumanSize(999950, 3), "1e+03kB");  // as Go's %.3g prints it
  EXPECT_EQ(HumanSize(2746000), "2.746MB");
  EXPECT_EQ(HumanSize(1024 * 1024), "1.049MB");
  EXPECT_EQ(HumanSize(4096), "4.096kB");
  EXPECT_EQ(HumanSize(1e30), "1e+06YB");
}

google::protobuf::RepeatedPtrField<std::string> Strings(std::vector<std::string> v) {
  return google::protobuf::RepeatedPtrField<std::string>(v.begin(), v.end());
}

TEST(TetherctlImages, RepoTagsAndDigests) {
  EXPECT_EQ(NormalizeRepoDigest(Strings({"docker.io/library/nginx@sha256:abc", "x@sha256:def"})),
            std::make_pair(std::string("docker.io/library/nginx"), std::string("sha256:abc")));
  EXPECT_EQ(NormalizeRepoDigest(Strings({})),
            std::make_pair(std::string("<none>"), std::string("<none>")));
  EXPECT_EQ(NormalizeRepoDigest(Strings({"no-at-sign"})).first, "errorName");

  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(NormalizeRepoTagPairs(Strings({"localhost:5000/app:v1", "app:latest"}), "x"),
            (Pairs{{"localhost:5000/app", "v1"}, {"app", "latest"}}));
  EXPECT_EQ(NormalizeRepoTagPairs(Strings({}), "docker.io/library/busybox"),
            (Pairs{{"docker.io/library/busybox", "<none>"}}));
  EXPECT_EQ(NormalizeRepoTagPairs(Strings({"<none>:<none>", "notag"}), "repo"),
            (Pairs{{"repo", "<none>"}, {"errorRepoTag", "errorRepoTag"}}));
}

runtime::v1::Image MakeImage(const std::string& id, std::vector<std::string> tags,
                             std::vector<std::string> digests, uint64_t size) {
  runtime::v1::Image image;
  image.set_id(id);
  for (auto& t : tags) image.add_repo_tags(t);
  for (auto& d : digests) image.add_repo_digests(d);
  image.set_size(size);
  return image;
}

const std::string kNginxId = "sha256:" + std::string("0123456789abcdef0123456789abcdef") +
                             "0123456789abcdef0123456789abcdef";
const std::string kBusyboxId = "sha256:" + std::string(64, 'a');
const std::string kPauseId = "sha256:" + std::string(64, 'c');

std::vector<runtime::v1::Image> SampleImages() {
  return {
      MakeImage(kBusyboxId, {}, {"docker.io/library/busybox@sha256:" + std::string(64, 'b')},
                4261550),
      MakeImage(kNginxId, {"docker.io/library/nginx:1.25", "docker.io/library/nginx:latest"},
                {"docker.io/library/nginx@sha256:" + std::string(64, 'e')}, 77834560),
      MakeImage(kPauseId, {"registry.k8s.io/pause:3.9"}, {}, 321000),
  };
}

TEST(TetherctlImages, SortAndFilter) {
  auto images = SampleImages();
  SortImages(images);
  // busybox has no tag: it is ordered by its digest against nginx's, by id against pause's.
  ASSERT_EQ(images.size(), 3u);
  EXPECT_EQ(images[0].id(), kBusyboxId);
  EXPECT_EQ(images[1].id(), kNginxId);
  EXPECT_EQ(images[2].id(), kPauseId);

  auto dangling = FilterImages(images, {"dangling=true"});
  ASSERT_TRUE(dangling.ok());
  ASSERT_EQ(dangling->size(), 1u);
  EXPECT_EQ((*dangling)[0].id(), kBusyboxId);
  EXPECT_EQ(FilterImages(images, {"dangling=false"})->size(), 2u);
  auto reference = FilterImages(images, {"reference=nginx"});
  ASSERT_TRUE(reference.ok());
  ASSERT_EQ(reference->size(), 1u);
  EXPECT_EQ((*reference)[0].id(), kNginxId);
  // since= keeps what comes before the match in the list, before= what comes after it.
  auto since = FilterImages(images, {"since=docker.io/library/nginx:1.25"});
  ASSERT_EQ(since->size(), 1u);
  EXPECT_EQ((*since)[0].id(), kBusyboxId);
  auto before = FilterImages(images, {"before=docker.io/library/nginx:1.25"});
  ASSERT_EQ(before->size(), 1u);
  EXPECT_EQ((*before)[0].id(), kPauseId);
  auto by_id = FilterImages(images, {"since=sha256"});  // an id prefix (no ':')
  EXPECT_TRUE(by_id->empty());
  EXPECT_EQ(FilterImages(images, {"dangling=false", "since=registry.k8s.io/pause:3.9"})->size(),
            1u);
  EXPECT_FALSE(FilterImages(images, {"size=1"}).ok());
  EXPECT_FALSE(FilterImages(images, {"reference=("}).ok());
}

TEST(TetherctlImages, ImagesTable) {
  auto images = SampleImages();
  SortImages(images);
  const std::vector<size_t> w = {28, 20, 20};
  EXPECT_EQ(ImagesTable(images, {}),
            Row({"IMAGE", "TAG", "IMAGE ID", "SIZE"}, w) +
                Row({"docker.io/library/busybox", "<none>", "aaaaaaaaaaaaa", "4.26MB"}, w) +
                Row({"docker.io/library/nginx", "1.25", "0123456789abc", "77.8MB"}, w) +
                Row({"docker.io/library/nginx", "latest", "0123456789abc", "77.8MB"}, w) +
                Row({"registry.k8s.io/pause", "3.9", "ccccccccccccc", "321kB"}, w));

  EXPECT_EQ(ImagesTable(images, {.quiet = true}),
            kBusyboxId + "\n" + kNginxId + "\n" + kPauseId + "\n");

  const std::string digests = ImagesTable({images[1]}, {.digests = true, .pinned = true});
  EXPECT_EQ(digests,
            Row({"IMAGE", "TAG", "DIGEST", "IMAGE ID", "SIZE", "PINNED"}, {26, 20, 20, 20, 20}) +
                Row({"docker.io/library/nginx", "1.25", "eeeeeeeeeeeee", "0123456789abc", "77.8MB",
                     "false"},
                    {26, 20, 20, 20, 20}) +
                Row({"docker.io/library/nginx", "latest", "eeeeeeeeeeeee", "0123456789abc",
                     "77.8MB", "false"},
                    {26, 20, 20, 20, 20}));
  EXPECT_TRUE(absl::StrContains(ImagesTable({images[1]}, {.no_trunc = true}), kNginxId));

  auto verbose = images[2];
  verbose.mutable_uid()->set_value(0);
  verbose.set_username("nobody");
  verbose.set_pinned(true);
  EXPECT_EQ(ImagesTable({verbose}, {.verbose = true}),
            "ID: " + kPauseId +
                "\nRepoTags: registry.k8s.io/pause:3.9\nSize: 321000\n"
                "Uid: &Int64Value{Value:0,}\nUsername: nobody\nPinned: true\n\n");
}

TEST(TetherctlImages, StatusAndFsInfoTables) {
  runtime::v1::ImageStatusResponse status;
  *status.mutable_image() = SampleImages()[1];
  (*status.mutable_info())["info"] = "{}";
  EXPECT_EQ(ImageStatusTable(status, /*verbose=*/true),
            "ID: " + kNginxId +
                "\nTag: docker.io/library/nginx:1.25\nTag: docker.io/library/nginx:latest\n"
                "Digest: docker.io/library/nginx@sha256:" +
                std::string(64, 'e') + "\nSize: 77.8MB\nInfo: map[info:{}]\n");

  runtime::v1::ImageFsInfoResponse fs;
  auto* usage = fs.add_image_filesystems();
  usage->set_timestamp(kBaseNs);
  usage->mutable_fs_id()->set_mountpoint("/var/lib/tether/images");
  usage->mutable_used_bytes()->set_value(123456789);
  usage->mutable_inodes_used()->set_value(4242);
  EXPECT_EQ(ImageFsInfoTable(fs),
            "Container Filesystem \nImage Filesystem \nTimeStamp[0]: 1700000000000000000\n"
            "Disk[0]: 123.5MB\nInodes[0]: 4242\nMountpoint[0]: /var/lib/tether/images\n");
}

TEST(TetherctlImages, Credentials) {
  auto none = ParseAuth("", "");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto creds = ParseAuth("user:pa:ss", "");
  ASSERT_TRUE(creds.ok());
  EXPECT_EQ((*creds)->username(), "user");
  EXPECT_EQ((*creds)->password(), "pa:ss");
  EXPECT_EQ((*ParseAuth("user", ""))->password(), "");
  EXPECT_EQ((*ParseAuth("", "dXNlcjpwYXNz"))->auth(), "dXNlcjpwYXNz");
  EXPECT_FALSE(ParseAuth(":pass", "").ok());
  EXPECT_FALSE(ParseAuth("user:pass", "dXNlcjpwYXNz").ok());
}

// --- containers ------------------------------------------------------------------------------

TEST(TetherctlContainers, FilterRequest) {
  auto running = BuildContainerFilter({});
  ASSERT_TRUE(running.ok());
  EXPECT_TRUE(running->has_state());
  EXPECT_EQ(running->state().state(), runtime::v1::CONTAINER_RUNNING);

  auto all = BuildContainerFilter({.all = true});
  EXPECT_FALSE(all->has_state());

  auto exited = BuildContainerFilter({.id = "abc",
                                      .pod_id = "def",
                                      .state = "Exited",
                                      .labels = {"app=web", "tier=db"},
                                      .all = true});
  ASSERT_TRUE(exited.ok());
  EXPECT_EQ(exited->id(), "abc");
  EXPECT_EQ(exited->pod_sandbox_id(), "def");
  EXPECT_EQ(exited->state().state(), runtime::v1::CONTAINER_EXITED);
  EXPECT_EQ(exited->label_selector().size(), 2u);
  EXPECT_EQ(exited->label_selector().at("tier"), "db");

  // --latest and --last look at every state.
  EXPECT_FALSE(BuildContainerFilter({.latest = true})->has_state());
  EXPECT_FALSE(BuildContainerFilter({.state = "created", .last = 2})->has_state());

  EXPECT_EQ(*ParseContainerState("created"), runtime::v1::CONTAINER_CREATED);
  EXPECT_EQ(*ParseContainerState("UNKNOWN"), runtime::v1::CONTAINER_UNKNOWN);
  EXPECT_FALSE(BuildContainerFilter({.state = "sleeping"}).ok());
  EXPECT_FALSE(BuildContainerFilter({.labels = {"novalue"}}).ok());
}

runtime::v1::Container MakeContainer(const std::string& id, const std::string& name,
                                     const std::string& pod_id, int64_t created_ns,
                                     runtime::v1::ContainerState state,
                                     const std::string& image = "docker.io/library/nginx:1.25") {
  runtime::v1::Container c;
  c.set_id(id);
  c.set_pod_sandbox_id(pod_id);
  c.mutable_metadata()->set_name(name);
  c.mutable_image()->set_image(image);
  c.set_image_ref(image);
  c.set_state(state);
  c.set_created_at(created_ns);
  return c;
}

TEST(TetherctlContainers, PodNamesFilteringAndOrder) {
  const std::string pod1(64, '1'), pod2(64, '2');
  auto web =
      MakeContainer(std::string(64, 'a'), "web", pod1, kBaseNs, runtime::v1::CONTAINER_RUNNING);
  (*web.mutable_labels())[std::string(kPodNameLabel)] = "web-pod";
  (*web.mutable_labels())[std::string(kPodNamespaceLabel)] = "prod";
  auto db = MakeContainer(std::string(64, 'b'), "db", pod2, kBaseNs + kSecond,
                          runtime::v1::CONTAINER_EXITED);
  auto sidecar = MakeContainer(std::string(64, 'c'), "sidecar", "gone", kBaseNs - kSecond,
                               runtime::v1::CONTAINER_RUNNING);
  const PodRefs pods = {{pod2, {"db-pod", "default"}}};

  EXPECT_FALSE(NeedsPodRefs({web}));
  EXPECT_TRUE(NeedsPodRefs({web, db}));
  EXPECT_EQ(PodNameOf(web, pods), "web-pod");
  EXPECT_EQ(PodNameOf(db, pods), "db-pod");
  EXPECT_EQ(PodNamespaceOf(db, pods), "default");
  EXPECT_EQ(PodNameOf(sidecar, pods), "unknown");

  std::vector<runtime::v1::Container> all = {web, db, sidecar, runtime::v1::Container()};
  auto sorted = FilterContainers(all, {}, pods);
  ASSERT_EQ(sorted.size(), 3u);  // no metadata: dropped
  EXPECT_EQ(sorted[0].metadata().name(), "db");
  EXPECT_EQ(sorted[2].metadata().name(), "sidecar");
  EXPECT_EQ(FilterContainers(all, {.name_regex = "^(web|db)$"}, pods).size(), 2u);
  auto prod = FilterContainers(all, {.namespace_regex = "^prod$"}, pods);
  ASSERT_EQ(prod.size(), 1u);
  EXPECT_EQ(prod[0].metadata().name(), "web");
  EXPECT_EQ(FilterContainers(all, {.namespace_regex = "unknown"}, pods).size(), 1u);
  EXPECT_EQ(FilterContainers(all, {.latest = true}, pods)[0].metadata().name(), "db");
  EXPECT_EQ(FilterContainers(all, {.last = 2}, pods).size(), 2u);
}

TEST(TetherctlContainers, ImageColumn) {
  EXPECT_EQ(ContainerImageColumn(kNginxId, false), "0123456789abc");
  EXPECT_EQ(ContainerImageColumn(kNginxId, true), kNginxId);
  EXPECT_EQ(ContainerImageColumn("docker.io/library/nginx:1.25", false),
            "docker.io/library/nginx:1.25");
  EXPECT_EQ(ContainerImageColumn("sha256:abc", false), "sha256:abc");  // not a digest
  EXPECT_EQ(ContainerImageColumn("sha256:" + std::string(64, 'A'), false),
            "sha256:" + std::string(64, 'A'));
}

TEST(TetherctlContainers, PsTable) {
  const absl::Time now = absl::FromUnixSeconds(kBaseSeconds + 5);
  const std::string pod1 = "0123456789abcdef" + std::string(48, '0');
  auto web = MakeContainer("fedcba9876543210" + std::string(48, 'f'), "web", pod1, kBaseNs,
                           runtime::v1::CONTAINER_RUNNING, kNginxId);
  web.mutable_metadata()->set_attempt(2);
  (*web.mutable_labels())[std::string(kPodNameLabel)] = "web-pod";
  (*web.mutable_labels())[std::string(kPodNamespaceLabel)] = "prod";
  auto db = MakeContainer(std::string(64, 'b'), "db", pod1, kBaseNs - 120 * kSecond,
                          runtime::v1::CONTAINER_EXITED, "docker.io/library/postgres:16");
  const PodRefs pods = {{pod1, {"db-pod", "default"}}};

  const std::vector<size_t> w = {20, 32, 20, 20, 20, 20, 20, 20};
  EXPECT_EQ(ContainersTable({web, db}, {}, now, pods),
            Row({"CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD",
                 "NAMESPACE"},
                w) +
                Row({"fedcba9876543", "0123456789abc", "5 seconds ago", "Running", "web", "2",
                     "0123456789abc", "web-pod", "prod"},
                    w) +
                Row({"bbbbbbbbbbbbb", "docker.io/library/postgres:16", "2 minutes ago", "Exited",
                     "db", "0", "0123456789abc", "db-pod", "default"},
                    w));
  EXPECT_EQ(ContainersTable({web, db}, {.quiet = true}, now, pods),
            web.id() + "\n" + db.id() + "\n");
  const std::string no_trunc = ContainersTable({web}, {.no_trunc = true}, now, pods);
  EXPECT_TRUE(absl::StrContains(no_trunc, web.id() + "   " + kNginxId + "   ")) << no_trunc;
  EXPECT_TRUE(absl::StrContains(no_trunc, pod1)) << no_trunc;
  const std::string resolved =
      ContainersTable({web}, {}, now, pods, {{web.id(), "docker.io/library/nginx:1.25"}});
  EXPECT_TRUE(absl::StrContains(resolved, "   docker.io/library/nginx:1.25   ")) << resolved;

  EXPECT_EQ(ContainersTable({web}, {.verbose = true}, now, pods),
            "ID: " + web.id() + "\nPodID: " + pod1 +
                "\nNamespace: prod\nName: web\nAttempt: 2\nState: Running\nImage: " + kNginxId +
                "\nCreated: 5 seconds ago\nLabels:\n\tio.kubernetes.pod.name -> web-pod\n"
                "\tio.kubernetes.pod.namespace -> prod\n\n");
}

TEST(TetherctlContainers, StatusJsonAndTable) {
  runtime::v1::ContainerStatusResponse response;
  auto* s = response.mutable_status();
  s->set_id("abc");
  s->mutable_metadata()->set_name("web");
  s->set_state(runtime::v1::CONTAINER_RUNNING);
  s->set_created_at(kBaseNs);
  s->set_started_at(kBaseNs + kSecond + 500000000);
  s->set_log_path("/var/log/pods/x/web/0.log");
  (*s->mutable_labels())["app"] = "web";
  (*response.mutable_info())["info"] = R"({"pid": 4242})";

  auto v = ContainerStatusJson(*s, absl::UTCTimeZone());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ((*v)["createdAt"], "2023-11-14T22:13:20Z");
  EXPECT_EQ((*v)["startedAt"], "2023-11-14T22:13:21.5Z");
  EXPECT_EQ((*v)["finishedAt"], "0001-01-01T00:00:00Z");
  EXPECT_EQ((*v)["state"], "CONTAINER_RUNNING");
  EXPECT_EQ((*v)["exitCode"], 0);
  EXPECT_EQ((*v)["logPath"], "/var/log/pods/x/web/0.log");
  EXPECT_TRUE((*v)["image"].is_null());
  EXPECT_TRUE((*v)["resources"].is_null());
  EXPECT_TRUE((*v)["mounts"].is_array());

  auto created = *s;
  created.set_state(runtime::v1::CONTAINER_CREATED);
  EXPECT_EQ((*ContainerStatusJson(created, absl::UTCTimeZone()))["startedAt"],
            "0001-01-01T00:00:00Z");
  auto exited = *s;
  exited.set_state(runtime::v1::CONTAINER_EXITED);
  exited.set_finished_at(kBaseNs + 3 * kSecond);
  exited.set_exit_code(137);
  EXPECT_EQ((*ContainerStatusJson(exited, absl::UTCTimeZone()))["finishedAt"],
            "2023-11-14T22:13:23Z");

  const absl::Time now = absl::FromUnixSeconds(kBaseSeconds + 10);
  EXPECT_EQ(ContainerStatusTable(response, /*verbose=*/true, now),
            "ID: abc\nName: web\nState: CONTAINER_RUNNING\nCreated: 10 seconds ago\n"
            "Started: 8 seconds ago\nLabels:\n\tapp -> web\nInfo: map[info:{\"pid\": 4242}]\n");
  runtime::v1::ContainerStatusResponse exited_response;
  *exited_response.mutable_status() = exited;
  EXPECT_EQ(ContainerStatusTable(exited_response, /*verbose=*/false, now),
            "ID: abc\nName: web\nState: CONTAINER_EXITED\nCreated: 10 seconds ago\n"
            "Started: 8 seconds ago\nFinished: 7 seconds ago\nExit Code: 137\n"
            "Labels:\n\tapp -> web\n");
}

runtime::v1::ContainerStats MakeStats(const std::string& id, const std::string& name,
                                      int64_t timestamp, uint64_t cpu, uint64_t mem) {
  runtime::v1::ContainerStats s;
  s.mutable_attributes()->set_id(id);
  s.mutable_attributes()->mutable_metadata()->set_name(name);
  s.mutable_cpu()->set_timestamp(timestamp);
  s.mutable_cpu()->mutable_usage_core_nano_seconds()->set_value(cpu);
  s.mutable_memory()->mutable_working_set_bytes()->set_value(mem);
  s.mutable_writable_layer()->mutable_used_bytes()->set_value(8192);
  s.mutable_writable_layer()->mutable_inodes_used()->set_value(12);
  return s;
}

TEST(TetherctlContainers, StatsTables) {
  runtime::v1::ListContainerStatsResponse first, second;
  *first.add_stats() = MakeStats(std::string(64, 'a'), "busy", kBaseNs, 1000000000, 5000000);
  *first.add_stats() = MakeStats(std::string(64, 'b'), "idle", kBaseNs, 0, 0);
  *second.add_stats() =
      MakeStats(std::string(64, 'a'), "busy", kBaseNs + kSecond, 1250000000, 5242880);
  *second.add_stats() = MakeStats(std::string(64, 'b'), "idle", kBaseNs + kSecond, 0, 0);
  *second.add_stats() = MakeStats(std::string(64, 'c'), "new", kBaseNs + kSecond, 10, 10);
  const std::vector<size_t> w = {20, 20, 20, 20, 20, 20};
  auto table = ContainerStatsTable(first, second, /*all=*/false);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(*table,
            Row({"CONTAINER", "NAME", "CPU %", "MEM", "DISK", "INODES", "SWAP"}, w) +
                Row({"aaaaaaaaaaaaa", "busy", "25.00", "5.243MB", "8.192kB", "12", "0B"}, w));
  auto all = ContainerStatsTable(first, second, /*all=*/true);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(absl::StrContains(*all, "idle")) << *all;
  EXPECT_FALSE(absl::StrContains(*all, "new")) << *all;         // not in the first sample
  EXPECT_FALSE(ContainerStatsTable(first, first, false).ok());  // CPU time did not move

  runtime::v1::ListPodSandboxStatsResponse pods1, pods2;
  auto add_pod = [](runtime::v1::ListPodSandboxStatsResponse& r, int64_t ts, uint64_t cpu) {
    auto* p = r.add_stats();
    p->mutable_attributes()->set_id(std::string(64, 'd'));
    p->mutable_attributes()->mutable_metadata()->set_name("nginx");
    p->mutable_linux()->mutable_cpu()->set_timestamp(ts);
    p->mutable_linux()->mutable_cpu()->mutable_usage_core_nano_seconds()->set_value(cpu);
    p->mutable_linux()->mutable_memory()->mutable_working_set_bytes()->set_value(1500000);
  };
  add_pod(pods1, kBaseNs, 100);
  add_pod(pods2, kBaseNs + 2 * kSecond, 100 + kSecond);
  auto pod_table = PodStatsTable(pods1, pods2);
  ASSERT_TRUE(pod_table.ok());
  EXPECT_EQ(*pod_table, Row({"POD", "POD ID", "CPU %", "MEM"}, {20, 20, 20}) +
                            Row({"nginx", "ddddddddddddd", "50.00", "1.5MB"}, {20, 20, 20}));
}

// --- whole commands against a fake runtime and image service ----------------------------------

// What the fake services share.
struct FakeState {
  std::mutex mu;
  std::vector<runtime::v1::Image> images;
  std::map<std::string, runtime::v1::ContainerStatus> containers;
  std::map<std::string, std::string> container_pod;
  std::map<std::string, runtime::v1::PodSandbox> pods;
  std::vector<std::string> pulled;
  std::vector<std::string> removed_images;
  runtime::v1::ListContainersRequest last_list;
  runtime::v1::CreateContainerRequest last_create;
  runtime::v1::ExecSyncRequest last_exec;
  runtime::v1::UpdateContainerResourcesRequest last_update;
  int64_t last_stop_timeout = -1;
  int count = 0;

  // An image by id, id prefix (with or without "sha256:"), or tag.
  runtime::v1::Image* FindImage(const std::string& ref) {
    for (auto& image : images) {
      if (image.id() == ref || absl::StartsWith(image.id(), "sha256:" + ref)) return &image;
      for (const auto& tag : image.repo_tags()) {
        if (tag == ref) return &image;
      }
    }
    return nullptr;
  }
  runtime::v1::ContainerStatus* FindContainer(const std::string& prefix) {
    for (auto& [id, status] : containers) {
      if (!prefix.empty() && absl::StartsWith(id, prefix)) return &status;
    }
    return nullptr;
  }
  static grpc::Status NotFound(const std::string& what) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat(what, " not found"));
  }
};

class FakeImageService final : public runtime::v1::ImageService::Service {
 public:
  explicit FakeImageService(FakeState& state) : s_(state) {}

  grpc::Status ListImages(grpc::ServerContext*, const runtime::v1::ListImagesRequest* request,
                          runtime::v1::ListImagesResponse* response) override {
    std::lock_guard lock(s_.mu);
    for (const auto& image : s_.images) {
      const std::string& name = request->filter().image().image();
      if (!name.empty() && s_.FindImage(name) != &image) continue;
      *response->add_images() = image;
    }
    return grpc::Status::OK;
  }

  grpc::Status ImageStatus(grpc::ServerContext*, const runtime::v1::ImageStatusRequest* request,
                           runtime::v1::ImageStatusResponse* response) override {
    std::lock_guard lock(s_.mu);
    if (auto* image = s_.FindImage(request->image().image())) {
      *response->mutable_image() = *image;
      if (request->verbose()) (*response->mutable_info())["info"] = R"({"chainID": "sha256:x"})";
    }
    return grpc::Status::OK;
  }

  grpc::Status PullImage(grpc::ServerContext*, const runtime::v1::PullImageRequest* request,
                         runtime::v1::PullImageResponse* response) override {
    std::lock_guard lock(s_.mu);
    const std::string& name = request->image().image();
    if (name == "nosuch:image") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "manifest unknown");
    }
    s_.pulled.push_back(
        absl::StrCat(name, request->has_auth() ? " auth=" : "", request->auth().username()));
    auto* image = s_.FindImage(name);
    if (image == nullptr) {
      s_.images.push_back(MakeImage(
          "sha256:" + std::string(64, "0123456789abcdef"[++s_.count % 16]), {name}, {}, 1000));
      image = &s_.images.back();
    }
    response->set_image_ref(image->id());
    return grpc::Status::OK;
  }

  grpc::Status RemoveImage(grpc::ServerContext*, const runtime::v1::RemoveImageRequest* request,
                           runtime::v1::RemoveImageResponse*) override {
    std::lock_guard lock(s_.mu);
    auto* image = s_.FindImage(request->image().image());
    if (image == nullptr) return FakeState::NotFound(request->image().image());
    s_.removed_images.push_back(image->id());
    std::erase_if(s_.images, [&](const auto& i) { return &i == image; });
    return grpc::Status::OK;
  }

  grpc::Status ImageFsInfo(grpc::ServerContext*, const runtime::v1::ImageFsInfoRequest*,
                           runtime::v1::ImageFsInfoResponse* response) override {
    auto* fs = response->add_image_filesystems();
    fs->set_timestamp(kBaseNs);
    fs->mutable_fs_id()->set_mountpoint("/var/lib/tether");
    fs->mutable_used_bytes()->set_value(2048);
    fs->mutable_inodes_used()->set_value(7);
    return grpc::Status::OK;
  }

 private:
  FakeState& s_;
};

class FakeRuntimeService final : public runtime::v1::RuntimeService::Service {
 public:
  explicit FakeRuntimeService(FakeState& state) : s_(state) {}

  grpc::Status ListPodSandbox(grpc::ServerContext*, const runtime::v1::ListPodSandboxRequest*,
                              runtime::v1::ListPodSandboxResponse* response) override {
    std::lock_guard lock(s_.mu);
    for (const auto& [id, pod] : s_.pods) *response->add_items() = pod;
    return grpc::Status::OK;
  }

  grpc::Status CreateContainer(grpc::ServerContext*,
                               const runtime::v1::CreateContainerRequest* request,
                               runtime::v1::CreateContainerResponse* response) override {
    std::lock_guard lock(s_.mu);
    if (!s_.pods.contains(request->pod_sandbox_id())) {
      return FakeState::NotFound("pod sandbox " + request->pod_sandbox_id());
    }
    if (s_.FindImage(request->config().image().image()) == nullptr) {
      return FakeState::NotFound("image " + request->config().image().image());
    }
    s_.last_create = *request;
    const std::string id(64, "0123456789abcdef"[++s_.count % 16]);
    runtime::v1::ContainerStatus& c = s_.containers[id];
    c.set_id(id);
    *c.mutable_metadata() = request->config().metadata();
    *c.mutable_image() = request->config().image();
    c.set_image_ref(s_.FindImage(request->config().image().image())->id());
    c.set_state(runtime::v1::CONTAINER_CREATED);
    c.set_created_at(kBaseNs + s_.count * kSecond);
    *c.mutable_labels() = request->config().labels();
    if (!request->config().log_path().empty()) {
      c.set_log_path(request->sandbox_config().log_directory() + "/" +
                     request->config().log_path());
    }
    s_.container_pod[id] = request->pod_sandbox_id();
    response->set_container_id(id);
    return grpc::Status::OK;
  }

  grpc::Status StartContainer(grpc::ServerContext*,
                              const runtime::v1::StartContainerRequest* request,
                              runtime::v1::StartContainerResponse*) override {
    std::lock_guard lock(s_.mu);
    auto* c = s_.FindContainer(request->container_id());
    if (c == nullptr) return FakeState::NotFound("container " + request->container_id());
    c->set_state(runtime::v1::CONTAINER_RUNNING);
    c->set_started_at(c->created_at() + kSecond);
    return grpc::Status::OK;
  }

  grpc::Status StopContainer(grpc::ServerContext*, const runtime::v1::StopContainerRequest* request,
                             runtime::v1::StopContainerResponse*) override {
    std::lock_guard lock(s_.mu);
    auto* c = s_.FindContainer(request->container_id());
    if (c == nullptr) return FakeState::NotFound("container " + request->container_id());
    s_.last_stop_timeout = request->timeout();
    c->set_state(runtime::v1::CONTAINER_EXITED);
    c->set_finished_at(c->started_at() + kSecond);
    c->set_exit_code(137);
    return grpc::Status::OK;
  }

  grpc::Status RemoveContainer(grpc::ServerContext*,
                               const runtime::v1::RemoveContainerRequest* request,
                               runtime::v1::RemoveContainerResponse*) override {
    std::lock_guard lock(s_.mu);
    if (auto* c = s_.FindContainer(request->container_id())) s_.containers.erase(c->id());
    return grpc::Status::OK;
  }

  grpc::Status ListContainers(grpc::ServerContext*,
                              const runtime::v1::ListContainersRequest* request,
                              runtime::v1::ListContainersResponse* response) override {
    std::lock_guard lock(s_.mu);
    s_.last_list = *request;
    const auto& f = request->filter();
    for (const auto& [id, status] : s_.containers) {
      if (!f.id().empty() && !absl::StartsWith(id, f.id())) continue;
      if (f.has_state() && f.state().state() != status.state()) continue;
      if (!f.pod_sandbox_id().empty() && s_.container_pod[id] != f.pod_sandbox_id()) continue;
      bool labels_match = true;
      for (const auto& [k, v] : f.label_selector()) {
        auto it = status.labels().find(k);
        labels_match = labels_match && it != status.labels().end() && it->second == v;
      }
      if (!labels_match) continue;
      auto* c = response->add_containers();
      c->set_id(id);
      c->set_pod_sandbox_id(s_.container_pod[id]);
      *c->mutable_metadata() = status.metadata();
      *c->mutable_image() = status.image();
      c->set_image_ref(status.image_ref());
      c->set_state(status.state());
      c->set_created_at(status.created_at());
      *c->mutable_labels() = status.labels();
    }
    return grpc::Status::OK;
  }

  grpc::Status ContainerStatus(grpc::ServerContext*,
                               const runtime::v1::ContainerStatusRequest* request,
                               runtime::v1::ContainerStatusResponse* response) override {
    std::lock_guard lock(s_.mu);
    auto* c = s_.FindContainer(request->container_id());
    if (c == nullptr) return FakeState::NotFound("container " + request->container_id());
    *response->mutable_status() = *c;
    if (request->verbose()) (*response->mutable_info())["info"] = R"({"pid": 4242})";
    return grpc::Status::OK;
  }

  grpc::Status UpdateContainerResources(grpc::ServerContext*,
                                        const runtime::v1::UpdateContainerResourcesRequest* request,
                                        runtime::v1::UpdateContainerResourcesResponse*) override {
    std::lock_guard lock(s_.mu);
    if (s_.FindContainer(request->container_id()) == nullptr) {
      return FakeState::NotFound("container " + request->container_id());
    }
    s_.last_update = *request;
    return grpc::Status::OK;
  }

  grpc::Status ExecSync(grpc::ServerContext*, const runtime::v1::ExecSyncRequest* request,
                        runtime::v1::ExecSyncResponse* response) override {
    std::lock_guard lock(s_.mu);
    auto* c = s_.FindContainer(request->container_id());
    if (c == nullptr) return FakeState::NotFound("container " + request->container_id());
    s_.last_exec = *request;
    if (request->cmd(0) == "false") {
      response->set_stderr("it failed\n");
      response->set_exit_code(3);
      return grpc::Status::OK;
    }
    response->set_stdout(absl::StrCat(absl::StrJoin(request->cmd(), " "), "\n"));
    return grpc::Status::OK;
  }

  // ListContainerStats, ListPodSandboxStats, ...: the base class answers UNIMPLEMENTED.

 private:
  FakeState& s_;
};

class TetherctlContainerCommands : public testing::Test {
 protected:
  void SetUp() override {
    endpoint_ = absl::StrCat("unix://", dir_.File("cri.sock"));
    grpc::ServerBuilder builder;
    builder.AddListeningPort(endpoint_, grpc::InsecureServerCredentials());
    builder.RegisterService(&runtime_);
    builder.RegisterService(&images_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    // A ready pod, as runp would have made it.
    runtime::v1::PodSandbox& pod = state_.pods[kPodId];
    pod.set_id(kPodId);
    pod.mutable_metadata()->set_name("nginx-sandbox");
    pod.mutable_metadata()->set_namespace_("default");
    pod.set_state(runtime::v1::SANDBOX_READY);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  CliResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"tetherctl", "--runtime-endpoint", endpoint_});
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    std::ostringstream out, err;
    const int code = RunCli(static_cast<int>(argv.size()), argv.data(), out, err,
                            absl::FromUnixSeconds(kBaseSeconds + 100), absl::UTCTimeZone());
    return {code, out.str(), err.str()};
  }

  std::string WriteFile(const std::string& name, const std::string& content) {
    const std::string path = dir_.File(name);
    std::ofstream(path) << content;
    return path;
  }

  std::string PodConfig() {
    return WriteFile("pod.yaml", absl::StrCat("metadata:\n  name: nginx-sandbox\n"
                                              "  namespace: default\n  uid: u1\n"
                                              "log_directory: ",
                                              dir_.path().string(), "\n"));
  }

  std::string ContainerConfig(const std::string& name, const std::string& image) {
    return WriteFile(name + ".json",
                     absl::StrCat(R"({"metadata": {"name": ")", name, R"("}, "image": {"image": ")",
                                  image, R"("}, "log_path": ")", name,
                                  R"(.log", "labels": {"app": ")", name, R"("}})"));
  }

  // create + start; returns the id.
  std::string StartContainer(const std::string& name, const std::string& image) {
    CliResult created = Run({"create", kPodId, ContainerConfig(name, image), PodConfig()});
    EXPECT_EQ(created.code, 0) << created.err;
    const std::string id(absl::StripSuffix(created.out, "\n"));
    CliResult started = Run({"start", id});
    EXPECT_EQ(started.code, 0) << started.err;
    EXPECT_EQ(started.out, id + "\n");
    return id;
  }

  const std::string kPodId = std::string(64, 'p');
  TempDir dir_;
  std::string endpoint_;
  FakeState state_;
  FakeRuntimeService runtime_{state_};
  FakeImageService images_{state_};
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(TetherctlContainerCommands, PullImagesInspectiRmi) {
  CliResult pulled = Run({"pull", "--creds", "me:secret", "docker.io/library/nginx:1.25"});
  ASSERT_EQ(pulled.code, 0) << pulled.err;
  ASSERT_EQ(state_.images.size(), 1u);
  const std::string id = state_.images[0].id();
  EXPECT_EQ(pulled.out, "Image is up to date for " + id + "\n");
  EXPECT_EQ(state_.pulled, std::vector<std::string>{"docker.io/library/nginx:1.25 auth=me"});

  CliResult failed = Run({"pull", "nosuch:image"});
  EXPECT_EQ(failed.code, 1);
  EXPECT_EQ(failed.err,
            "tetherctl: pulling image: rpc error: code = NotFound desc = manifest unknown\n");
  EXPECT_EQ(Run({"pull", "--creds", "a:b", "--auth", "x", "img"}).code, 1);

  CliResult images = Run({"images"});
  ASSERT_EQ(images.code, 0) << images.err;
  EXPECT_EQ(
      images.out,
      Row({"IMAGE", "TAG", "IMAGE ID", "SIZE"}, {26, 20, 20}) +
          Row({"docker.io/library/nginx", "1.25", TruncateId(id, "sha256:"), "1kB"}, {26, 20, 20}));
  EXPECT_EQ(Run({"img", "-q"}).out, id + "\n");
  EXPECT_EQ(json::parse(Run({"images", "-o", "json"}).out)["images"][0]["size"], "1000");
  EXPECT_EQ(Run({"images", "-q", "busybox"}).out, "");

  CliResult inspecti = Run({"inspecti", "docker.io/library/nginx:1.25"});
  ASSERT_EQ(inspecti.code, 0) << inspecti.err;
  const json v = json::parse(inspecti.out);
  EXPECT_EQ(v["status"]["id"], id);
  EXPECT_EQ(v["info"]["chainID"], "sha256:x");
  CliResult missing = Run({"inspecti", "busybox"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.err, "tetherctl: no such image \"busybox\" present\n");

  CliResult fs = Run({"imagefsinfo"});
  ASSERT_EQ(fs.code, 0) << fs.err;
  EXPECT_EQ(json::parse(fs.out)["status"]["imageFilesystems"][0]["fsId"]["mountpoint"],
            "/var/lib/tether");

  CliResult rmi = Run({"rmi", id.substr(7, 12)});
  ASSERT_EQ(rmi.code, 0) << rmi.err;
  EXPECT_EQ(rmi.out, "Deleted: docker.io/library/nginx:1.25\n");
  EXPECT_TRUE(state_.images.empty());
  CliResult rmi_missing = Run({"rmi", "nginx"});
  EXPECT_EQ(rmi_missing.code, 1);
  EXPECT_EQ(rmi_missing.err, "tetherctl: no such image nginx\n");
}

TEST_F(TetherctlContainerCommands, RmiPruneKeepsImagesInUseAndPinned) {
  state_.images = SampleImages();
  state_.images[2].set_pinned(true);  // pause
  const std::string id = StartContainer("web", "docker.io/library/nginx:1.25");
  CliResult pruned = Run({"rmi", "--prune"});
  ASSERT_EQ(pruned.code, 0) << pruned.err;
  // busybox has no tags: its digest stands for it.
  EXPECT_EQ(pruned.out, "Deleted: docker.io/library/busybox@sha256:" + std::string(64, 'b') + "\n");
  EXPECT_EQ(state_.removed_images, std::vector<std::string>{kBusyboxId});
  CliResult nothing = Run({"rmi", "-q"});
  EXPECT_EQ(nothing.code, 0);
  EXPECT_EQ(nothing.err, "No images to remove\n");
  CliResult all = Run({"rmi", "-a"});
  EXPECT_EQ(all.code, 0) << all.err;
  EXPECT_EQ(all.out,
            "Deleted: docker.io/library/nginx:1.25\nDeleted: docker.io/library/nginx:latest\n"
            "Deleted: registry.k8s.io/pause:3.9\n");
}

TEST_F(TetherctlContainerCommands, CreatePullsOnlyWhatIsMissing) {
  const std::string pod = PodConfig();
  CliResult created = Run({"create", kPodId, ContainerConfig("web", "busybox:latest"), pod});
  ASSERT_EQ(created.code, 0) << created.err;
  EXPECT_EQ(state_.pulled, std::vector<std::string>{"busybox:latest"});
  EXPECT_EQ(created.out.size(), 65u);
  const auto& request = state_.last_create;
  EXPECT_EQ(request.pod_sandbox_id(), kPodId);
  EXPECT_EQ(request.config().metadata().name(), "web");
  EXPECT_EQ(request.config().image().user_specified_image(), "busybox:latest");
  EXPECT_EQ(request.sandbox_config().metadata().uid(), "u1");

  // Present: no pull; --with-pull pulls anyway; --no-pull never.
  ASSERT_EQ(Run({"create", kPodId, ContainerConfig("web2", "busybox:latest"), pod}).code, 0);
  EXPECT_EQ(state_.pulled.size(), 1u);
  ASSERT_EQ(
      Run({"create", "--with-pull", kPodId, ContainerConfig("web3", "busybox:latest"), pod}).code,
      0);
  EXPECT_EQ(state_.pulled.size(), 2u);
  CliResult no_pull = Run({"create", "--no-pull", kPodId, ContainerConfig("db", "postgres"), pod});
  EXPECT_EQ(no_pull.code, 1);
  EXPECT_EQ(state_.pulled.size(), 2u);
  EXPECT_TRUE(absl::StrContains(no_pull.err, "creating container: rpc error: code = NotFound"))
      << no_pull.err;
  EXPECT_EQ(
      Run({"create", "--no-pull", "--with-pull", kPodId, ContainerConfig("x", "y"), pod}).code, 1);

  CliResult bad =
      Run({"create", kPodId, WriteFile("bad.json", R"({"image": {"image": "x"}})"), pod});
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.err, "tetherctl: metadata is not set\n");
  EXPECT_EQ(Run({"create", kPodId, ContainerConfig("z", "busybox:latest")}).code, 1);
}

TEST_F(TetherctlContainerCommands, ContainerLifecycle) {
  state_.images = SampleImages();
  const std::string web = StartContainer("web", "docker.io/library/nginx:1.25");
  CliResult created =
      Run({"create", kPodId, ContainerConfig("db", "registry.k8s.io/pause:3.9"), PodConfig()});
  ASSERT_EQ(created.code, 0) << created.err;
  const std::string db(absl::StripSuffix(created.out, "\n"));

  // Running containers only, unless -a; the pod name comes from the pod (no kubelet labels).
  CliResult ps = Run({"ps"});
  ASSERT_EQ(ps.code, 0) << ps.err;
  EXPECT_EQ(state_.last_list.filter().state().state(), runtime::v1::CONTAINER_RUNNING);
  const std::vector<size_t> w = {20, 31, 21, 20, 20, 20, 20, 20};
  EXPECT_EQ(ps.out,
            Row({"CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD",
                 "NAMESPACE"},
                w) +
                Row({web.substr(0, 13), "docker.io/library/nginx:1.25", "About a minute ago",
                     "Running", "web", "0", kPodId.substr(0, 13), "nginx-sandbox", "default"},
                    w));
  EXPECT_EQ(Run({"ps", "-aq"}).out, db + "\n" + web + "\n");  // newest first
  EXPECT_FALSE(state_.last_list.filter().has_state());
  EXPECT_EQ(Run({"ps", "-q", "--state", "created"}).out, db + "\n");
  EXPECT_EQ(Run({"ps", "-q", "-a", "--label", "app=web"}).out, web + "\n");
  EXPECT_EQ(state_.last_list.filter().label_selector().at("app"), "web");
  EXPECT_EQ(Run({"ps", "-q", "-a", "--name", "^d"}).out, db + "\n");
  EXPECT_EQ(Run({"ps", "-q", "--latest"}).out, db + "\n");
  EXPECT_EQ(Run({"ps", "-q", "-a", "--pod", kPodId}).out, db + "\n" + web + "\n");
  EXPECT_EQ(Run({"ps", "-q", "-a", "--image", kNginxId.substr(7, 10)}).out, web + "\n");
  EXPECT_EQ(Run({"ps", "-q", "-a", "--namespace", "other"}).out, "");
  EXPECT_EQ(Run({"ps", "--state", "sleeping"}).code, 1);
  EXPECT_EQ(json::parse(Run({"ps", "-a", "-o", "json"}).out)["containers"].size(), 2u);
  const std::string resolved = Run({"ps", "-r"}).out;
  EXPECT_TRUE(absl::StrContains(resolved, "docker.io/library/nginx:1.25")) << resolved;

  CliResult inspect = Run({"inspect", web.substr(0, 6)});
  ASSERT_EQ(inspect.code, 0) << inspect.err;
  const json v = json::parse(inspect.out);
  EXPECT_EQ(v["info"]["pid"], 4242);
  EXPECT_EQ(v["status"]["id"], web);
  EXPECT_EQ(v["status"]["state"], "CONTAINER_RUNNING");
  EXPECT_EQ(v["status"]["finishedAt"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(json::parse(Run({"inspect", web, db}).out).size(), 2u);
  EXPECT_EQ(json::parse(Run({"inspect", "--name", "web"}).out)["status"]["id"], web);
  EXPECT_TRUE(absl::StartsWith(Run({"inspect", "-o", "table", db}).out,
                               "ID: " + db + "\nName: db\nState: CONTAINER_CREATED\n"));
  EXPECT_TRUE(absl::StartsWith(Run({"inspect", "-o", "yaml", "-q", db}).out, "status:\n"));
  CliResult inspect_missing = Run({"inspect", "nope"});
  EXPECT_EQ(inspect_missing.code, 1);
  EXPECT_TRUE(absl::StrContains(inspect_missing.err,
                                "get the status of containers: get container status: rpc error: "
                                "code = NotFound"))
      << inspect_missing.err;

  CliResult update =
      Run({"update", "--memory", "1048576", "--cpu-quota", "50000", "--cpuset-cpus", "0-1", web});
  ASSERT_EQ(update.code, 0) << update.err;
  EXPECT_EQ(update.out, web + "\n");
  EXPECT_EQ(state_.last_update.linux().memory_limit_in_bytes(), 1048576);
  EXPECT_EQ(state_.last_update.linux().cpu_quota(), 50000);
  EXPECT_EQ(state_.last_update.linux().cpuset_cpus(), "0-1");

  // rm refuses a running container without -f; -f stops it first (its id printed twice).
  CliResult refused = Run({"rm", web});
  EXPECT_EQ(refused.code, 1);
  EXPECT_EQ(refused.err, "tetherctl: container \"" + web + "\" is running, please stop it first\n");
  CliResult stopped = Run({"stop", "-t", "5", web});
  EXPECT_EQ(stopped.code, 0) << stopped.err;
  EXPECT_EQ(stopped.out, web + "\n");
  EXPECT_EQ(state_.last_stop_timeout, 5);
  EXPECT_EQ(Run({"start", web}).code, 0);
  Append(dir_.File("web.log"), "2023-11-14T22:13:20Z stdout F x\n");
  Append(dir_.File("web.log.1"), "old\n");
  CliResult forced = Run({"rm", "-f", web, "nope"});
  EXPECT_EQ(forced.code, 1);
  EXPECT_EQ(forced.out, web + "\n" + web + "\n");
  EXPECT_EQ(state_.last_stop_timeout, 0);
  EXPECT_TRUE(absl::StrContains(forced.err, "getting container status \"nope\"")) << forced.err;
  EXPECT_FALSE(std::filesystem::exists(dir_.File("web.log")));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("web.log.1")));
  Append(dir_.File("db.log"), "2023-11-14T22:13:20Z stdout F x\n");
  CliResult all = Run({"rm", "-a", "--keep-logs"});
  EXPECT_EQ(all.code, 0) << all.err;
  EXPECT_EQ(all.out, db + "\n");
  EXPECT_TRUE(std::filesystem::exists(dir_.File("db.log")));
  EXPECT_EQ(Run({"rm", "-a"}).err, "No containers to remove\n");
  EXPECT_EQ(Run({"start"}).err, "tetherctl: ID cannot be empty\n");
}

TEST_F(TetherctlContainerCommands, Logs) {
  state_.images = SampleImages();
  const std::string id = StartContainer("web", "docker.io/library/nginx:1.25");
  Append(dir_.File("web.log"), kLog);

  CliResult logs = Run({"logs", id});
  ASSERT_EQ(logs.code, 0) << logs.err;
  EXPECT_EQ(logs.out, "hello\n\nlast\n");
  EXPECT_EQ(logs.err, "part one and two\n");
  EXPECT_EQ(Run({"logs", "--tail", "1", id}).out, "last\n");
  EXPECT_EQ(Run({"logs", "--tail=1", "-t", id}).out, "2023-11-14T22:13:24.000000000Z last\n");
  EXPECT_EQ(Run({"logs", "--since", "2023-11-14T22:13:23Z", id}).out, "\nlast\n");
  EXPECT_EQ(Run({"logs", "--limit-bytes", "3", id}).out, "hel");

  // Following an exited container prints what there is and returns.
  ASSERT_EQ(Run({"stop", id}).code, 0);
  CliResult followed = Run({"logs", "-f", id});
  ASSERT_EQ(followed.code, 0) << followed.err;
  EXPECT_EQ(followed.out, "hello\n\nlast\n");

  CliResult previous = Run({"logs", "-p", id});
  EXPECT_EQ(previous.code, 1);
  EXPECT_TRUE(absl::StrContains(previous.err, "--previous is not supported")) << previous.err;
  EXPECT_EQ(Run({"logs", "--since", "yesterday", id}).code, 1);
  CliResult missing = Run({"logs", "nope"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_TRUE(absl::StrContains(missing.err, "code = NotFound")) << missing.err;
}

TEST_F(TetherctlContainerCommands, ExecSync) {
  state_.images = SampleImages();
  const std::string id = StartContainer("web", "docker.io/library/nginx:1.25");

  // Everything after the id is the command, its options included.
  CliResult ok = Run({"exec", "-s", id.substr(0, 8), "ls", "-l", "--all", "/"});
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(ok.out, "ls -l --all /\n");
  EXPECT_EQ(ok.err, "");
  EXPECT_EQ(state_.last_exec.timeout(), 0);
  CliResult dashes = Run({"exec", "--sync", "--timeout", "7", id, "--", "sh", "-c", "echo hi"});
  EXPECT_EQ(dashes.code, 0) << dashes.err;
  EXPECT_EQ(dashes.out, "sh -c echo hi\n");
  EXPECT_EQ(state_.last_exec.timeout(), 7);

  // The command's exit code and stderr are passed on.
  CliResult failed = Run({"exec", "-s", id, "false"});
  EXPECT_EQ(failed.code, 3);
  EXPECT_EQ(failed.out, "");
  EXPECT_EQ(failed.err, "it failed\n");

  CliResult streaming = Run({"exec", "-it", id, "sh"});
  EXPECT_EQ(streaming.code, 1);
  // Without -s, exec goes through the Exec RPC and the streaming server (the fake has neither).
  EXPECT_TRUE(absl::StrContains(streaming.err, "exec in container")) << streaming.err;
  EXPECT_EQ(Run({"exec", id, "ls"}).code, 1);
  EXPECT_EQ(Run({"exec", "-s", id}).code, 1);
  CliResult missing = Run({"exec", "-s", "nope", "ls"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_TRUE(absl::StrContains(missing.err,
                                "execing command in container nope synchronously: rpc error: "
                                "code = NotFound"))
      << missing.err;
}

TEST_F(TetherctlContainerCommands, StatsUnimplementedByTheRuntime) {
  CliResult stats = Run({"stats", "-s", "0"});
  EXPECT_EQ(stats.code, 1);
  EXPECT_TRUE(absl::StartsWith(stats.err,
                               "tetherctl: get container stats: rpc error: code = Unimplemented"))
      << stats.err;
  CliResult statsp = Run({"statsp", "-o", "json"});
  EXPECT_EQ(statsp.code, 1);
  EXPECT_TRUE(
      absl::StartsWith(statsp.err,
                       "tetherctl: get pod stats: list pod sandbox stats: rpc error: code = "
                       "Unimplemented"))
      << statsp.err;
}

}  // namespace
}  // namespace tether::ctl
