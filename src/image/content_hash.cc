#include "image/content_hash.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "util/fd.h"

namespace tether::content_hash {

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
  // Allocation failure or a missing sha256 in libcrypto cannot be handled meaningfully.
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) std::abort();
}

Sha256Stream::~Sha256Stream() { EVP_MD_CTX_free(ctx_); }

void Sha256Stream::Update(const void* data, size_t n) {
  if (n > 0) EVP_DigestUpdate(ctx_, data, n);
}

std::string Sha256Stream::HexDigest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

std::string DigestOf(const std::string& data) {
  Sha256Stream h;
  h.Update(data.data(), data.size());
  return h.Digest();
}

absl::StatusOr<std::string> DigestOfFile(const std::string& path) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    return absl::InternalError(absl::StrCat("open ", path, ": ", strerror(errno)));
  }
  Sha256Stream h;
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

bool ParseSha256(const std::string& digest, std::string* hex) {
  static constexpr char kPrefix[] = "sha256:";
  constexpr size_t kPrefixLen = sizeof(kPrefix) - 1;
  if (digest.size() != kPrefixLen + 64 || digest.compare(0, kPrefixLen, kPrefix) != 0) return false;
  for (size_t i = kPrefixLen; i < digest.size(); ++i) {
    char c = digest[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  if (hex != nullptr) *hex = digest.substr(kPrefixLen);
  return true;
}

}  // namespace tether::content_hash
