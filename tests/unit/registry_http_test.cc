// HttpClient's connection reuse: pooled easy handles keep connections alive per origin,
// the pool is bounded, and no handle or connection outlives its use (errors included).
#include "image/registry_http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace tether {
namespace {

// A keep-alive HTTP/1.1 server on 127.0.0.1: answers every GET with a small body, keeps the
// connection open, and counts connections accepted and still open.
class KeepAliveServer {
 public:
  explicit KeepAliveServer(absl::Duration delay = absl::ZeroDuration()) : delay_(delay) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 64);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~KeepAliveServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    acceptor_.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (int c : conns_) shutdown(c, SHUT_RDWR);
    for (auto& t : workers_) t.join();
    for (int c : conns_) close(c);
    close(fd_);
  }
  std::string Url(const std::string& path = "/v2/") const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }
  int accepted() const { return accepted_.load(); }
  int open() const { return open_.load(); }
  // Waits (bounded) until at most `n` connections are open; returns the count then.
  int WaitOpenAtMost(int n) const {
    for (int i = 0; i < 200 && open_.load() > n; ++i) absl::SleepFor(absl::Milliseconds(10));
    return open_.load();
  }

 private:
  void AcceptLoop() {
    while (!stop_) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (stop_) return;
        continue;
      }
      ++accepted_;
      ++open_;
      std::lock_guard<std::mutex> lock(mu_);
      conns_.push_back(c);
      workers_.emplace_back([this, c] { Serve(c); });
    }
  }
  void Serve(int c) {
    std::string in;
    char buf[4096];
    for (;;) {
      size_t end = in.find("\r\n\r\n");
      if (end != std::string::npos) {
        bool not_found = absl::StartsWith(in, "GET /missing");
        in.erase(0, end + 4);
        if (delay_ > absl::ZeroDuration()) absl::SleepFor(delay_);
        std::string body = not_found ? "{\"errors\":[]}" : "hello";
        std::string resp = absl::StrCat("HTTP/1.1 ", not_found ? "404 Not Found" : "200 OK",
                                        "\r\nContent-Length: ", body.size(), "\r\n\r\n", body);
        if (send(c, resp.data(), resp.size(), MSG_NOSIGNAL) < 0) break;
        continue;
      }
      ssize_t n = recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
    }
    --open_;
  }

  absl::Duration delay_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0}, open_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> conns_;
  std::vector<std::thread> workers_;
};

HttpRequest Get(const std::string& url) {
  HttpRequest r;
  r.url = url;
  r.deadline = absl::Now() + absl::Seconds(10);
  return r;
}

TEST(HttpClientPool, OriginOf) {
  EXPECT_EQ(HttpClient::OriginOf("https://Registry.Example:443/v2/x"), "https://registry.example");
  EXPECT_EQ(HttpClient::OriginOf("http://127.0.0.1:5000/v2/"), "http://127.0.0.1:5000");
  EXPECT_EQ(HttpClient::OriginOf("http://h:80?x"), "http://h");
  EXPECT_EQ(HttpClient::OriginOf("https://h"), "https://h");
}

TEST(HttpClientPool, SequentialRequestsReuseOneConnection) {
  KeepAliveServer server;
  HttpClient client;
  for (int i = 0; i < 20; ++i) {
    auto r = client.Do(Get(server.Url()));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello");
  }
  // An error status keeps the connection too.
  auto missing = client.Do(Get(server.Url("/missing")));
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(client.live_handles(), 1u);
  EXPECT_EQ(client.idle_handles(), 1u);
}

TEST(HttpClientPool, HandlesGoBackToTheirOrigin) {
  // One connection per handle: reuse depends on handing each origin its own handle.
  KeepAliveServer a(absl::Milliseconds(200)), b(absl::Milliseconds(200));
  HttpClientOptions options;
  options.max_connects_per_handle = 1;
  HttpClient client(options);
  {
    // Two requests at once make two handles, one per origin.
    std::thread ta([&] { EXPECT_TRUE(client.Do(Get(a.Url())).ok()); });
    std::thread tb([&] { EXPECT_TRUE(client.Do(Get(b.Url())).ok()); });
    ta.join();
    tb.join();
  }
  ASSERT_EQ(client.idle_handles(), 2u);
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(client.Do(Get(a.Url())).ok());
    ASSERT_TRUE(client.Do(Get(b.Url())).ok());
  }
  EXPECT_EQ(a.accepted(), 1);
  EXPECT_EQ(b.accepted(), 1);
  EXPECT_EQ(client.live_handles(), 2u);
}

TEST(HttpClientPool, PoolIsBoundedAndNothingLeaks) {
  KeepAliveServer server(absl::Milliseconds(300));
  HttpClientOptions options;
  options.max_idle_handles = 2;
  options.max_connects_per_handle = 1;
  auto client = std::make_unique<HttpClient>(options);
  // Six requests at once: six handles, six connections.
  absl::Notification go;
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      go.WaitForNotification();
      EXPECT_TRUE(client->Do(Get(server.Url())).ok());
    });
  }
  go.Notify();
  for (auto& t : threads) t.join();
  EXPECT_EQ(server.accepted(), 6);
  // Only two handles stay, each with one connection; the others were closed.
  EXPECT_EQ(client->idle_handles(), 2u);
  EXPECT_EQ(client->live_handles(), 2u);
  EXPECT_LE(server.WaitOpenAtMost(2), 2);
  // Failures give their handle back too: refused connection, deadline, cancelled, sink error.
  HttpRequest refused = Get("http://127.0.0.1:1/v2/");
  EXPECT_FALSE(client->Do(refused).ok());
  HttpRequest late = Get(server.Url());
  late.deadline = absl::Now() + absl::Milliseconds(50);
  EXPECT_EQ(client->Do(late).status().code(), absl::StatusCode::kDeadlineExceeded);
  std::atomic<bool> cancel{true};
  HttpRequest cancelled = Get(server.Url());
  cancelled.cancel = &cancel;
  EXPECT_EQ(client->Do(cancelled).status().code(), absl::StatusCode::kCancelled);
  HttpRequest sink = Get(server.Url());
  sink.sink = [](const HttpResponse&, const char*, size_t) {
    return absl::DataLossError("no thanks");
  };
  EXPECT_EQ(client->Do(sink).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_LE(client->live_handles(), 2u);
  EXPECT_EQ(client->live_handles(), client->idle_handles());
  // The client's end closes every connection.
  client.reset();
  EXPECT_EQ(server.WaitOpenAtMost(0), 0);
}

TEST(HttpClientPool, IdleHandlesExpire) {
  KeepAliveServer server;
  HttpClientOptions options;
  options.idle_timeout = absl::Milliseconds(1);
  HttpClient client(options);
  ASSERT_TRUE(client.Do(Get(server.Url())).ok());
  EXPECT_EQ(server.accepted(), 1);
  absl::SleepFor(absl::Milliseconds(20));
  // The expired handle is closed before the next request, which connects anew.
  ASSERT_TRUE(client.Do(Get(server.Url())).ok());
  EXPECT_EQ(server.accepted(), 2);
  EXPECT_EQ(client.live_handles(), 1u);
  EXPECT_LE(server.WaitOpenAtMost(1), 1);
}

}  // namespace
}  // namespace tether
