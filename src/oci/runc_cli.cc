#include "oci/runc_cli.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "util/log.h"
#include "util/process.h"

namespace tether {
namespace {

// Reads a logrus value starting at `s[pos]`: a Go-quoted string or a bare word.
std::string LogfmtValue(absl::string_view s, size_t pos) {
  std::string v;
  if (pos >= s.size()) return v;
  if (s[pos] != '"') {
    size_t end = s.find(' ', pos);
    return std::string(s.substr(pos, end == absl::string_view::npos ? end : end - pos));
  }
  for (size_t i = pos + 1; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"') break;
    if (c == '\\' && i + 1 < s.size()) {
      char n = s[++i];
      switch (n) {
        case 'n':
          v.push_back('\n');
          break;
        case 't':
          v.push_back('\t');
          break;
        default:
          v.push_back(n);  // \" \\ and anything else: the character itself
      }
      continue;
    }
    v.push_back(c);
  }
  return v;
}

// The value of `key=` in a logfmt line, if present as a whole key.
bool LogfmtField(absl::string_view line, absl::string_view key, std::string* value) {
  std::string needle = absl::StrCat(key, "=");
  size_t pos = 0;
  while ((pos = line.find(needle, pos)) != absl::string_view::npos) {
    if (pos == 0 || line[pos - 1] == ' ') {
      *value = LogfmtValue(line, pos + needle.size());
      return true;
    }
    pos += needle.size();
  }
  return false;
}

}  // namespace

std::string RuntimeErrorMessage(absl::string_view stderr_text) {
  std::vector<std::string> errors, others;
  std::vector<std::string> plain;
  for (absl::string_view line : absl::StrSplit(stderr_text, '\n', absl::SkipWhitespace())) {
    line = absl::StripAsciiWhitespace(line);
    std::string msg, level;
    if (LogfmtField(line, "msg", &msg)) {
      LogfmtField(line, "level", &level);
      if (level == "error" || level == "fatal" || level == "panic") {
        errors.push_back(std::move(msg));
      } else {
        others.push_back(std::move(msg));
      }
    } else {
      plain.emplace_back(line);
    }
  }
  std::string out;
  if (!errors.empty()) {
    out = absl::StrJoin(errors, "; ");
  } else if (!plain.empty()) {
    out = absl::StrJoin(plain, "; ");
  } else {
    out = absl::StrJoin(others, "; ");
  }
  constexpr size_t kMax = 4096;
  if (out.size() > kMax) out = absl::StrCat(out.substr(0, kMax), "...");
  return out;
}

RuncCli::RuncCli(std::string binary, std::string root, std::chrono::milliseconds timeout)
    : binary_(std::move(binary)), root_(std::move(root)), timeout_(timeout) {}

absl::StatusOr<RuncCli::Outcome> RuncCli::Run(std::vector<std::string> args,
                                              std::string stdin_data) {
  ProcessOptions o;
  o.argv = {binary_, "--root", root_};
  o.argv.insert(o.argv.end(), std::make_move_iterator(args.begin()),
                std::make_move_iterator(args.end()));
  o.stdin_data = std::move(stdin_data);
  o.timeout = timeout_;
  o.output_cap = 1 << 20;
  auto r = RunProcess(o);
  if (!r.ok()) {
    return absl::UnavailableError(absl::StrCat("OCI runtime: ", r.status().message()));
  }
  if (r->timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(binary_, " ", o.argv[3], " timed out after ", timeout_.count(), " ms"));
  }
  Outcome out;
  out.ok = r->ok();
  out.out = std::move(r->out);
  if (!out.ok) {
    out.message = RuntimeErrorMessage(r->err);
    if (out.message.empty()) out.message = r->Describe();
  }
  return out;
}

bool RuncCli::IsNotFound(const std::string& id, const std::string& message) const {
  if (message.find("does not exist") != std::string::npos) return true;  // runc
  // crun: "error opening file `ROOT/ID/status`: No such file or directory"
  return message.find("No such file or directory") != std::string::npos &&
         message.find(absl::StrCat(root_, "/", id)) != std::string::npos;
}

absl::Status RuncCli::Error(const std::string& verb, const std::string& id,
                            const Outcome& o) const {
  std::string text = absl::StrCat(binary_, " ", verb, " ", id, ": ", o.message);
  if (IsNotFound(id, o.message)) return absl::NotFoundError(text);
  // runc: "cannot delete container X that is not stopped: running", "cannot start an already
  // running container", "cannot start a container that has stopped"; crun: "... is not running".
  for (const char* wrong_state :
       {"not stopped", "already running", "has stopped", "not running", "is paused"}) {
    if (o.message.find(wrong_state) != std::string::npos) {
      return absl::FailedPreconditionError(text);
    }
  }
  return absl::InternalError(text);
}

absl::StatusOr<OciState> RuncCli::State(const std::string& id) {
  auto o = Run({"state", id});
  if (!o.ok()) return o.status();
  if (!o->ok) return Error("state", id, *o);
  nlohmann::json j = nlohmann::json::parse(o->out, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InternalError(
        absl::StrCat(binary_, " state ", id, ": unparsable output: ", o->out.substr(0, 200)));
  }
  OciState st;
  if (auto it = j.find("status"); it != j.end() && it->is_string()) st.status = *it;
  if (auto it = j.find("pid"); it != j.end() && it->is_number_integer()) st.pid = *it;
  return st;
}

absl::Status RuncCli::Start(const std::string& id) {
  auto o = Run({"start", id});
  if (!o.ok()) return o.status();
  if (!o->ok) return Error("start", id, *o);
  return absl::OkStatus();
}

absl::Status RuncCli::Kill(const std::string& id, int signal, bool all) {
  std::vector<std::string> args = {"kill"};
  if (all) args.push_back("--all");
  args.push_back(id);
  args.push_back(std::to_string(signal));
  auto o = Run(std::move(args));
  if (!o.ok()) return o.status();
  if (o->ok) return absl::OkStatus();
  // Already stopped or gone: the signal has nothing left to do.
  if (IsNotFound(id, o->message) || o->message.find("not running") != std::string::npos ||
      o->message.find("No such process") != std::string::npos) {
    spdlog::debug("{} kill {} {}: {} (ignored)", binary_, id, signal, o->message);
    return absl::OkStatus();
  }
  return Error("kill", id, *o);
}

absl::Status RuncCli::Delete(const std::string& id, bool force) {
  std::vector<std::string> args = {"delete"};
  if (force) args.push_back("--force");
  args.push_back(id);
  auto o = Run(std::move(args));
  if (!o.ok()) return o.status();
  if (o->ok || IsNotFound(id, o->message)) return absl::OkStatus();
  return Error("delete", id, *o);
}

absl::Status RuncCli::Update(const std::string& id, const nlohmann::json& resources) {
  auto o = Run({"update", "--resources", "-", id}, resources.dump());
  if (!o.ok()) return o.status();
  if (!o->ok) return Error("update", id, *o);
  return absl::OkStatus();
}

}  // namespace tether
