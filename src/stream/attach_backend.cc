#include "stream/attach_backend.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "util/fd.h"
#include "util/log.h"

namespace tether::stream {
namespace {

namespace asio = boost::asio;
using Descriptor = asio::posix::stream_descriptor;

constexpr size_t kPacketIn = 32 * 1024 + 1;  // conmon sends at most 8 KiB + 1
constexpr size_t kPacketOut = 8 * 1024;
constexpr char kPipeStdout = 2;
constexpr char kPipeStderr = 3;

std::string Dirname(const std::string& p) {
  size_t slash = p.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : p.substr(0, slash);
}

// Connects to conmon's attach socket; a path over sun_path goes through /proc/self/fd.
absl::StatusOr<Fd> ConnectAttach(const std::string& path) {
  Fd sock(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!sock.valid()) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string target = path;
  Fd dir;
  if (path.size() >= sizeof addr.sun_path) {
    dir.reset(open(Dirname(path).c_str(), O_PATH | O_CLOEXEC));
    if (!dir.valid()) {
      return absl::UnavailableError(absl::StrCat("open ", Dirname(path), ": ", strerror(errno)));
    }
    target = absl::StrCat("/proc/self/fd/", dir.get(), "/", path.substr(path.rfind('/') + 1));
  }
  std::strncpy(addr.sun_path, target.c_str(), sizeof addr.sun_path - 1);
  if (connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return absl::UnavailableError(absl::StrCat("connect ", path, ": ", strerror(errno)));
  }
  return sock;
}

class AttachBackend : public CommandBackend, public std::enable_shared_from_this<AttachBackend> {
 public:
  AttachBackend(asio::any_io_executor ex, AttachRequest req)
      : ex_(std::move(ex)), req_(std::move(req)), buf_(kPacketIn) {}

  void Start(Sink sink) override {
    sink_ = std::move(sink);
    auto sock = ConnectAttach(req_.attach_socket);
    if (!sock.ok()) {
      auto self = shared_from_this();
      std::string msg = absl::StrCat("error attaching to container: ", sock.status().message());
      asio::post(ex_, [self, msg] { self->Finish(CommandResult::Failed(msg)); });
      return;
    }
    sock_ = std::make_shared<Descriptor>(ex_, sock->release());
    ReadMore();
  }

  void WriteStdin(std::string data, Callback written) override {
    if (!sock_ || done_ || stdin_closed_ || stdin_close_requested_ || !req_.stdin) {
      if (written) written();
      return;
    }
    // Packets of at most kPacketOut bytes; `written` goes with the last one.
    for (size_t off = 0; off < data.size(); off += kPacketOut) {
      bool last = off + kPacketOut >= data.size();
      queue_.emplace_back(data.substr(off, kPacketOut), last ? std::move(written) : nullptr);
    }
    if (data.empty() && written) written();
    Pump();
  }

  void CloseStdin() override {
    if (stdin_close_requested_) return;
    stdin_close_requested_ = true;
    Pump();
  }

  void Resize(TerminalSize size) override {
    if (size.width == 0 || size.height == 0) return;
    Fd ctl(open((req_.bundle_dir + "/ctl").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!ctl.valid()) {
      spdlog::debug("attach {}: conmon's ctl fifo: {}", req_.container_id, strerror(errno));
      return;
    }
    std::string msg = absl::StrCat("1 ", size.height, " ", size.width, "\n");
    if (write(ctl.get(), msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) {
      spdlog::debug("attach {}: resize: {}", req_.container_id, strerror(errno));
    }
  }

  void Cancel() override {
    cancelled_ = true;
    sink_ = {};
    Close();
  }

 private:
  void ReadMore() {
    if (!sock_ || done_) return;
    auto self = shared_from_this();
    sock_->async_read_some(asio::buffer(buf_), [self](boost::system::error_code ec, size_t n) {
      if (self->done_ || self->cancelled_) return;
      if (ec || n == 0) {
        // conmon closed the socket: the container exited.
        self->Close();
        self->Finish(CommandResult::Exited(0));
        return;
      }
      StdStream stream;
      if (self->buf_[0] == kPipeStdout) {
        stream = StdStream::kStdout;
      } else if (self->buf_[0] == kPipeStderr) {
        // A tty session has no stderr stream: the client wants it all on stdout.
        stream = self->req_.tty && !self->req_.stderr ? StdStream::kStdout : StdStream::kStderr;
      } else {
        self->ReadMore();
        return;
      }
      if (n == 1) {
        self->ReadMore();
        return;
      }
      self->sink_.output(stream, std::string(self->buf_.data() + 1, n - 1),
                         [self] { asio::post(self->ex_, [self] { self->ReadMore(); }); });
    });
  }

  void Pump() {
    if (writing_ || !sock_) return;
    if (queue_.empty()) {
      if (stdin_close_requested_ && !stdin_closed_) {
        stdin_closed_ = true;
        shutdown(sock_->native_handle(), SHUT_WR);
        // Without stdin_once the container keeps its stdin: closing ours means detaching, as
        // CRI-O does. With stdin_once conmon closes the container's stdin: stay for the output.
        if (!req_.stdin_once) {
          auto self = shared_from_this();
          asio::post(ex_, [self] {
            self->Close();
            self->Finish(CommandResult::Exited(0));
          });
        }
      }
      return;
    }
    writing_ = true;
    auto self = shared_from_this();
    sock_->async_write_some(asio::buffer(queue_.front().first),
                            [self](boost::system::error_code ec, size_t) {
                              self->writing_ = false;
                              auto cb = std::move(self->queue_.front().second);
                              self->queue_.pop_front();
                              if (cb) cb();
                              if (ec) {
                                self->stdin_closed_ = true;
                                self->DropQueue();
                                return;
                              }
                              self->Pump();
                            });
  }

  void DropQueue() {
    while (!queue_.empty() && !writing_) {
      auto cb = std::move(queue_.front().second);
      queue_.pop_front();
      if (cb) cb();
    }
  }

  void Close() {
    if (sock_) {
      boost::system::error_code ignored;
      sock_->close(ignored);
    }
    DropQueue();
  }

  void Finish(CommandResult result) {
    if (done_) return;
    done_ = true;
    auto sink = std::move(sink_);
    sink_ = {};
    if (!cancelled_ && sink.done) sink.done(std::move(result));
  }

  asio::any_io_executor ex_;
  const AttachRequest req_;
  Sink sink_;
  std::shared_ptr<Descriptor> sock_;
  std::vector<char> buf_;
  std::deque<std::pair<std::string, Callback>> queue_;
  bool writing_ = false, stdin_close_requested_ = false, stdin_closed_ = false;
  bool done_ = false, cancelled_ = false;
};

}  // namespace

std::shared_ptr<CommandBackend> NewAttachBackend(asio::any_io_executor strand,
                                                 AttachRequest request) {
  return std::make_shared<AttachBackend>(std::move(strand), std::move(request));
}

}  // namespace tether::stream
