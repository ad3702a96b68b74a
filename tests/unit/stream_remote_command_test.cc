#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "stream/remote_command.h"

namespace tether::stream {
namespace {

TEST(StatusJsonTest, SuccessIsKubeletsBytes) {
  EXPECT_EQ(StatusJson(CommandResult::Exited(0)), R"({"metadata":{},"status":"Success"})");
  EXPECT_EQ(StatusText(CommandResult::Exited(0)), "");
}

TEST(StatusJsonTest, NonZeroExitCarriesTheCode) {
  EXPECT_EQ(StatusJson(CommandResult::Exited(3)),
            R"({"metadata":{},"status":"Failure","message":"command terminated with non-zero )"
            R"(exit code: exit status 3","reason":"NonZeroExitCode","details":{"causes":)"
            R"([{"reason":"ExitCode","message":"3"}]}})");
  EXPECT_EQ(StatusText(CommandResult::Exited(3)),
            "command terminated with non-zero exit code: exit status 3");
}

TEST(StatusJsonTest, FailureIsAnInternalError) {
  auto j = nlohmann::json::parse(StatusJson(CommandResult::Failed("no such file")));
  EXPECT_EQ(j["status"], "Failure");
  EXPECT_EQ(j["reason"], "InternalError");
  EXPECT_EQ(j["code"], 500);
  EXPECT_EQ(j["message"], "Internal error occurred: no such file");
  EXPECT_EQ(j["details"]["causes"][0]["message"], "no such file");
  EXPECT_EQ(StatusText(CommandResult::Failed("x")), "Internal error occurred: x");
}

TEST(NegotiateProtocolTest, FirstClientOfferWeSupport) {
  EXPECT_EQ(NegotiateProtocol({"v9.channel.k8s.io", "v4.channel.k8s.io", "v5.channel.k8s.io"},
                              RemoteCommandProtocols()),
            "v4.channel.k8s.io");
  EXPECT_EQ(NegotiateProtocol({"v3.channel.k8s.io,v2.channel.k8s.io"}, RemoteCommandProtocols()),
            "v3.channel.k8s.io");
  EXPECT_FALSE(NegotiateProtocol({"v4.channel.k8s.io"}, PortForwardProtocols()));
  EXPECT_EQ(NegotiateProtocol({"portforward.k8s.io"}, PortForwardProtocols()),
            "portforward.k8s.io");
  EXPECT_EQ(RemoteCommandProtocolVersion("v5.channel.k8s.io"), 5);
  EXPECT_EQ(RemoteCommandProtocolVersion("channel.k8s.io"), 1);
}

TEST(ResizeDecoderTest, ObjectsSplitAnywhere) {
  ResizeDecoder d;
  std::vector<TerminalSize> out;
  std::string all = R"({"Width":80,"Height":24}{"Width":100,"Height":50} {"width":1,"height":2})";
  for (char c : all) ASSERT_TRUE(d.Feed(std::string_view(&c, 1), &out).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], (TerminalSize{80, 24}));
  EXPECT_EQ(out[1], (TerminalSize{100, 50}));
  EXPECT_EQ(out[2], (TerminalSize{1, 2}));
}

TEST(ResizeDecoderTest, StringsWithBracesAndUnknownFields) {
  ResizeDecoder d;
  std::vector<TerminalSize> out;
  ASSERT_TRUE(d.Feed(R"({"x":"}{\"","Width":5,"Height":6,"y":[1,{"z":2}]})", &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], (TerminalSize{5, 6}));
}

TEST(ResizeDecoderTest, ErrorsAreFinal) {
  ResizeDecoder d;
  std::vector<TerminalSize> out;
  EXPECT_FALSE(d.Feed("[1]", &out).ok());
  EXPECT_FALSE(d.Feed(R"({"Width":1,"Height":1})", &out).ok());
  EXPECT_TRUE(out.empty());

  ResizeDecoder neg;
  EXPECT_FALSE(neg.Feed(R"({"Width":-1,"Height":1})", &out).ok());
  ResizeDecoder big;
  EXPECT_FALSE(big.Feed(R"({"Width":70000,"Height":1})", &out).ok());
  ResizeDecoder huge;
  std::string open = "{\"a\":\"" + std::string(ResizeDecoder::kMaxObject + 10, 'x');
  EXPECT_FALSE(huge.Feed(open, &out).ok());
}

// --- RemoteCommandSession with fakes --------------------------------------------------------

struct FakeTransport : Transport {
  struct Sent {
    ChannelId ch;
    std::string data;
  };
  std::vector<Sent> sent;
  std::vector<ChannelId> closed;
  std::vector<Callback> pending;  // `sent` callbacks, run by the test
  bool finished = false;
  void Send(ChannelId ch, std::string data, Callback cb) override {
    sent.push_back({ch, std::move(data)});
    if (cb) pending.push_back(std::move(cb));
  }
  void CloseSend(ChannelId ch) override { closed.push_back(ch); }
  void Reset(ChannelId) override {}
  void Finish() override { finished = true; }
  std::string On(ChannelId ch) const {
    std::string out;
    for (const auto& s : sent) {
      if (s.ch == ch) out += s.data;
    }
    return out;
  }
};

