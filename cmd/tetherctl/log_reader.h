// Reading container logs in the CRI format straight from disk, as crictl (and the kubelet's
// k8s.io/cri-client/pkg/logs) does: one record per line,
//
//   <RFC 3339 timestamp with nanoseconds> <stdout|stderr> <P|F>[:<more tags>] <text>
//
// where "P" marks a partial line (the text goes on in the next record, no newline of its own)
// and "F" a full one. The parsing and the selection (--tail, --since, --limit-bytes,
// --timestamps) are pure functions; ReadCriLogFile adds the file and --follow on top.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tether::ctl {

enum class LogStream { kStdout, kStderr };

// A time as written in a log record: the instant and the UTC offset it was written with.
struct ZonedTime {
  absl::Time time;
  int utc_offset_seconds = 0;
};

// Go's time.Parse(time.RFC3339Nano, text): "2024-05-01T10:00:00Z",
// "2024-05-01T10:00:00.123456789+02:00" (any number of fraction digits, ',' or '.', hours of
// one or two digits). Out-of-range fields are errors.
std::optional<ZonedTime> ParseRfc3339(absl::string_view text);

// The kubelet's output layout for --timestamps (RFC3339NanoFixed): always nine fraction digits,
// "Z" for a zero offset, e.g. "2024-05-01T10:00:00.500000000Z".
std::string FormatLogTimestamp(const ZonedTime& t);

struct CriLogRecord {
  ZonedTime time;
  LogStream stream = LogStream::kStdout;
  bool partial = false;
  // The text; a full record's text keeps the line's '\n' (when the line had one), a partial
  // record's text has none.
  std::string text;
};

// Parses one line of a CRI log file, with or without its '\n'. nullopt when it is malformed
// (no timestamp, a bad timestamp, a stream other than stdout/stderr, no tag).
std::optional<CriLogRecord> ParseCriLogLine(absl::string_view line);

struct LogOptions {
  int64_t tail = -1;         // lines from the end of the file; < 0: all
  int64_t limit_bytes = -1;  // stop after this many bytes of output; < 0: no limit
  std::optional<absl::Time> since;
  bool timestamps = false;
  bool follow = false;
};

// Byte offset at which the last `n` lines of `content` start (the kubelet's
// findTailLineStartIndex: an incomplete last line counts as part of the line before it).
// n < 0: 0.
size_t TailStart(absl::string_view content, int64_t n);

using LogSink = std::function<void(LogStream, absl::string_view)>;

// Turns lines into output as the kubelet's log writer does: records older than --since are
// dropped, malformed lines are skipped, partial records are joined (they carry no newline),
// --timestamps prefixes the start of each output line, --limit-bytes cuts the output.
class CriLogWriter {
 public:
  CriLogWriter(const LogOptions& options, LogSink sink);

  // Writes one line of the file. Returns false once nothing more may be written (the byte
  // limit, or the --tail count without --follow, is reached).
  bool WriteLine(absl::string_view line);

  // Number of malformed lines skipped so far.
  int64_t skipped() const { return skipped_; }

 private:
  LogOptions options_;
  LogSink sink_;
  int64_t remaining_bytes_;
  int64_t remaining_lines_;  // < 0: unlimited
  bool at_line_start_ = true;
  int64_t skipped_ = 0;
};

// The whole of a log file's `content` selected and rendered (no --follow): the pieces of output
// in order, each with its stream. Pure; what `logs` prints for a file that no longer grows.
std::vector<std::pair<LogStream, std::string>> RenderCriLog(absl::string_view content,
                                                            const LogOptions& options);

// docker's --since: a Go duration before `now` ("42m", truncated to the second), an RFC 3339
// time or a prefix of one ("2013-01-02", "2013-01-02T13:23", "2013-01-02T13:23:37.5Z";
// without a zone the offset of `local` at `now` applies), or Unix seconds ("1700000000.5").
absl::StatusOr<absl::Time> ParseSince(absl::string_view value, absl::Time now,
                                      absl::TimeZone local);

// How ReadCriLogFile learns, while following, whether the container still runs.
using IsRunningFn = std::function<absl::StatusOr<bool>()>;

// Reads the log file at `path` into `sink`. With options.follow, waits (inotify on the file's
// directory, so that a rotated file is reopened) for more records until `is_running` says the
// container stopped, then prints what is left and returns. `is_running` is asked at most once
// per `check_period`.
absl::Status ReadCriLogFile(const std::string& path, const LogOptions& options, const LogSink& sink,
                            const IsRunningFn& is_running,
                            absl::Duration check_period = absl::Seconds(1));

}  // namespace tether::ctl
