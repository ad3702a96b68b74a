// Content digests, the one SHA-256 API of tether: "sha256:<64 lowercase hex>" parsing and
// validation, a streaming SHA-256 (`Sha256`) and one-shot conveniences on top of it for a string
// (`Sha256Digest`) and a file (`Sha256FileDigest`). Used by the registry client, the content
// store, the unpacker and the snapshotter.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace tether {

inline constexpr char kSha256Algorithm[] = "sha256";

// A parsed digest. Only sha256 is supported (as every registry and image we deal with uses it).
struct Digest {
  std::string algorithm;  // "sha256"
  std::string hex;        // 64 lowercase hex characters
  std::string String() const { return algorithm + ":" + hex; }
};

// Parses "sha256:<64 lowercase hex>". INVALID_ARGUMENT naming the problem otherwise.
absl::StatusOr<Digest> ParseDigest(const std::string& digest);
// The same check, without the parts.
absl::Status ValidateDigest(const std::string& digest);

// Streaming SHA-256 over OpenSSL's EVP interface. Not thread-safe; move-only.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&& other) noexcept;
  Sha256& operator=(Sha256&& other) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t n);
  void Update(const std::string& data) { Update(data.data(), data.size()); }
  // Finishes the hash: 64 lowercase hex characters. Further Updates are ignored; repeated calls
  // return the same value.
  std::string HexDigest();
  // "sha256:" + HexDigest().
  std::string Digest() { return std::string(kSha256Algorithm) + ":" + HexDigest(); }

 private:
  EVP_MD_CTX* ctx_ = nullptr;
  std::string hex_;  // set once finished
};

// "sha256:<hex>" of `data`.
std::string Sha256Digest(const std::string& data);
// "sha256:<hex>" of the file's content. NOT_FOUND when it does not exist.
absl::StatusOr<std::string> Sha256FileDigest(const std::string& path);

}  // namespace tether
