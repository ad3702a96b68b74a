#include "stream/remote_command.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace tether::stream {

const std::vector<std::string>& RemoteCommandProtocols() {
  static const auto* p =
      new std::vector<std::string>{kStreamProtocolV5, kStreamProtocolV4, kStreamProtocolV3,
                                   kStreamProtocolV2, kStreamProtocolV1};
  return *p;
}

const std::vector<std::string>& PortForwardProtocols() {
  static const auto* p = new std::vector<std::string>{kPortForwardProtocolV1};
  return *p;
}

std::optional<std::string> NegotiateProtocol(const std::vector<std::string>& client_offers,
                                             const std::vector<std::string>& supported) {
  for (const std::string& header : client_offers) {
    for (absl::string_view offer : absl::StrSplit(header, ',')) {
      offer = absl::StripAsciiWhitespace(offer);
      for (const std::string& s : supported) {
        if (offer == s) return s;
      }
    }
  }
  return std::nullopt;
}

int RemoteCommandProtocolVersion(std::string_view protocol) {
  if (protocol == kStreamProtocolV5) return 5;
  if (protocol == kStreamProtocolV4) return 4;
  if (protocol == kStreamProtocolV3) return 3;
  if (protocol == kStreamProtocolV2) return 2;
  if (protocol == kStreamProtocolV1) return 1;
  return 0;
}

std::string_view StdStreamName(StdStream s) {
  switch (s) {
    case StdStream::kStdin:
      return "stdin";
    case StdStream::kStdout:
      return "stdout";
    case StdStream::kStderr:
      return "stderr";
    case StdStream::kError:
      return "error";
    case StdStream::kResize:
      return "resize";
  }
  return "?";
}

std::optional<StdStream> StdStreamFromName(std::string_view name) {
  for (StdStream s : {StdStream::kStdin, StdStream::kStdout, StdStream::kStderr, StdStream::kError,
                      StdStream::kResize}) {
    if (StdStreamName(s) == name) return s;
  }
  return std::nullopt;
}

namespace {

std::string NonZeroExitMessage(int code) {
  return absl::StrCat("command terminated with non-zero exit code: exit status ", code);
}

std::string InternalErrorMessage(const std::string& message) {
  return absl::StrCat("Internal error occurred: ", message);
}

}  // namespace

// The field order is Go's (json.Marshal of metav1.Status), for byte-for-byte equality with what
// kubelet writes.
std::string StatusJson(const CommandResult& result) {
  using ojson = nlohmann::ordered_json;
  ojson status;
  status["metadata"] = ojson::object();
  if (!result.failed && result.exit_code == 0) {
    status["status"] = "Success";
  } else if (!result.failed) {
    status["status"] = "Failure";
    status["message"] = NonZeroExitMessage(result.exit_code);
    status["reason"] = "NonZeroExitCode";
    status["details"]["causes"] =
        ojson::array({{{"reason", "ExitCode"}, {"message", std::to_string(result.exit_code)}}});
  } else {
    status["status"] = "Failure";
    status["message"] = InternalErrorMessage(result.message);
    status["reason"] = "InternalError";
    status["details"]["causes"] = ojson::array({{{"message", result.message}}});
    status["code"] = 500;
  }
  return status.dump();
}

std::string StatusText(const CommandResult& result) {
  if (result.failed) return InternalErrorMessage(result.message);
  if (result.exit_code != 0) return NonZeroExitMessage(result.exit_code);
  return "";
}

