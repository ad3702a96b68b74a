#include "tetherctl/log_reader.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"

namespace tether::ctl {
namespace {

// Reads fixed-width decimal fields of a time string.
class Scanner {
 public:
  explicit Scanner(absl::string_view s) : s_(s) {}

  bool Digits(size_t n, int* out) {
    if (pos_ + n > s_.size()) return false;
    int v = 0;
    for (size_t k = 0; k < n; ++k) {
      const char c = s_[pos_ + k];
      if (!absl::ascii_isdigit(c)) return false;
      v = v * 10 + (c - '0');
    }
    pos_ += n;
    *out = v;
    return true;
  }
  // One or two digits (Go's "15" hour field).
  bool OneOrTwoDigits(int* out) {
    if (!Peek(absl::ascii_isdigit)) return false;
    int v = s_[pos_++] - '0';
    if (Peek(absl::ascii_isdigit)) v = v * 10 + (s_[pos_++] - '0');
    *out = v;
    return true;
  }
  bool Expect(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Peek(bool (*pred)(unsigned char)) const {
    return pos_ < s_.size() && pred(static_cast<unsigned char>(s_[pos_]));
  }
  bool PeekChar(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  // ".123" or ",123": nanoseconds from at most nine digits (more are ignored, as Go does).
  int64_t Fraction() {
    if (pos_ + 1 >= s_.size() || (s_[pos_] != '.' && s_[pos_] != ',') ||
        !absl::ascii_isdigit(s_[pos_ + 1])) {
      return 0;
    }
    ++pos_;
    int64_t nanos = 0;
    int n = 0;
    for (; pos_ < s_.size() && absl::ascii_isdigit(s_[pos_]); ++pos_) {
      if (n < 9) {
        nanos = nanos * 10 + (s_[pos_] - '0');
        ++n;
      }
    }
    for (; n < 9; ++n) nanos *= 10;
    return nanos;
  }
  // "Z" or "+hh:mm" / "-hh:mm".
  bool Zone(int* offset_seconds) {
    if (Expect('Z')) {
      *offset_seconds = 0;
      return true;
    }
    if (pos_ >= s_.size() || (s_[pos_] != '+' && s_[pos_] != '-')) return false;
    const int sign = s_[pos_++] == '-' ? -1 : 1;
    int hh = 0, mm = 0;
    if (!Digits(2, &hh) || !Expect(':') || !Digits(2, &mm) || hh > 24 || mm > 59) return false;
    *offset_seconds = sign * (hh * 3600 + mm * 60);
    return true;
  }
  bool AtEnd() const { return pos_ == s_.size(); }

 private:
  absl::string_view s_;
  size_t pos_ = 0;
};

// The instant of a civil time at a fixed UTC offset; nullopt when a field is out of range.
std::optional<absl::Time> CivilToTime(int year, int month, int day, int hour, int minute,
                                      int second, int64_t nanos, int offset_seconds) {
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) {
    return std::nullopt;
  }
  const absl::CivilSecond civil(year, month, day, hour, minute, second);
  if (civil.day() != day) return std::nullopt;  // e.g. February 30th
  return absl::FromCivil(civil, absl::UTCTimeZone()) - absl::Seconds(offset_seconds) +
         absl::Nanoseconds(nanos);
}

}  // namespace

std::optional<ZonedTime> ParseRfc3339(absl::string_view text) {
  Scanner s(text);
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, offset = 0;
  if (!s.Digits(4, &year) || !s.Expect('-') || !s.Digits(2, &month) || !s.Expect('-') ||
      !s.Digits(2, &day) || !s.Expect('T') || !s.OneOrTwoDigits(&hour) || !s.Expect(':') ||
      !s.Digits(2, &minute) || !s.Expect(':') || !s.Digits(2, &second)) {
    return std::nullopt;
  }
  const int64_t nanos = s.Fraction();
  if (!s.Zone(&offset) || !s.AtEnd()) return std::nullopt;
  auto t = CivilToTime(year, month, day, hour, minute, second, nanos, offset);
  if (!t) return std::nullopt;
  return ZonedTime{*t, offset};
}

std::string FormatLogTimestamp(const ZonedTime& t) {
  const absl::TimeZone tz = absl::FixedTimeZone(t.utc_offset_seconds);
  return absl::FormatTime(
      t.utc_offset_seconds == 0 ? "%Y-%m-%dT%H:%M:%E9SZ" : "%Y-%m-%dT%H:%M:%E9S%Ez", t.time, tz);
}

std::optional<CriLogRecord> ParseCriLogLine(absl::string_view line) {
  size_t space = line.find(' ');
  if (space == absl::string_view::npos) return std::nullopt;
  auto time = ParseRfc3339(line.substr(0, space));
  if (!time) return std::nullopt;
  CriLogRecord record;
  record.time = *time;

  absl::string_view rest = line.substr(space + 1);
  space = rest.find(' ');
  if (space == absl::string_view::npos) return std::nullopt;
  const absl::string_view stream = rest.substr(0, space);
  if (stream == "stdout") {
    record.stream = LogStream::kStdout;
  } else if (stream == "stderr") {
    record.stream = LogStream::kStderr;
  } else {
    return std::nullopt;
  }

  rest = rest.substr(space + 1);
  space = rest.find(' ');
  if (space == absl::string_view::npos) return std::nullopt;
  // Tags are ':'-separated; only the first one (P or F) means anything today.
  const absl::string_view tags = rest.substr(0, space);
  record.partial = tags.substr(0, tags.find(':')) == "P";
  if (record.partial && absl::EndsWith(rest, "\n")) rest.remove_suffix(1);
  record.text = std::string(rest.substr(space + 1));
  return record;
}

size_t TailStart(absl::string_view content, int64_t n) {
  if (n < 0) return 0;
  int64_t newlines = 0;
  for (size_t k = content.size(); k-- > 0;) {
    if (content[k] == '\n' && ++newlines == n + 1) return k + 1;
  }
  return 0;
}

CriLogWriter::CriLogWriter(const LogOptions& options, LogSink sink)
    : options_(options),
      sink_(std::move(sink)),
      remaining_bytes_(options.limit_bytes >= 0 ? options.limit_bytes
                                                : std::numeric_limits<int64_t>::max()),
      remaining_lines_(options.tail >= 0 && !options.follow ? options.tail : -1) {}

bool CriLogWriter::WriteLine(absl::string_view line) {
  if (remaining_lines_ == 0 || remaining_bytes_ <= 0) return false;
  auto record = ParseCriLogLine(line);
  if (!record) {
    ++skipped_;
    return true;
  }
  if (!options_.since || record->time.time >= *options_.since) {
    std::string out;
    if (options_.timestamps && at_line_start_) {
      out = absl::StrCat(FormatLogTimestamp(record->time), " ", record->text);
    } else {
      out = record->text;
    }
    if (static_cast<int64_t>(out.size()) > remaining_bytes_) {
      out.resize(static_cast<size_t>(remaining_bytes_));
    }
    if (!out.empty()) sink_(record->stream, out);
    remaining_bytes_ -= static_cast<int64_t>(out.size());
    if (remaining_bytes_ <= 0) return false;
  }
  if (remaining_lines_ > 0) --remaining_lines_;
  at_line_start_ = record->text.empty() || record->text.back() == '\n';
  return remaining_lines_ != 0;
}

std::vector<std::pair<LogStream, std::string>> RenderCriLog(absl::string_view content,
                                                            const LogOptions& options) {
  std::vector<std::pair<LogStream, std::string>> out;
  LogOptions once = options;
  once.follow = false;
  CriLogWriter writer(once, [&out](LogStream stream, absl::string_view text) {
    if (!out.empty() && out.back().first == stream) {
      out.back().second.append(text.data(), text.size());
    } else {
      out.emplace_back(stream, std::string(text));
    }
  });
  content.remove_prefix(TailStart(content, options.tail));
  while (!content.empty()) {
    const size_t eol = content.find('\n');
    const size_t n = eol == absl::string_view::npos ? content.size() : eol + 1;
    if (!writer.WriteLine(content.substr(0, n))) break;
    content.remove_prefix(n);
  }
  return out;
}

absl::StatusOr<absl::Time> ParseSince(absl::string_view value, absl::Time now,
                                      absl::TimeZone local) {
  // A Go duration (absl's parser also takes "inf", which Go does not).
  absl::Duration d;
  if (value != "0" && !absl::StrContains(value, "inf") && absl::ParseDuration(value, &d)) {
    return absl::FromUnixSeconds(absl::ToUnixSeconds(now - d));
  }
  // An RFC 3339 time or a prefix of one; a zone is expected when the text has a 'Z', a '+' or
  // a third '-', as docker's GetTimestamp decides.
  const bool zoned = value.find_first_of("zZ+") != absl::string_view::npos ||
                     std::count(value.begin(), value.end(), '-') == 3;
  Scanner s(value);
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  int64_t nanos = 0;
  int offset = local.At(now).offset;
  bool ok = s.Digits(4, &year) && s.Expect('-') && s.Digits(2, &month) && s.Expect('-') &&
            s.Digits(2, &day);
  if (ok && s.Expect('T')) {
    ok = s.OneOrTwoDigits(&hour);
    if (ok && s.Expect(':')) {
      ok = s.Digits(2, &minute);
      if (ok && s.Expect(':')) {
        ok = s.Digits(2, &second);
        nanos = s.Fraction();
      }
    }
  }
  if (ok && zoned) ok = s.Zone(&offset);
  if (ok && s.AtEnd()) {
    auto t = CivilToTime(year, month, day, hour, minute, second, nanos, offset);
    if (t) return *t;
  }
  if (absl::StrContains(value, "-")) {
    return absl::InvalidArgumentError(absl::StrCat("invalid --since time \"", value, "\""));
  }
  // Unix seconds, with an optional fraction.
  const size_t dot = value.find('.');
  int64_t seconds = 0, fraction = 0;
  const absl::string_view frac_text =
      dot == absl::string_view::npos ? absl::string_view() : value.substr(dot + 1);
  if (absl::SimpleAtoi(value.substr(0, dot), &seconds) &&
      (dot == absl::string_view::npos ||
       (!frac_text.empty() && frac_text.size() <= 9 && absl::SimpleAtoi(frac_text, &fraction) &&
        fraction >= 0))) {
    for (size_t k = frac_text.size(); k < 9; ++k) fraction *= 10;
    return absl::FromUnixSeconds(seconds) + absl::Nanoseconds(fraction);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("failed to parse value as time or duration: \"", value, "\""));
}

namespace {

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::Status Errno(absl::string_view what, int err) {
  return absl::Status(err == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kInternal,
                      absl::StrCat(what, ": ", std::strerror(err)));
}

// TailStart over a file, reading blocks backwards from its end.
absl::StatusOr<int64_t> FindTailStart(int fd, int64_t size, int64_t n) {
  if (n < 0) return 0;
  constexpr int64_t kBlock = 64 * 1024;
  std::string buf;
  int64_t newlines = 0;
  for (int64_t right = size; right > 0;) {
    const int64_t left = std::max<int64_t>(0, right - kBlock);
    buf.resize(static_cast<size_t>(right - left));
    size_t got = 0;
    while (got < buf.size()) {
      const ssize_t r = ::pread(fd, buf.data() + got, buf.size() - got,
                                static_cast<off_t>(left + static_cast<int64_t>(got)));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Errno("read log file", errno);
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    for (size_t k = got; k-- > 0;) {
      if (buf[k] == '\n' && ++newlines == n + 1) return left + static_cast<int64_t>(k) + 1;
    }
    right = left;
  }
  return 0;
}

}  // namespace

absl::Status ReadCriLogFile(const std::string& path, const LogOptions& options, const LogSink& sink,
                            const IsRunningFn& is_running, absl::Duration check_period) {
  std::error_code ec;
  const std::filesystem::path real = std::filesystem::canonical(path, ec);
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("failed to try resolving symlinks in path \"", path, "\": ", ec.message()));
  }
  const std::string file = real.string();
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Errno(absl::StrCat("failed to open log file \"", file, "\""), errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Errno("stat log file", errno);
  auto start = FindTailStart(fd.get(), st.st_size, options.tail);
  if (!start.ok()) return start.status();
  if (::lseek(fd.get(), static_cast<off_t>(*start), SEEK_SET) < 0) {
    return Errno("seek log file", errno);
  }

  CriLogWriter writer(options, sink);
  std::string pending;  // read, but not yet a whole line
  std::string buf(64 * 1024, '\0');
  Fd inotify;
  const std::string base = real.filename().string();
  bool running = true;
  absl::Time last_check = absl::InfinitePast();
  while (true) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno(absl::StrCat("failed to read log file \"", file, "\""), errno);
    if (n > 0) {
      pending.append(buf.data(), static_cast<size_t>(n));
      size_t begin = 0;
      for (size_t eol; (eol = pending.find('\n', begin)) != std::string::npos; begin = eol + 1) {
        if (!writer.WriteLine(absl::string_view(pending).substr(begin, eol + 1 - begin))) {
          return absl::OkStatus();
        }
      }
      pending.erase(0, begin);
      continue;
    }
    // End of the file. An incomplete last line is printed when nothing more will come.
    if (!options.follow || !running) {
      if (!pending.empty()) writer.WriteLine(pending);
      return absl::OkStatus();
    }
    if (inotify.get() < 0) {
      inotify.Reset(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
      if (inotify.get() < 0) return Errno("inotify_init1", errno);
      const std::string dir = real.parent_path().string();
      if (::inotify_add_watch(inotify.get(), dir.c_str(),
                              IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                  IN_ATTRIB | IN_CLOSE_WRITE) < 0) {
        return Errno(absl::StrCat("failed to watch directory \"", dir, "\""), errno);
      }
      continue;  // what was written before the watch existed
    }
    const absl::Time now = absl::Now();
    if (now - last_check >= check_period) {
      last_check = now;
      auto still = is_running();
      if (!still.ok()) return still.status();
      if (!*still) {
        running = false;
        continue;  // drain what the container wrote before it exited
      }
    }
    const absl::Duration wait =
        std::max(check_period - (absl::Now() - last_check), absl::Milliseconds(1));
    pollfd pfd = {inotify.get(), POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(wait)) + 1);
    if (ready < 0 && errno != EINTR) return Errno("poll", errno);
    if (ready <= 0) continue;
    bool recreated = false;
    alignas(inotify_event) char events[4096];
    for (ssize_t len; (len = ::read(inotify.get(), events, sizeof(events))) > 0;) {
      for (char* p = events; p < events + len;) {
        const auto* event = reinterpret_cast<const inotify_event*>(p);
        if ((event->mask & (IN_CREATE | IN_MOVED_TO)) != 0 && event->len > 0 &&
            base == event->name) {
          recreated = true;
        }
        p += sizeof(inotify_event) + event->len;
      }
    }
    if (recreated) {  // rotated: go on with the new file from its start
      const int fresh = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
      if (fresh < 0) {
        if (errno == ENOENT) continue;
        return Errno(absl::StrCat("failed to open log file \"", file, "\""), errno);
      }
      fd.Reset(fresh);
      pending.clear();
    }
  }
}

}  // namespace tether::ctl
