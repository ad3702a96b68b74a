#include "image/digest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "util/fd.h"

namespace tether {
namespace {

bool IsLowerHex(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<Digest> ParseDigest(const std::string& digest) {
  if (digest.empty()) return absl::InvalidArgumentError("digest is empty");
  size_t colon = digest.find(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid digest \"", digest, "\": want <algorithm>:<hex>"));
  }
  Digest d{digest.substr(0, colon), digest.substr(colon + 1)};
  if (d.algorithm != kSha256Algorithm) {
    return absl::InvalidArgumentError(absl::StrCat("invalid digest \"", digest,
                                                   "\": unsupported algorithm \"", d.algorithm,
                                                   "\" (only sha256 is supported)"));
  }
  if (d.hex.size() != 64 || !IsLowerHex(d.hex)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid digest \"", digest, "\": sha256 wants 64 lowercase hex characters"));
  }
  return d;
}

absl::Status ValidateDigest(const std::string& digest) { return ParseDigest(digest).status(); }

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  // Allocation failure or a missing sha256 in libcrypto cannot be handled meaningfully.
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) std::abort();
}

Sha256::~Sha256() {
  if (ctx_ != nullptr) EVP_MD_CTX_free(ctx_);
}

Sha256::Sha256(Sha256&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)), hex_(std::move(other.hex_)) {}

Sha256& Sha256::operator=(Sha256&& other) noexcept {
  if (this != &other) {
    if (ctx_ != nullptr) EVP_MD_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
    hex_ = std::move(other.hex_);
  }
  return *this;
}

void Sha256::Update(const void* data, size_t n) {
  if (ctx_ == nullptr || !hex_.empty() || n == 0) return;
  EVP_DigestUpdate(ctx_, data, n);
}

std::string Sha256::HexDigest() {
  if (!hex_.empty() || ctx_ == nullptr) return hex_;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_, md, &len) != 1) std::abort();
  static constexpr char kHex[] = "0123456789abcdef";
  hex_.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    hex_.push_back(kHex[md[i] >> 4]);
    hex_.push_back(kHex[md[i] & 0xf]);
  }
  return hex_;
}

std::string Sha256Digest(const std::string& data) {
  Sha256 h;
  h.Update(data);
  return h.Digest();
}

absl::StatusOr<std::string> Sha256FileDigest(const std::string& path) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    return absl::InternalError(absl::StrCat("open ", path, ": ", strerror(errno)));
  }
  Sha256 h;
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t r = read(fd.get(), buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return absl::InternalError(absl::StrCat("read ", path, ": ", strerror(errno)));
    if (r == 0) break;
    h.Update(buf.data(), static_cast<size_t>(r));
  }
  return h.Digest();
}

}  // namespace tether
