#include "http/framing.h"

#include <gtest/gtest.h>
#include <initializer_list>
#include <utility>

using namespace sprocket::http;
namespace beast_http = boost::beast::http;

namespace {

beast_http::fields header(std::initializer_list<std::pair<beast_http::field, const char*>> fields) {
  beast_http::fields h;
  for (const auto& [name, value] : fields) h.insert(name, value);
  return h;
}

constexpr auto TE = beast_http::field::transfer_encoding;
constexpr auto CL = beast_http::field::content_length;

}  // namespace

TEST(Framing, PlainRequestsPass) {
  EXPECT_FALSE(framing_error(header({}), 11));
  EXPECT_FALSE(framing_error(header({{CL, "5"}}), 11));
  EXPECT_FALSE(framing_error(header({{CL, "0"}}), 10));
  EXPECT_FALSE(framing_error(header({{TE, "chunked"}}), 11));
  EXPECT_FALSE(framing_error(header({{TE, "Chunked"}}), 11));
  EXPECT_FALSE(framing_error(header({{TE, " chunked\t"}}), 11));
  EXPECT_FALSE(framing_error(header({{TE, "chunked, "}}), 11));  // empty list elements are ignored
}

TEST(Framing, AnyCodingButOneFinalChunkedIsRefused) {
  EXPECT_TRUE(framing_error(header({{TE, "chunked, identity"}}), 11));
  EXPECT_TRUE(framing_error(header({{TE, "identity"}}), 11));
  EXPECT_TRUE(framing_error(header({{TE, "xchunked"}}), 11));
  EXPECT_TRUE(framing_error(header({{TE, "gzip, chunked"}}), 11));  // sprocket decodes no gzip
  EXPECT_TRUE(framing_error(header({{TE, "chunked, chunked"}}), 11));
  EXPECT_TRUE(framing_error(header({{TE, "chunked;ext=1"}}), 11));
  EXPECT_TRUE(framing_error(header({{TE, ""}}), 11));
  EXPECT_TRUE(framing_error(header({{TE, "chunked"}, {TE, "identity"}}), 11));  // over two lines
  EXPECT_TRUE(framing_error(header({{TE, "identity"}, {TE, "chunked"}}), 11));
}

TEST(Framing, TransferEncodingWithContentLengthIsRefused) {
  EXPECT_TRUE(framing_error(header({{TE, "chunked"}, {CL, "5"}}), 11));
  EXPECT_TRUE(framing_error(header({{TE, "xchunked"}, {CL, "5"}}), 11));
}

TEST(Framing, TransferEncodingInHttp10IsRefused) { EXPECT_TRUE(framing_error(header({{TE, "chunked"}}), 10)); }

TEST(Framing, ContentLengthMustBeOneNumber) {
  EXPECT_TRUE(framing_error(header({{CL, "5, 5"}}), 11));
  EXPECT_TRUE(framing_error(header({{CL, "5"}, {CL, "5"}}), 11));
  EXPECT_TRUE(framing_error(header({{CL, "5"}, {CL, "6"}}), 11));
  EXPECT_TRUE(framing_error(header({{CL, "+5"}}), 11));
  EXPECT_TRUE(framing_error(header({{CL, ""}}), 11));
}

TEST(Framing, TheMessageSaysWhatToSend) {
  auto why = framing_error(header({{TE, "chunked, identity"}}), 11);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("chunked, identity"), std::string::npos) << *why;
  EXPECT_NE(why->find("single \"chunked\""), std::string::npos) << *why;
}

TEST(Framing, FoldedFramingFieldsAreRefused) {
  // Beast unfolds these into "chunked" and "5": only the raw bytes show the fold.
  EXPECT_TRUE(folded_framing_error("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"));
  EXPECT_TRUE(folded_framing_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\tidentity\r\n\r\n"));
  EXPECT_TRUE(folded_framing_error("POST / HTTP/1.1\r\ncontent-length:\r\n 5\r\n\r\n"));
  EXPECT_TRUE(folded_framing_error("POST / HTTP/1.1\r\nContent-Length : 5\r\n 5\r\nHost: x\r\n\r\n"));
  // Without the request line: Beast consumes it on its own when a header arrives in pieces.
  EXPECT_TRUE(folded_framing_error("Transfer-Encoding:\r\n chunked\r\n\r\n"));
}

TEST(Framing, OtherFoldsAndPlainHeadersPass) {
  EXPECT_FALSE(folded_framing_error("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"));
  EXPECT_FALSE(folded_framing_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Note: a\r\n b\r\n\r\n"));
  // A space inside a value is not a fold; nor is what follows the header section (the body).
  EXPECT_FALSE(folded_framing_error("POST / HTTP/1.1\r\nContent-Length: 5\r\nX-A: b c\r\n\r\n\n ab"));
  EXPECT_FALSE(folded_framing_error(""));
}

TEST(Framing, TheFoldMessageNamesTheField) {
  auto why = folded_framing_error("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n");
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("Transfer-Encoding header is folded"), std::string::npos) << *why;
  EXPECT_NE(why->find("send it on one line"), std::string::npos) << *why;
}

TEST(HostError, ExactlyOneHostInHttp11) {
  constexpr auto HOST = beast_http::field::host;
  EXPECT_FALSE(host_error(header({{HOST, "shop.example"}}), 11));
  EXPECT_FALSE(host_error(header({{HOST, "shop.example:8080"}}), 11));
  EXPECT_FALSE(host_error(header({{HOST, ""}}), 11));  // allowed when the target has no authority
  EXPECT_FALSE(host_error(header({}), 10));             // HTTP/1.0 has no Host
  EXPECT_TRUE(host_error(header({}), 11));
  EXPECT_TRUE(host_error(header({{HOST, "a.example"}, {HOST, "b.example"}}), 11));
  EXPECT_TRUE(host_error(header({{HOST, "a.example"}, {HOST, "a.example"}}), 10));  // even when they agree
  EXPECT_TRUE(host_error(header({{HOST, "a.example, b.example"}}), 11));
  EXPECT_TRUE(host_error(header({{HOST, "a.example b.example"}}), 11));  // what Beast makes of a fold
}

TEST(SplitAbsoluteForm, TakesTheAuthorityAndKeepsPathAndQuery) {
  auto split = split_absolute_form("http://shop.example:8080/_hcms/api/x?a=1");
  ASSERT_TRUE(split);
  EXPECT_EQ(split->authority, "shop.example:8080");
  EXPECT_EQ(split->origin_form, "/_hcms/api/x?a=1");
  auto bare = split_absolute_form("HTTPS://shop.example?q");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->authority, "shop.example");
  EXPECT_EQ(bare->origin_form, "/?q");
  EXPECT_EQ(split_absolute_form("http://shop.example")->origin_form, "/");
  EXPECT_FALSE(split_absolute_form("/_hcms/api/x"));
  EXPECT_FALSE(split_absolute_form("*"));
  EXPECT_FALSE(split_absolute_form("ftp://shop.example/x"));
}