absl::Status ResizeDecoder::Feed(std::string_view data, std::vector<TerminalSize>* out) {
  if (!error_.ok()) return error_;
  buf_.append(data);
  size_t start = 0;  // where the object being scanned begins (valid when depth_ > 0)
  for (size_t i = scan_; i < buf_.size(); ++i) {
    char c = buf_[i];
    if (depth_ == 0) {
      if (std::isspace(static_cast<unsigned char>(c))) {
        start = i + 1;
        continue;
      }
      if (c != '{') {
        error_ = absl::InvalidArgumentError("resize stream: expected a JSON object");
        return error_;
      }
      start = i;
      depth_ = 1;
      continue;
    }
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        auto j = nlohmann::json::parse(buf_.begin() + static_cast<std::ptrdiff_t>(start),
                                       buf_.begin() + static_cast<std::ptrdiff_t>(i) + 1, nullptr,
                                       /*allow_exceptions=*/false);
        if (j.is_discarded() || !j.is_object()) {
          error_ = absl::InvalidArgumentError("resize stream: malformed JSON");
          return error_;
        }
        TerminalSize size;
        for (auto& [key, value] : j.items()) {
          uint16_t* field = nullptr;
          if (absl::EqualsIgnoreCase(key, "width")) field = &size.width;
          if (absl::EqualsIgnoreCase(key, "height")) field = &size.height;
          if (field == nullptr) continue;
          if (!value.is_number_unsigned() || value.get<uint64_t>() > 0xffff) {
            error_ = absl::InvalidArgumentError("resize stream: width and height are uint16");
            return error_;
          }
          *field = static_cast<uint16_t>(value.get<uint64_t>());
        }
        out->push_back(size);
        start = i + 1;
      }
    }
  }
  // Keep only the unfinished object (or nothing).
  if (depth_ == 0) {
    buf_.clear();
    scan_ = 0;
  } else {
    buf_.erase(0, start);
    scan_ = buf_.size();
    if (buf_.size() > kMaxObject) {
      error_ = absl::ResourceExhaustedError("resize stream: event too large");
      return error_;
    }
  }
  return absl::OkStatus();
}

RemoteCommandSession::RemoteCommandSession(std::shared_ptr<Transport> transport,
                                           std::map<StdStream, ChannelId> channels,
                                           int protocol_version,
                                           std::shared_ptr<CommandBackend> backend)
    : transport_(std::move(transport)),
      channels_(std::move(channels)),
      version_(protocol_version),
      backend_(std::move(backend)) {}

std::optional<StdStream> RemoteCommandSession::StreamOf(ChannelId ch) const {
  for (const auto& [s, id] : channels_) {
    if (id == ch) return s;
  }
  return std::nullopt;
}

void RemoteCommandSession::Start() {
  std::weak_ptr<RemoteCommandSession> weak = shared_from_this();
  CommandBackend::Sink sink;
  sink.output = [weak](StdStream s, std::string data, Callback resume) {
    auto self = weak.lock();
    if (!self || self->finished_) return;
    auto it = self->channels_.find(s);
    if (it == self->channels_.end()) {
      resume();  // a stream the client did not ask for: dropped
      return;
    }
    self->transport_->Send(it->second, std::move(data), std::move(resume));
  };
  sink.done = [weak](CommandResult result) {
    if (auto self = weak.lock()) self->Done(std::move(result));
  };
  backend_->Start(std::move(sink));
}

void RemoteCommandSession::OnData(ChannelId ch, std::string data, Callback consumed) {
  auto s = StreamOf(ch);
  if (finished_ || !s) {
    consumed();
    return;
  }
  if (*s == StdStream::kStdin) {
    if (stdin_closed_) {
      consumed();
      return;
    }
    backend_->WriteStdin(std::move(data), std::move(consumed));
    return;
  }
  if (*s == StdStream::kResize && !resize_broken_) {
    std::vector<TerminalSize> sizes;
    absl::Status st = resize_.Feed(data, &sizes);
    for (const TerminalSize& size : sizes) backend_->Resize(size);
    if (!st.ok()) resize_broken_ = true;  // as kubelet: stop decoding, keep the session
  }
  consumed();
}

void RemoteCommandSession::OnRemoteClose(ChannelId ch) {
  auto s = StreamOf(ch);
  if (finished_ || !s || *s != StdStream::kStdin || stdin_closed_) return;
  stdin_closed_ = true;
  backend_->CloseStdin();
}

void RemoteCommandSession::OnReset(ChannelId ch) { OnRemoteClose(ch); }

void RemoteCommandSession::OnTransportClosed() {
  if (finished_) return;
  finished_ = true;
  if (backend_) backend_->Cancel();
  backend_.reset();
  transport_.reset();
}

void RemoteCommandSession::Done(CommandResult result) {
  if (finished_) return;
  finished_ = true;
  auto err = channels_.find(StdStream::kError);
  if (err != channels_.end()) {
    std::string status = version_ >= 4 ? StatusJson(result) : StatusText(result);
    if (!status.empty()) transport_->Send(err->second, std::move(status), nullptr);
  }
  for (const auto& [s, id] : channels_) transport_->CloseSend(id);
  transport_->Finish();
  transport_.reset();
  backend_.reset();
}

}  // namespace tether::stream
