// A container's user and groups: the image's /etc/passwd and /etc/group, and containerd's rules
// for run_as_user / run_as_username / run_as_group / supplemental groups against them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "oci/spec_host.h"
#include "runtime/v1/api.pb.h"

namespace tether {

struct PasswdEntry {
  std::string name;
  int64_t uid = 0;
  int64_t gid = 0;
  std::string home;
};

struct GroupEntry {
  std::string name;
  int64_t gid = 0;
  std::vector<std::string> members;
};

// The image's user database. A std::nullopt list means the file is absent from the image.
struct PasswdInfo {
  std::optional<std::vector<PasswdEntry>> passwd;
  std::optional<std::vector<GroupEntry>> group;

  // Parses /etc/passwd and /etc/group text (nullopt: the file does not exist). Malformed lines
  // are skipped, as libcontainer/user does.
  static PasswdInfo Parse(const std::optional<std::string>& passwd_text,
                          const std::optional<std::string>& group_text);

  // First match, as getpwnam(3) would find it; nullptr when absent.
  const PasswdEntry* FindUserByName(const std::string& name) const;
  const PasswdEntry* FindUserById(int64_t uid) const;
  const GroupEntry* FindGroupByName(const std::string& name) const;
};

struct ResolvedUser {
  int64_t uid = 0;
  int64_t gid = 0;
  // Sorted and unique; always holds `gid` (containerd's ensureAdditionalGids).
  std::vector<int64_t> additional_gids;
};

// containerd's user rules:
// - the user string is run_as_username or run_as_user, with ":<run_as_group>" when that is set;
//   run_as_group without either is INVALID_ARGUMENT; without any of them the image's User;
// - "uid": gid from the uid's passwd entry, else 0; "name": from passwd, missing is an error;
//   "a:b": each part a number or a name looked up in passwd / group (missing is an error);
//   uids and gids must lie in [0, 2^31-1];
// - additional gids: the primary gid, plus (SupplementalGroupsPolicy Merge) every group in
//   /etc/group listing the user (run_as_username, else run_as_user's or the image user's
//   passwd name) as a member, plus supplemental_groups.
// Errors are INVALID_ARGUMENT and name the user.
absl::StatusOr<ResolvedUser> ResolveUser(const runtime::v1::LinuxContainerSecurityContext& sc,
                                         const std::string& image_user, const PasswdInfo& db);

// The image's user database from `root` (etc/passwd and etc/group, read through `host`); a file
// the image does not have is a nullopt list, any other read error is returned.
absl::StatusOr<PasswdInfo> ReadImageUsers(SpecHost& host, const std::string& root);

}  // namespace tether
