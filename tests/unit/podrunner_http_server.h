// Local servers for the prober's tests: a minimal HTTP/1.1 server on 127.0.0.1 (one request per
// connection) and a closed port.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "podrunner/manifest.h"

namespace tether::podrunner {

// What the server answers a request: a status (0: close without answering) and, for a redirect,
// a Location.
struct HttpReply {
  HttpReply(int s) : status(s) {}  // NOLINT: a bare status is the common reply
  HttpReply(int s, std::string l) : status(s), location(std::move(l)) {}
  int status;
  std::string location;
};

// Answers `reply(request)`; keeps every request.
class LocalHttpServer {
 public:
  explicit LocalHttpServer(std::function<HttpReply(const std::string& request)> status)
      : status_(std::move(status)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    EXPECT_EQ(listen(fd_, 16), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~LocalHttpServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p = {.fd = fd_, .events = POLLIN, .revents = 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = read(c, buf, sizeof(buf));
        if (n <= 0) break;
        req.append(buf, n);
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        requests_.push_back(req);
      }
      HttpReply reply = status_(req);
      if (reply.status > 0) {
        std::string body = absl::StrCat("status ", reply.status);
        std::string location =
            reply.location.empty() ? "" : absl::StrCat("Location: ", reply.location, "\r\n");
        std::string resp =
            absl::StrCat("HTTP/1.1 ", reply.status, " X\r\n", location,
                         "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
        (void)!write(c, resp.data(), resp.size());
      }
      close(c);
    }
  }

  std::function<HttpReply(const std::string&)> status_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> requests_;
};

// A port on 127.0.0.1 nobody listens on (bound, then closed); 0 when none could be had.
inline int ClosedLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

// An httpGet handler of 127.0.0.1:`port` with two headers of its own.
inline Handler HttpHandler(int port, const std::string& path) {
  Handler h;
  h.kind = Handler::Kind::kHttpGet;
  h.port = port;
  h.path = path;
  h.http_headers = {{"X-Probe", "yes"}, {"Host", "example.test"}};
  return h;
}

}  // namespace tether::podrunner
