// tetherctl import against an in-process fake tether.v1.TetherImages service: what is streamed
// (a file as it is, a directory packed as a tar), the first chunk's tags, the last chunk's eof,
// the output and the errors.
#include <archive.h>
#include <archive_entry.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>

#include "absl/strings/match.h"
#include "tether/v1/images.grpc.pb.h"
#include "tetherctl/cli.h"
#include "util/file.h"
#include "util/id.h"

namespace tether::ctl {
namespace {

namespace fs = std::filesystem;

class FakeTetherImages final : public v1::TetherImages::Service {
 public:
  grpc::Status Import(grpc::ServerContext*, grpc::ServerReader<v1::ImportChunk>* reader,
                      v1::ImportResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    data_.clear();
    tags_.clear();
    chunks_ = 0;
    eof_ = false;
    tags_in_later_chunks_ = false;
    v1::ImportChunk chunk;
    while (reader->Read(&chunk)) {
      if (chunks_ == 0) {
        tags_.assign(chunk.tags().begin(), chunk.tags().end());
      } else if (chunk.tags_size() > 0) {
        tags_in_later_chunks_ = true;
      }
      ++chunks_;
      data_ += chunk.data();
      eof_ = chunk.eof();
    }
    if (!error_.ok()) return error_;
    auto* image = response->add_images();
    image->set_id("sha256:" + std::string(64, 'a'));
    for (const auto& t : tags_) image->add_repo_tags(t);
    response->add_images()->set_id("sha256:" + std::string(64, 'b'));
    return grpc::Status::OK;
  }

  std::mutex mu_;
  std::string data_;
  std::vector<std::string> tags_;
  int chunks_ = 0;
  bool eof_ = false;
  bool tags_in_later_chunks_ = false;
  grpc::Status error_;
};

// name → content ("->target" for symlinks) of a tar.
std::map<std::string, std::string> TarEntries(const std::string& tar) {
  std::map<std::string, std::string> out;
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  archive_read_open_memory(a, tar.data(), tar.size());
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(e);
    if (archive_entry_filetype(e) == AE_IFLNK) {
      out[name] = std::string("->") + archive_entry_symlink(e);
      continue;
    }
    if (archive_entry_filetype(e) == AE_IFDIR) {
      out[name] = "<dir>";
      continue;
    }
    std::string data;
    char buf[4096];
    for (la_ssize_t n; (n = archive_read_data(a, buf, sizeof buf)) > 0;) data.append(buf, n);
    out[name] = data;
  }
  archive_read_free(a);
  return out;
}

class TetherctlImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tetherctl-import-" + NewId().substr(0, 12));
    fs::create_directories(dir_);
    socket_ = dir_ + "/fake.sock";
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix://" + socket_, grpc::InsecureServerCredentials());
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    server_->Shutdown();
    fs::remove_all(dir_);
  }
  int Run(std::vector<std::string> args) {
    std::vector<std::string> argv = {"tetherctl", "-r", "unix://" + socket_, "import"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<const char*> raw;
    for (const auto& a : argv) raw.push_back(a.c_str());
    out_.str("");
    err_.str("");
    return RunCli(static_cast<int>(raw.size()), raw.data(), out_, err_);
  }

  std::string dir_, socket_;
  FakeTetherImages service_;
  std::unique_ptr<grpc::Server> server_;
  std::ostringstream out_, err_;
};

TEST_F(TetherctlImportTest, StreamsAFileWithTagsFirstAndEofLast) {
  // Larger than one chunk, so that the stream has several.
  std::string data(3 * (1 << 20) + 123, 'x');
  for (size_t i = 0; i < data.size(); i += 4093) data[i] = static_cast<char>(i);
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/a.tar", data).ok());
  ASSERT_EQ(Run({dir_ + "/a.tar", "--tag", "example.com/a:1", "--tag", "b:2"}), 0) << err_.str();
  EXPECT_EQ(service_.data_, data);
  EXPECT_GE(service_.chunks_, 4);
  EXPECT_TRUE(service_.eof_);
  EXPECT_FALSE(service_.tags_in_later_chunks_);
  EXPECT_EQ(service_.tags_, (std::vector<std::string>{"example.com/a:1", "b:2"}));
  EXPECT_EQ(out_.str(), "Imported image sha256:" + std::string(64, 'a') +
                            ": example.com/a:1, b:2\nImported image sha256:" +
                            std::string(64, 'b') + " (untagged)\n");
  ASSERT_EQ(Run({dir_ + "/a.tar", "-q"}), 0) << err_.str();
  EXPECT_EQ(out_.str(),
            "sha256:" + std::string(64, 'a') + "\nsha256:" + std::string(64, 'b') + "\n");
}

TEST_F(TetherctlImportTest, PacksADirectoryAsATar) {
  std::string layout = dir_ + "/layout";
  fs::create_directories(layout + "/blobs/sha256");
  ASSERT_TRUE(WriteFileAtomic(layout + "/index.json", "{\"manifests\":[]}").ok());
  ASSERT_TRUE(WriteFileAtomic(layout + "/oci-layout", "{}").ok());
  ASSERT_TRUE(WriteFileAtomic(layout + "/blobs/sha256/abc", std::string(200000, 'z')).ok());
  fs::create_symlink("abc", layout + "/blobs/sha256/def");
  ASSERT_EQ(Run({layout}), 0) << err_.str();
  EXPECT_TRUE(service_.eof_);
  auto entries = TarEntries(service_.data_);
  EXPECT_EQ(entries["index.json"], "{\"manifests\":[]}");
  EXPECT_EQ(entries["oci-layout"], "{}");
  EXPECT_EQ(entries["blobs/sha256/abc"], std::string(200000, 'z'));
  EXPECT_EQ(entries["blobs/sha256/def"], "->abc");
  for (const auto& [name, content] : entries) {
    EXPECT_FALSE(absl::StartsWith(name, "/")) << name;
    EXPECT_FALSE(absl::StrContains(name, dir_)) << name;
  }
}

TEST_F(TetherctlImportTest, ErrorsAreReported) {
  service_.error_ =
      grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "archive: blob sha256:x is missing");
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/bad.tar", "junk").ok());
  EXPECT_EQ(Run({dir_ + "/bad.tar"}), 1);
  EXPECT_EQ(err_.str(),
            "tetherctl: importing image: rpc error: code = InvalidArgument desc = archive: blob "
            "sha256:x is missing\n");
  EXPECT_EQ(Run({dir_ + "/nothing-here.tar"}), 1);
  EXPECT_TRUE(absl::StrContains(err_.str(), "nothing-here.tar")) << err_.str();
  EXPECT_EQ(Run({}), 1);  // ARCHIVE is required
}

}  // namespace
}  // namespace tether::ctl
