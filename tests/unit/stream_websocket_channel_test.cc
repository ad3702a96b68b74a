#include <gtest/gtest.h>

#include "stream/websocket_channel.h"

namespace tether::stream {
namespace {

TEST(WsNegotiateTest, ClientOrderWins) {
  auto p = NegotiateWsProtocol({"v5.channel.k8s.io, v4.channel.k8s.io"}, WsPurpose::kRemoteCommand);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "v5.channel.k8s.io");
  EXPECT_EQ(p->version, 5);
  p = NegotiateWsProtocol({"v4.channel.k8s.io", "v5.channel.k8s.io"}, WsPurpose::kRemoteCommand);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "v4.channel.k8s.io");
  EXPECT_EQ(p->version, 4);
  EXPECT_FALSE(p->base64);
}

TEST(WsNegotiateTest, SkipsUnknownAndHandlesBase64) {
  auto p =
      NegotiateWsProtocol({"base64url.bearer.authorization.k8s.io.abc, v4.base64.channel.k8s.io"},
                          WsPurpose::kRemoteCommand);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "v4.base64.channel.k8s.io");
  EXPECT_TRUE(p->base64);
  p = NegotiateWsProtocol({"base64.channel.k8s.io"}, WsPurpose::kRemoteCommand);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->version, 1);
  EXPECT_TRUE(p->base64);
}

TEST(WsNegotiateTest, NoneOfferedMeansV1NoneSupportedMeansRefusal) {
  auto p = NegotiateWsProtocol({}, WsPurpose::kRemoteCommand);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "");
  EXPECT_EQ(p->version, 1);
  EXPECT_FALSE(NegotiateWsProtocol({"v9.channel.k8s.io"}, WsPurpose::kRemoteCommand));
}

TEST(WsNegotiateTest, PortForwardProtocols) {
  EXPECT_FALSE(NegotiateWsProtocol({"v5.channel.k8s.io"}, WsPurpose::kPortForward));
  auto p = NegotiateWsProtocol({"v5.channel.k8s.io", "v4.channel.k8s.io"}, WsPurpose::kPortForward);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "v4.channel.k8s.io");
}

TEST(WsNegotiateTest, SpdyTunnelForPortForwardOnly) {
  auto p = NegotiateWsProtocol({"SPDY/3.1+portforward.k8s.io"}, WsPurpose::kPortForward);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->spdy_tunnel);
  EXPECT_FALSE(NegotiateWsProtocol({"SPDY/3.1+portforward.k8s.io"}, WsPurpose::kRemoteCommand));
}

TEST(WsCodecTest, BinaryRoundTrip) {
  WsProtocol v5{"v5.channel.k8s.io", 5, false};
  std::string m = EncodeWsMessage(v5, 1, std::string("a\0b", 3));
  EXPECT_EQ(m, std::string("\x01"
                           "a\0b",
                           4));
  auto d = DecodeWsMessage(v5, m);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d->has_value());
  EXPECT_EQ((*d)->channel, 1);
  EXPECT_EQ((*d)->data, std::string("a\0b", 3));
  EXPECT_FALSE((*d)->close);
}

TEST(WsCodecTest, EmptyMessagesAreIgnoredAndChannelOnlyIsEmptyData) {
  WsProtocol v4{"v4.channel.k8s.io", 4, false};
  auto d = DecodeWsMessage(v4, "");
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->has_value());
  d = DecodeWsMessage(v4, std::string(1, '\0'));
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_EQ((*d)->channel, 0);
  EXPECT_EQ((*d)->data, "");
}

TEST(WsCodecTest, Base64) {
  WsProtocol b64{"v4.base64.channel.k8s.io", 4, true};
  EXPECT_EQ(EncodeWsMessage(b64, 1, "\n"), "1Cg==");
  auto d = DecodeWsMessage(b64, "0Zm9vCg==");
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_EQ((*d)->channel, 0);
  EXPECT_EQ((*d)->data, "foo\n");
  EXPECT_FALSE(DecodeWsMessage(b64, "0!!!").ok());
  EXPECT_FALSE(DecodeWsMessage(b64, "xZm9v").ok());
}

TEST(WsCodecTest, V5CloseSignal) {
  WsProtocol v5{"v5.channel.k8s.io", 5, false};
  auto d = DecodeWsMessage(v5, std::string("\xff\x00", 2));
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_TRUE((*d)->close);
  EXPECT_EQ((*d)->channel, 0);
  EXPECT_FALSE(DecodeWsMessage(v5, std::string("\xff", 1)).ok());
  EXPECT_FALSE(DecodeWsMessage(v5, std::string("\xff\x00\x01", 3)).ok());
  // Before v5, 255 is just a channel number nobody uses.
  WsProtocol v4{"v4.channel.k8s.io", 4, false};
  d = DecodeWsMessage(v4, std::string("\xff\x00", 2));
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_FALSE((*d)->close);
  EXPECT_EQ((*d)->channel, 255);
}

TEST(WsCodecTest, PortPrefixIsLittleEndian) {
  EXPECT_EQ(PortPrefix(8080), std::string("\x90\x1f", 2));
  EXPECT_EQ(PortPrefix(1), std::string("\x01\x00", 2));
}

}  // namespace
}  // namespace tether::stream
