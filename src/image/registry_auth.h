// Registry authentication helpers: WWW-Authenticate challenges and token server responses
// (the Docker registry token specification).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tether {

struct AuthChallenge {
  std::string scheme;                         // lowercased: "bearer", "basic"
  std::map<std::string, std::string> params;  // lowercased names: realm, service, scope, error
};

// Parses WWW-Authenticate header values. A value may hold several challenges
// (`Basic realm="x", Bearer realm="y",service="z"`); quoted strings may hold commas and escapes.
std::vector<AuthChallenge> ParseWwwAuthenticate(const std::vector<std::string>& values);

struct BearerToken {
  std::string token;
  absl::Duration expires_in = absl::Seconds(60);
  std::string refresh_token;  // present in OAuth responses
};

// Parses a token server's JSON answer: "token" or "access_token", "expires_in" (default 60 s).
absl::StatusOr<BearerToken> ParseTokenResponse(const std::string& body);

}  // namespace tether
