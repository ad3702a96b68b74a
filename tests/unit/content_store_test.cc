// ContentStore: blobs by digest, verified on commit, atomic, crash leftovers cleaned.
#include "image/content_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "image/digest.h"
#include "util/file.h"
#include "util/id.h"

namespace tether {
namespace {

class ContentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("tether-cs-" + NewId().substr(0, 12));
    store_ = std::make_unique<ContentStore>(root_);
    ASSERT_TRUE(store_->Init().ok());
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  size_t IngestCount() const {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e :
         std::filesystem::directory_iterator(root_ + "/content/ingest")) {
      ++n;
    }
    return n;
  }

  std::string root_;
  std::unique_ptr<ContentStore> store_;
};

TEST(ContentHashTest, KnownValuesAndParsing) {
  EXPECT_EQ(Sha256Digest(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Digest("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  absl::StatusOr<Digest> parsed = ParseDigest(Sha256Digest("x"));
  EXPECT_TRUE(parsed.ok());
  std::string hex = parsed.ok() ? parsed->hex : "";
  EXPECT_EQ(hex.size(), 64u);
  EXPECT_FALSE(ValidateDigest("sha256:abc").ok());
  EXPECT_FALSE(ValidateDigest("sha512:" + std::string(64, 'a')).ok());
  EXPECT_FALSE(ValidateDigest("sha256:" + std::string(64, 'A')).ok());
  EXPECT_FALSE(ValidateDigest("sha256:" + std::string(63, 'a') + "/").ok());
}

TEST_F(ContentStoreTest, WriteCommitReadListDelete) {
  std::string data = "hello, blob";
  std::string digest = Sha256Digest(data);
  EXPECT_FALSE(store_->Has(digest));
  auto w = store_->NewWriter(digest, static_cast<int64_t>(data.size()));
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Write(data.data(), 5).ok());
  ASSERT_TRUE((*w)->Write(data.data() + 5, data.size() - 5).ok());
  EXPECT_FALSE(store_->Has(digest));  // not visible before Commit
  ASSERT_TRUE((*w)->Commit().ok());
  EXPECT_TRUE(store_->Has(digest));
  EXPECT_EQ(store_->PathOf(digest),
            root_ + "/content/blobs/sha256/" + digest.substr(std::string("sha256:").size()));
  EXPECT_EQ(*store_->ReadBlob(digest, 1024), data);
  EXPECT_EQ(*store_->Size(digest), static_cast<int64_t>(data.size()));
  EXPECT_EQ(store_->ReadBlob(digest, 3).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*Sha256FileDigest(store_->PathOf(digest)), digest);

  std::string other = "second";
  ASSERT_TRUE(store_->Put(Sha256Digest(other), other).ok());
  auto list = store_->List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_TRUE(std::is_sorted(list.begin(), list.end()));

  ASSERT_TRUE(store_->Delete(digest).ok());
  EXPECT_FALSE(store_->Has(digest));
  EXPECT_TRUE(store_->Delete(digest).ok());  // missing is fine
  EXPECT_EQ(store_->Size(digest).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ReadBlob(digest, 1024).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(IngestCount(), 0u);
}

TEST_F(ContentStoreTest, DigestMismatchIsDataLossAndStoresNothing) {
  std::string digest = Sha256Digest("expected");
  auto w = store_->NewWriter(digest, -1);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write("tampered", 8).ok());
  auto st = (*w)->Commit();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(st.message()).find(digest), std::string::npos) << st;
  EXPECT_FALSE(store_->Has(digest));
  EXPECT_EQ(IngestCount(), 0u);
  EXPECT_FALSE((*w)->Write("x", 1).ok());  // the writer is dead
}

TEST_F(ContentStoreTest, SizeMismatchIsDataLoss) {
  std::string data = "12345";
  std::string digest = Sha256Digest(data);
  {
    auto w = store_->NewWriter(digest, 4);  // fewer bytes expected than sent
    ASSERT_TRUE(w.ok());
    EXPECT_EQ((*w)->Write(data.data(), data.size()).code(), absl::StatusCode::kDataLoss);
  }
  {
    auto w = store_->NewWriter(digest, 6);  // more expected than sent
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write(data.data(), data.size()).ok());
    EXPECT_EQ((*w)->Commit().code(), absl::StatusCode::kDataLoss);
  }
  EXPECT_FALSE(store_->Has(digest));
  EXPECT_EQ(IngestCount(), 0u);
}

TEST_F(ContentStoreTest, DestructorAndAbortDropTheTempFile) {
  std::string digest = Sha256Digest("abc");
  {
    auto w = store_->NewWriter(digest, 3);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write("ab", 2).ok());
    EXPECT_EQ(IngestCount(), 1u);
  }
  EXPECT_EQ(IngestCount(), 0u);
  auto w = store_->NewWriter(digest, 3);
  ASSERT_TRUE(w.ok());
  (*w)->Abort();
  (*w)->Abort();
  EXPECT_EQ(IngestCount(), 0u);
  EXPECT_FALSE(store_->Has(digest));
}

TEST_F(ContentStoreTest, BadDigestsAreRejected) {
  EXPECT_EQ(store_->NewWriter("sha256:nothex", 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->NewWriter("md5:" + std::string(32, 'a'), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->PathOf("sha256:../../etc/passwd"), "");
  EXPECT_FALSE(store_->Has("sha256:../../etc/passwd"));
  EXPECT_EQ(store_->Delete("garbage").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ContentStoreTest, ConcurrentWritersOfTheSameDigest) {
  std::string data(1 << 20, 'z');
  for (size_t i = 0; i < data.size(); i += 997) data[i] = static_cast<char>('a' + i % 26);
  std::string digest = Sha256Digest(data);
  constexpr int kWriters = 6;
  std::vector<absl::Status> results(kWriters);
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      auto w = store_->NewWriter(digest, static_cast<int64_t>(data.size()));
      if (!w.ok()) {
        results[t] = w.status();
        return;
      }
      for (size_t off = 0; off < data.size(); off += 4096) {
        auto st = (*w)->Write(data.data() + off, std::min<size_t>(4096, data.size() - off));
        if (!st.ok()) {
          results[t] = st;
          return;
        }
      }
      results[t] = (*w)->Commit();
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& st : results) EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(*store_->ReadBlob(digest, data.size()), data);
  EXPECT_EQ(store_->List().size(), 1u);
  EXPECT_EQ(IngestCount(), 0u);
}

TEST_F(ContentStoreTest, InitRemovesCrashLeftovers) {
  std::string digest = Sha256Digest("partial");
  auto w = store_->NewWriter(digest, 7);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write("par", 3).ok());
  ASSERT_TRUE(WriteFileAtomic(root_ + "/content/ingest/junk", "x").ok());
  ASSERT_TRUE(MakeDirs(root_ + "/content/ingest/junkdir/sub").ok());
  EXPECT_EQ(IngestCount(), 3u);
  // A restart: a new store on the same root.
  ContentStore again(root_);
  ASSERT_TRUE(again.Init().ok());
  EXPECT_EQ(IngestCount(), 0u);
  EXPECT_FALSE(again.Has(digest));
}

TEST_F(ContentStoreTest, ReadBlobDetectsCorruption) {
  std::string data = "{\"schemaVersion\":2}";
  std::string digest = Sha256Digest(data);
  ASSERT_TRUE(store_->Put(digest, data).ok());
  ASSERT_TRUE(WriteFileAtomic(store_->PathOf(digest), "{\"schemaVersion\":3}").ok());
  EXPECT_EQ(store_->ReadBlob(digest, 1024).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace tether
