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