struct FakeBackend : CommandBackend {
  Sink sink;
  std::string stdin_data;
  bool stdin_closed = false, cancelled = false;
  std::vector<TerminalSize> sizes;
  void Start(Sink s) override { sink = std::move(s); }
  void WriteStdin(std::string data, Callback written) override {
    stdin_data += data;
    written();
  }
  void CloseStdin() override { stdin_closed = true; }
  void Resize(TerminalSize size) override { sizes.push_back(size); }
  void Cancel() override { cancelled = true; }
};

TEST(RemoteCommandSessionTest, RelaysAndReportsTheExitCode) {
  auto t = std::make_shared<FakeTransport>();
  auto b = std::make_shared<FakeBackend>();
  std::map<StdStream, ChannelId> ch = {{StdStream::kStdin, 1},
                                       {StdStream::kStdout, 3},
                                       {StdStream::kStderr, 5},
                                       {StdStream::kError, 7}};
  auto s = std::make_shared<RemoteCommandSession>(t, ch, 4, b);
  s->Start();
  int consumed = 0;
  s->OnData(1, "input", [&] { ++consumed; });
  EXPECT_EQ(b->stdin_data, "input");
  EXPECT_EQ(consumed, 1);
  s->OnRemoteClose(1);
  EXPECT_TRUE(b->stdin_closed);
  int resumed = 0;
  b->sink.output(StdStream::kStdout, "out", [&] { ++resumed; });
  b->sink.output(StdStream::kStderr, "err", [&] { ++resumed; });
  ASSERT_EQ(t->pending.size(), 2u);
  for (auto& cb : t->pending) cb();
  EXPECT_EQ(resumed, 2);
  b->sink.done(CommandResult::Exited(2));
  EXPECT_EQ(t->On(3), "out");
  EXPECT_EQ(t->On(5), "err");
  auto status = nlohmann::json::parse(t->On(7));
  EXPECT_EQ(status["details"]["causes"][0]["message"], "2");
  EXPECT_TRUE(t->finished);
  EXPECT_THAT(t->closed, ::testing::UnorderedElementsAre(1, 3, 5, 7));
  EXPECT_FALSE(b->cancelled);
}

TEST(RemoteCommandSessionTest, OldProtocolsWriteTextOnlyOnFailure) {
  auto t = std::make_shared<FakeTransport>();
  auto b = std::make_shared<FakeBackend>();
  auto s = std::make_shared<RemoteCommandSession>(
      t, std::map<StdStream, ChannelId>{{StdStream::kStdout, 1}, {StdStream::kError, 3}}, 2, b);
  s->Start();
  b->sink.done(CommandResult::Exited(0));
  EXPECT_EQ(t->On(3), "");
  EXPECT_TRUE(t->finished);
}

TEST(RemoteCommandSessionTest, ResizeEventsReachTheBackend) {
  auto t = std::make_shared<FakeTransport>();
  auto b = std::make_shared<FakeBackend>();
  auto s = std::make_shared<RemoteCommandSession>(
      t,
      std::map<StdStream, ChannelId>{
          {StdStream::kStdout, 1}, {StdStream::kError, 3}, {StdStream::kResize, 9}},
      5, b);
  s->Start();
  bool consumed = false;
  s->OnData(9, R"({"Width":120,"Height":)", [] {});
  s->OnData(9, R"(40})", [&] { consumed = true; });
  EXPECT_TRUE(consumed);
  ASSERT_EQ(b->sizes.size(), 1u);
  EXPECT_EQ(b->sizes[0], (TerminalSize{120, 40}));
  // Garbage stops decoding, not the session.
  s->OnData(9, "garbage", [] {});
  s->OnData(9, R"({"Width":1,"Height":1})", [] {});
  EXPECT_EQ(b->sizes.size(), 1u);
}

TEST(RemoteCommandSessionTest, ClientGoneCancelsAndNothingIsSentAfter) {
  auto t = std::make_shared<FakeTransport>();
  auto b = std::make_shared<FakeBackend>();
  auto s = std::make_shared<RemoteCommandSession>(
      t, std::map<StdStream, ChannelId>{{StdStream::kStdout, 1}, {StdStream::kError, 3}}, 4, b);
  s->Start();
  s->OnTransportClosed();
  EXPECT_TRUE(b->cancelled);
  b->sink.output(StdStream::kStdout, "late", [] {});
  b->sink.done(CommandResult::Exited(0));
  EXPECT_TRUE(t->sent.empty());
  EXPECT_FALSE(t->finished);
}

TEST(RemoteCommandSessionTest, OutputForAStreamNotOpenedIsDropped) {
  auto t = std::make_shared<FakeTransport>();
  auto b = std::make_shared<FakeBackend>();
  auto s = std::make_shared<RemoteCommandSession>(
      t, std::map<StdStream, ChannelId>{{StdStream::kStdout, 1}, {StdStream::kError, 3}}, 4, b);
  s->Start();
  bool resumed = false;
  b->sink.output(StdStream::kStderr, "nobody", [&] { resumed = true; });
  EXPECT_TRUE(resumed);
  EXPECT_TRUE(t->sent.empty());
}

}  // namespace
}  // namespace tether::stream
