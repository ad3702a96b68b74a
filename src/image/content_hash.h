// sha256 for the content store, the unpacker and the snapshotter: a small streaming wrapper over
// OpenSSL's EVP API, plus digest-string helpers ("sha256:<64 lowercase hex>").
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace tether::content_hash {

// Streaming sha256. Update() any number of times, then Digest() once.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;

  void Update(const void* data, size_t n);
  // Finishes the hash: 64 lowercase hex characters. Call it once.
  std::string HexDigest();
  // "sha256:" + HexDigest().
  std::string Digest() { return "sha256:" + HexDigest(); }

 private:
  EVP_MD_CTX* ctx_;
};

// "sha256:<hex>" of `data`.
std::string DigestOf(const std::string& data);

// "sha256:<hex>" of the file's content.
absl::StatusOr<std::string> DigestOfFile(const std::string& path);

// True for "sha256:" followed by exactly 64 lowercase hex characters. On success `hex` (when not
// null) receives the 64 characters.
bool ParseSha256(const std::string& digest, std::string* hex = nullptr);

}  // namespace tether::content_hash
