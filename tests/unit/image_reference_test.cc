// Image references (Docker/containerd normalization) and digests.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "image/digest.h"
#include "image/reference.h"

namespace tether {
namespace {

using ::testing::HasSubstr;

const std::string kHex(64, 'a');
const std::string kDigest = "sha256:" + kHex;

struct GoodCase {
  std::string in;
  std::string domain, path, tag, digest;
  std::string string;
};

class ReferenceGood : public ::testing::TestWithParam<GoodCase> {};

TEST_P(ReferenceGood, Parses) {
  const GoodCase& c = GetParam();
  absl::StatusOr<Reference> r = ParseReference(c.in);
  ASSERT_TRUE(r.ok()) << c.in << ": " << r.status();
  EXPECT_EQ(r->domain, c.domain) << c.in;
  EXPECT_EQ(r->path, c.path) << c.in;
  EXPECT_EQ(r->tag, c.tag) << c.in;
  EXPECT_EQ(r->digest, c.digest) << c.in;
  EXPECT_EQ(r->String(), c.string) << c.in;
  EXPECT_EQ(r->Name(), c.domain + "/" + c.path);
  // The normalized form parses to itself.
  absl::StatusOr<Reference> again = ParseReference(r->String());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *r);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ReferenceGood,
    ::testing::Values(
        GoodCase{"busybox", "docker.io", "library/busybox", "latest", "",
                 "docker.io/library/busybox:latest"},
        GoodCase{"busybox:1.36", "docker.io", "library/busybox", "1.36", "",
                 "docker.io/library/busybox:1.36"},
        GoodCase{"user/img", "docker.io", "user/img", "latest", "", "docker.io/user/img:latest"},
        GoodCase{"docker.io/busybox", "docker.io", "library/busybox", "latest", "",
                 "docker.io/library/busybox:latest"},
        GoodCase{"index.docker.io/user/img:v1", "docker.io", "user/img", "v1", "",
                 "docker.io/user/img:v1"},
        GoodCase{"registry.k8s.io/pause:3.9", "registry.k8s.io", "pause", "3.9", "",
                 "registry.k8s.io/pause:3.9"},
        GoodCase{"myreg:5000/team/app:v1.2-rc_3", "myreg:5000", "team/app", "v1.2-rc_3", "",
                 "myreg:5000/team/app:v1.2-rc_3"},
        GoodCase{"127.0.0.1:5000/x", "127.0.0.1:5000", "x", "latest", "",
                 "127.0.0.1:5000/x:latest"},
        GoodCase{"localhost/x", "localhost", "x", "latest", "", "localhost/x:latest"},
        GoodCase{"localhost:5000/a/b/c", "localhost:5000", "a/b/c", "latest", "",
                 "localhost:5000/a/b/c:latest"},
        GoodCase{"[::1]:5000/img:t", "[::1]:5000", "img", "t", "", "[::1]:5000/img:t"},
        GoodCase{"a.b-c.example.com/x__y/z-w.v/k---j", "a.b-c.example.com", "x__y/z-w.v/k---j",
                 "latest", "", "a.b-c.example.com/x__y/z-w.v/k---j:latest"},
        GoodCase{"busybox@" + kDigest, "docker.io", "library/busybox", "", kDigest,
                 "docker.io/library/busybox@" + kDigest},
        GoodCase{"busybox:1.36@" + kDigest, "docker.io", "library/busybox", "1.36", kDigest,
                 "docker.io/library/busybox:1.36@" + kDigest},
        GoodCase{"ghcr.io/o/r@" + kDigest, "ghcr.io", "o/r", "", kDigest, "ghcr.io/o/r@" + kDigest},
        // distribution/reference: a first component with uppercase is a domain.
        GoodCase{"MyHost/img", "MyHost", "img", "latest", "", "MyHost/img:latest"},
        // "localhost:5000" alone is docker.io/library/localhost with tag 5000, as in Docker.
        GoodCase{"localhost:5000", "docker.io", "library/localhost", "5000", "",
                 "docker.io/library/localhost:5000"}));

struct BadCase {
  std::string in;
  std::string why;  // a substring of the error message
};

class ReferenceBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(ReferenceBad, IsInvalidArgumentNamingTheProblem) {
  const BadCase& c = GetParam();
  absl::StatusOr<Reference> r = ParseReference(c.in);
  ASSERT_FALSE(r.ok()) << c.in << " parsed as " << r->String();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.in;
  EXPECT_THAT(r.status().message(), HasSubstr(c.why)) << c.in;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ReferenceBad,
    ::testing::Values(
        BadCase{"", "empty"}, BadCase{"Busybox", "lowercase"},
        BadCase{"docker.io/User/img", "lowercase"}, BadCase{"myreg:5000/Team/app", "lowercase"},
        BadCase{"busybox@sha256:abc", "64 lowercase hex"},
        BadCase{"busybox@sha256:" + std::string(64, 'A'), "64 lowercase hex"},
        BadCase{"busybox@md5:" + kHex, "unsupported algorithm"},
        BadCase{"busybox@", "empty digest"}, BadCase{"busybox:", "invalid tag"},
        BadCase{"busybox:-x", "invalid tag"},
        BadCase{"busybox:" + std::string(129, 'a'), "invalid tag"},
        BadCase{"busybox:a b", "invalid tag"}, BadCase{"a//b", "path component"},
        BadCase{"a/b/", "path component"}, BadCase{"-a/b", "path component"},
        BadCase{"a/_b", "path component"}, BadCase{"a/b..c", "path component"},
        BadCase{"a/b___c", "path component"}, BadCase{"my-.host:5000/x", "registry domain"},
        BadCase{"host:port/x", "registry domain"}, BadCase{"localhost/", "empty repository path"},
        BadCase{":tag", "empty repository name"}, BadCase{kHex, "image id"},
        BadCase{"example.com/" + std::string(250, 'a'), "255 characters"}));

TEST(Reference, IdentifierIsDigestElseTag) {
  auto r = ParseReference("busybox:1@" + kDigest);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Identifier(), kDigest);
  r = ParseReference("busybox");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Identifier(), "latest");
}

TEST(Digest, ValidatesSha256) {
  EXPECT_TRUE(ValidateDigest(kDigest).ok());
  absl::StatusOr<Digest> d = ParseDigest(kDigest);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->algorithm, "sha256");
  EXPECT_EQ(d->hex, kHex);
  EXPECT_EQ(d->String(), kDigest);
  for (const std::string& bad :
       {std::string(""), kHex, "sha256:" + kHex.substr(1), "sha256:" + kHex + "0",
        "sha256:" + std::string(63, 'a') + "g", "SHA256:" + kHex, "sha512:" + kHex, "sha256" + kHex,
        "sha256:" + std::string(63, 'a') + "A"}) {
    absl::Status s = ValidateDigest(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(Sha256, KnownVectorsAndStreaming) {
  EXPECT_EQ(Sha256Digest(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Digest("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::string big(1 << 20, 'x');
  Sha256 h;
  for (size_t i = 0; i < big.size(); i += 4093) {
    h.Update(big.data() + i, std::min<size_t>(4093, big.size() - i));
  }
  std::string hex = h.HexDigest();
  EXPECT_EQ("sha256:" + hex, Sha256Digest(big));
  EXPECT_EQ(h.HexDigest(), hex);  // repeatable
  h.Update("more");               // ignored once finished
  EXPECT_EQ(h.Digest(), "sha256:" + hex);
  Sha256 moved = std::move(h);
  EXPECT_EQ(moved.HexDigest(), hex);
}

}  // namespace
}  // namespace tether
