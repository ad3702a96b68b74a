// The tetherctl command line: flags, subcommands, exit codes. main() is a thin wrapper so that
// tests can run whole commands against a fake runtime service.
#pragma once

#include <ostream>

#include "absl/time/time.h"

namespace tether::ctl {

// Parses `argv` and runs the command. Returns the process exit code: 0 on success (and for
// --help), 1 on any failure, with the reason on `err`.
int RunCli(int argc, const char* const argv[], std::ostream& out, std::ostream& err);

// The same with a fixed clock and time zone for the time columns (tests).
int RunCli(int argc, const char* const argv[], std::ostream& out, std::ostream& err, absl::Time now,
           absl::TimeZone tz);

}  // namespace tether::ctl
