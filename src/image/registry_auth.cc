#include "image/registry_auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace tether {
namespace {

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string("!#$%&'*+-.^_`|~").find(c) != std::string::npos;
}

class Lexer {
 public:
  explicit Lexer(const std::string& s) : s_(s) {}
  void SkipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  bool AtEnd() const { return i_ >= s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[i_]; }
  void Next() { ++i_; }
  std::string Token() {
    size_t start = i_;
    while (i_ < s_.size() && IsTokenChar(s_[i_])) ++i_;
    return s_.substr(start, i_ - start);
  }
  // After the opening quote.
  std::string Quoted() {
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (s_[i_] == '\\' && i_ + 1 < s_.size()) ++i_;
      out.push_back(s_[i_++]);
    }
    if (i_ < s_.size()) ++i_;  // closing quote
    return out;
  }
  // token68 or anything up to a comma.
  std::string Rest() {
    size_t start = i_;
    while (i_ < s_.size() && s_[i_] != ',') ++i_;
    return std::string(absl::StripTrailingAsciiWhitespace(s_.substr(start, i_ - start)));
  }

 private:
  const std::string& s_;
  size_t i_ = 0;
};

}  // namespace

std::vector<AuthChallenge> ParseWwwAuthenticate(const std::vector<std::string>& values) {
  std::vector<AuthChallenge> out;
  for (const std::string& value : values) {
    Lexer lx(value);
    AuthChallenge* current = nullptr;
    while (true) {
      lx.SkipSpace();
      while (lx.Peek() == ',') {
        lx.Next();
        lx.SkipSpace();
      }
      if (lx.AtEnd()) break;
      std::string token = lx.Token();
      if (token.empty()) {  // junk: skip to the next comma
        lx.Next();
        lx.Rest();
        continue;
      }
      lx.SkipSpace();
      if (lx.Peek() == '=') {
        lx.Next();
        lx.SkipSpace();
        std::string v;
        if (lx.Peek() == '"') {
          lx.Next();
          v = lx.Quoted();
        } else {
          v = lx.Rest();
        }
        if (current != nullptr) current->params[absl::AsciiStrToLower(token)] = v;
        continue;
      }
      // A new challenge; its parameters follow. (token68 credentials, as in "Negotiate abc==",
      // are not used by registries and are skipped as junk.)
      out.push_back({absl::AsciiStrToLower(token), {}});
      current = &out.back();
    }
  }
  return out;
}

absl::StatusOr<BearerToken> ParseTokenResponse(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::UnauthenticatedError("token server answered with something that is not JSON");
  }
  BearerToken t;
  if (j.contains("token") && j["token"].is_string()) t.token = j["token"].get<std::string>();
  if (t.token.empty() && j.contains("access_token") && j["access_token"].is_string()) {
    t.token = j["access_token"].get<std::string>();
  }
  if (t.token.empty()) return absl::UnauthenticatedError("token server answered without a token");
  if (j.contains("expires_in") && j["expires_in"].is_number()) {
    double secs = j["expires_in"].get<double>();
    if (secs > 0) t.expires_in = absl::Seconds(secs);
  }
  if (j.contains("refresh_token") && j["refresh_token"].is_string()) {
    t.refresh_token = j["refresh_token"].get<std::string>();
  }
  return t;
}

}  // namespace tether
