// The container's user and groups, resolved against the image's /etc/passwd and /etc/group.
#include "oci/spec_users.h"

#include <algorithm>
#include <climits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tether {
namespace {

namespace v1 = runtime::v1;

bool ParseId(absl::string_view s, int64_t* out) {
  s = absl::StripAsciiWhitespace(s);
  return !s.empty() && absl::SimpleAtoi(s, out);
}

// strconv.Atoi semantics: a number (possibly out of range) or not a number.
enum class Numeric { kNo, kYes, kOutOfRange };
Numeric ParseUserId(const std::string& s, int64_t* out) {
  if (s.empty()) return Numeric::kNo;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return Numeric::kNo;
  for (size_t j = i; j < s.size(); ++j) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(s[j]))) return Numeric::kNo;
  }
  if (!absl::SimpleAtoi(s, out)) return Numeric::kOutOfRange;
  if (*out < 0 || *out > INT32_MAX) return Numeric::kOutOfRange;
  return Numeric::kYes;
}

absl::Status NoPasswd(const std::string& user) {
  return absl::InvalidArgumentError(
      absl::StrCat("user \"", user, "\": the image has no /etc/passwd to look it up in"));
}

std::vector<int64_t> SortedUnique(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

}  // namespace

// ---- PasswdInfo ---------------------------------------------------------------------------------

