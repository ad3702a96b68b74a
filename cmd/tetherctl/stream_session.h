// An exec or attach session on tetherctl's own stdio, shared by `exec`, `attach` and `debug -i`:
// the streaming flags, the terminal put into raw mode for -it, and its size sent on SIGWINCH.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tetherctl/stream_client.h"

namespace tether::ctl {

struct StreamFlags {
  bool tty = false;
  bool interactive = false;
  std::string transport = "spdy";
  std::string ca_file;
};

// -t/--tty, -i/--interactive, --transport and --stream-ca.
void AddStreamFlags(CLI::App* cmd, StreamFlags& f, bool tty_needs_streaming);
// --transport and --stream-ca only (commands that name -i and -t their own way).
void AddTransportFlags(CLI::App* cmd, StreamFlags& f);

absl::StatusOr<DialOptions> DialOptionsOf(const StreamFlags& f);

// Runs the session at `url` on stdin/stdout/stderr (stdin only with `interactive`; one stream
// with a tty, the terminal raw while it runs when stdin is one). `stop_signals` end the session
// (an error) when the terminal is not raw; a raw one is ended by SIGTERM and SIGHUP, ^C being a
// byte for the remote side. Returns the remote exit code.
absl::StatusOr<int> RunStdioSession(const std::string& url, const StreamFlags& f,
                                    std::vector<int> stop_signals = {});

}  // namespace tether::ctl
