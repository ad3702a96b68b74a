// Content store: blobs (manifests, configs, compressed layers) addressed by digest, shared by every
// image, under <root>/content/blobs/sha256/<hex>. Blobs enter only through a ContentWriter, which
// verifies size and digest before the blob becomes visible (atomic rename), so a blob that exists
// is always complete and correct. Only sha256 digests are accepted.
//
// Thread-safety: every method works on the filesystem only; a ContentStore can be shared by any
// number of threads. Concurrent writers of the same digest are fine: each verifies its own copy
// and the first rename wins, the others discard theirs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "image/digest.h"
#include "util/fd.h"

namespace tether {

class ContentWriter {
 public:
  ~ContentWriter();  // aborts when not committed
  ContentWriter(const ContentWriter&) = delete;
  ContentWriter& operator=(const ContentWriter&) = delete;

  // Appends `n` bytes. Writing past the expected size fails at once with DATA_LOSS (a server that
  // sends more than the descriptor says is not trusted further). After an error the writer is
  // dead: every later call fails and the temp file is gone.
  absl::Status Write(const char* data, size_t n);
  // Verifies size and sha256, fsyncs and renames the blob into place. A mismatch is DATA_LOSS
  // naming the digest, and nothing is stored. Committing a blob that already exists succeeds.
  absl::Status Commit();
  // Drops the temp file. Idempotent.
  void Abort();

  const std::string& expected_digest() const { return expected_digest_; }
  int64_t written() const { return written_; }

 private:
  friend class ContentStore;
  ContentWriter(std::string expected_digest, int64_t expected_size, std::string temp_path,
                std::string final_path, Fd fd);

  std::string expected_digest_;
  int64_t expected_size_;  // -1: unknown, only the digest is checked
  std::string temp_path_;
  std::string final_path_;
  Fd fd_;
  Sha256 hash_;
  int64_t written_ = 0;
  bool done_ = false;  // committed, aborted or failed
};

class ContentStore {
 public:
  // `root` is the daemon's root directory; blobs live under <root>/content.
  explicit ContentStore(std::string root);

  // Creates the directories and deletes leftovers of writers a crash interrupted.
  absl::Status Init();

  bool Has(const std::string& digest) const;
  // Where the blob lives (whether or not it exists); empty for a malformed digest.
  std::string PathOf(const std::string& digest) const;
  // Reads a small blob (manifest, index, config) and re-verifies its digest (DATA_LOSS when the
  // file on disk was corrupted). NOT_FOUND when missing; FAILED_PRECONDITION when larger than
  // `max_size`.
  absl::StatusOr<std::string> ReadBlob(const std::string& digest, size_t max_size) const;
  // A writer for a blob of the given digest; `expected_size` < 0 means unknown. INVALID_ARGUMENT
  // for a malformed digest.
  absl::StatusOr<std::unique_ptr<ContentWriter>> NewWriter(const std::string& expected_digest,
                                                           int64_t expected_size);
  // Convenience: a writer fed with `data` and committed.
  absl::Status Put(const std::string& expected_digest, const std::string& data);
  // Removes the blob; a missing blob is fine.
  absl::Status Delete(const std::string& digest);
  // Every stored digest ("sha256:<hex>"), sorted.
  std::vector<std::string> List() const;
  // The blob's size in bytes; NOT_FOUND when missing.
  absl::StatusOr<int64_t> Size(const std::string& digest) const;

  const std::string& root() const { return root_; }

 private:
  std::string BlobsDir() const { return root_ + "/content/blobs/sha256"; }
  std::string IngestDir() const { return root_ + "/content/ingest"; }

  std::string root_;
};

}  // namespace tether