PasswdInfo PasswdInfo::Parse(const std::optional<std::string>& passwd_text,
                             const std::optional<std::string>& group_text) {
  PasswdInfo info;
  if (passwd_text) {
    info.passwd.emplace();
    for (absl::string_view line : absl::StrSplit(*passwd_text, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      if (line.empty() || line[0] == '#') continue;
      std::vector<std::string> f = absl::StrSplit(line, ':');
      if (f.size() < 4 || f[0].empty()) continue;
      PasswdEntry e;
      e.name = f[0];
      if (!ParseId(f[2], &e.uid) || !ParseId(f[3], &e.gid)) continue;
      if (f.size() > 5) e.home = f[5];
      info.passwd->push_back(std::move(e));
    }
  }
  if (group_text) {
    info.group.emplace();
    for (absl::string_view line : absl::StrSplit(*group_text, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      if (line.empty() || line[0] == '#') continue;
      std::vector<std::string> f = absl::StrSplit(line, ':');
      if (f.size() < 3 || f[0].empty()) continue;
      GroupEntry g;
      g.name = f[0];
      if (!ParseId(f[2], &g.gid)) continue;
      if (f.size() > 3) {
        for (absl::string_view m : absl::StrSplit(f[3], ',', absl::SkipWhitespace())) {
          g.members.emplace_back(absl::StripAsciiWhitespace(m));
        }
      }
      info.group->push_back(std::move(g));
    }
  }
  return info;
}

const PasswdEntry* PasswdInfo::FindUserByName(const std::string& name) const {
  if (!passwd) return nullptr;
  for (const auto& e : *passwd) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

const PasswdEntry* PasswdInfo::FindUserById(int64_t uid) const {
  if (!passwd) return nullptr;
  for (const auto& e : *passwd) {
    if (e.uid == uid) return &e;
  }
  return nullptr;
}

const GroupEntry* PasswdInfo::FindGroupByName(const std::string& name) const {
  if (!group) return nullptr;
  for (const auto& g : *group) {
    if (g.name == name) return &g;
  }
  return nullptr;
}

absl::StatusOr<ResolvedUser> ResolveUser(const v1::LinuxContainerSecurityContext& sc,
                                         const std::string& image_user, const PasswdInfo& db) {
  // containerd's GenerateUserString.
  std::string userstr;
  if (sc.has_run_as_user()) userstr = absl::StrCat(sc.run_as_user().value());
  if (!sc.run_as_username().empty()) userstr = sc.run_as_username();
  if (sc.has_run_as_group()) {
    if (userstr.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("run_as_group ", sc.run_as_group().value(),
                       " is specified without run_as_user or run_as_username"));
    }
    absl::StrAppend(&userstr, ":", sc.run_as_group().value());
  }
  if (userstr.empty()) userstr = image_user;

  ResolvedUser out;
  if (!userstr.empty()) {
    std::vector<std::string> parts = absl::StrSplit(userstr, ':');
    if (parts.size() > 2) {
      return absl::InvalidArgumentError(absl::StrCat("invalid user \"", userstr, "\""));
    }
    int64_t uid = 0, gid = 0;
    Numeric un = ParseUserId(parts[0], &uid);
    if (un == Numeric::kOutOfRange) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid user \"", userstr, "\": uid out of range"));
    }
    if (parts.size() == 1) {
      if (un == Numeric::kYes) {
        // A uid unknown to the image (or an image without /etc/passwd) gets gid 0.
        const PasswdEntry* e = db.FindUserById(uid);
        out.uid = uid;
        out.gid = e ? e->gid : 0;
      } else {
        if (!db.passwd) return NoPasswd(userstr);
        const PasswdEntry* e = db.FindUserByName(parts[0]);
        if (!e) {
          return absl::InvalidArgumentError(
              absl::StrCat("user \"", parts[0], "\" not found in the image's /etc/passwd"));
        }
        out.uid = e->uid;
        out.gid = e->gid;
      }
    } else {
      Numeric gn = ParseUserId(parts[1], &gid);
      if (gn == Numeric::kOutOfRange) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid user \"", userstr, "\": gid out of range"));
      }
      // An empty part is neither looked up nor an error: it stays 0 (containerd's WithUser).
      if (un == Numeric::kNo && !parts[0].empty()) {
        if (!db.passwd) return NoPasswd(parts[0]);
        const PasswdEntry* e = db.FindUserByName(parts[0]);
        if (!e) {
          return absl::InvalidArgumentError(
              absl::StrCat("user \"", parts[0], "\" not found in the image's /etc/passwd"));
        }
        uid = e->uid;
      }
      if (gn == Numeric::kNo && !parts[1].empty()) {
        if (!db.group) {
          return absl::InvalidArgumentError(absl::StrCat(
              "group \"", parts[1], "\": the image has no /etc/group to look it up in"));
        }
        const GroupEntry* g = db.FindGroupByName(parts[1]);
        if (!g) {
          return absl::InvalidArgumentError(
              absl::StrCat("group \"", parts[1], "\" not found in the image's /etc/group"));
        }
        gid = g->gid;
      }
      out.uid = uid;
      out.gid = gid;
    }
  }
  if (out.uid > INT32_MAX || out.gid > INT32_MAX || out.uid < 0 || out.gid < 0) {
    return absl::InvalidArgumentError(absl::StrCat("user \"", userstr, "\": id out of range"));
  }

  std::vector<int64_t> gids = {out.gid};
  if (sc.supplemental_groups_policy() == v1::Merge) {
    // The user whose /etc/group memberships count (containerd's containerSpecOpts).
    std::string member = "0";
    if (!sc.run_as_username().empty()) {
      member = sc.run_as_username();
    } else if (sc.has_run_as_user()) {
      member = absl::StrCat(sc.run_as_user().value());
    } else if (!image_user.empty()) {
      member = image_user.substr(0, image_user.find(':'));
    }
    int64_t n = 0;
    if (ParseUserId(member, &n) == Numeric::kYes) {
      const PasswdEntry* e = db.FindUserById(n);
      member = e ? e->name : "";
    }
    if (!member.empty() && db.group) {
      for (const auto& g : *db.group) {
        if (g.name == member) continue;  // only supplementary groups
        if (std::find(g.members.begin(), g.members.end(), member) != g.members.end()) {
          gids.push_back(g.gid);
        }
      }
    }
  } else if (sc.supplemental_groups_policy() != v1::Strict) {
    return absl::InvalidArgumentError(
        absl::StrCat("supplemental_groups_policy ",
                     static_cast<int>(sc.supplemental_groups_policy()), " is not known"));
  }
  for (int64_t g : sc.supplemental_groups()) {
    if (g < 0 || g > INT32_MAX) {
      return absl::InvalidArgumentError(
          absl::StrCat("supplemental_groups: gid ", g, " out of range"));
    }
    gids.push_back(g);
  }
  out.additional_gids = SortedUnique(std::move(gids));
  return out;
}

absl::StatusOr<PasswdInfo> ReadImageUsers(SpecHost& host, const std::string& root) {
  auto read_db = [&](const char* path) -> absl::StatusOr<std::optional<std::string>> {
    auto text = host.ReadRootFile(root, path);
    if (text.ok()) return std::optional<std::string>(std::move(*text));
    if (absl::IsNotFound(text.status())) return std::optional<std::string>();
    return absl::Status(text.status().code(),
                        absl::StrCat("read the image's ", path, ": ", text.status().message()));
  };
  auto passwd = read_db("/etc/passwd");
  if (!passwd.ok()) return passwd.status();
  auto group = read_db("/etc/group");
  if (!group.ok()) return group.status();
  return PasswdInfo::Parse(*passwd, *group);
}

}  // namespace tether
