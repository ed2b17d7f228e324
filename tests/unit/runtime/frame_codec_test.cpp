#include "runtime/frame_codec.h"

#include <gtest/gtest.h>

using namespace sprocket::runtime;

TEST(FrameCodec, RoundTripsFramesSplitAnywhere) {
  std::string stream;
  append_frame(stream, "{\"a\":1}");
  append_frame(stream, "");
  std::string big(100000, 'x');
  append_frame(stream, big);
  FrameDecoder decoder;
  std::vector<std::string> out;
  for (std::size_t i = 0; i < stream.size(); i += 7) {
    decoder.feed(stream.data() + i, std::min<std::size_t>(7, stream.size() - i));
    while (auto frame = decoder.next()) out.push_back(*frame);
  }
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "{\"a\":1}");
  EXPECT_EQ(out[1], "");
  EXPECT_EQ(out[2], big);
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(FrameCodec, HeaderIsLittleEndian) {
  std::string frame;
  append_frame(frame, std::string(258, 'y'));
  EXPECT_EQ(static_cast<unsigned char>(frame[0]), 2);
  EXPECT_EQ(static_cast<unsigned char>(frame[1]), 1);
  EXPECT_EQ(frame[2], 0);
  std::string built = begin_frame();
  built += std::string(258, 'y');
  finish_frame(built);
  EXPECT_EQ(built, frame);
}

TEST(FrameCodec, RejectsOversizedFrames) {
  FrameDecoder decoder;
  const char header[4] = {'\xff', '\xff', '\xff', '\x7f'};
  decoder.feed(header, 4);
  EXPECT_THROW(decoder.next(), std::runtime_error);
}
