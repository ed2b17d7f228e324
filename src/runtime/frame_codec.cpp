#include "runtime/frame_codec.h"

#include <stdexcept>

namespace sprocket::runtime {

void append_frame(std::string& out, std::string_view payload) {
  auto n = static_cast<std::uint32_t>(payload.size());
  char header[kFrameHeaderSize] = {static_cast<char>(n & 0xFF), static_cast<char>((n >> 8) & 0xFF),
                                   static_cast<char>((n >> 16) & 0xFF), static_cast<char>((n >> 24) & 0xFF)};
  out.append(header, kFrameHeaderSize);
  out.append(payload);
}

void finish_frame(std::string& frame) {
  auto n = static_cast<std::uint32_t>(frame.size() - kFrameHeaderSize);
  frame[0] = static_cast<char>(n & 0xFF);
  frame[1] = static_cast<char>((n >> 8) & 0xFF);
  frame[2] = static_cast<char>((n >> 16) & 0xFF);
  frame[3] = static_cast<char>((n >> 24) & 0xFF);
}

void FrameDecoder::feed(const char* data, std::size_t size) {
  // Drop consumed bytes only occasionally so that feeding stays amortised O(n).
  if (consumed_ > 0 && consumed_ * 2 >= buffer_.size()) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(data, size);
}

namespace {
constexpr std::size_t kKeptBufferBytes = 256 * 1024;
}  // namespace

std::optional<std::string> FrameDecoder::next() {
  if (buffered() < kFrameHeaderSize) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + consumed_);
  std::uint32_t n = p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
  if (n > kMaxFrameSize) throw std::runtime_error("frame of " + std::to_string(n) + " bytes exceeds the maximum");
  if (buffered() < kFrameHeaderSize + n) return std::nullopt;
  std::string payload = buffer_.substr(consumed_ + kFrameHeaderSize, n);
  consumed_ += kFrameHeaderSize + n;
  if (consumed_ == buffer_.size()) {
    // A buffer that grew for one large answer (a 5 MB body) is given back, not kept by every
    // instance that ever sent one; small ones are kept, to be reused.
    if (buffer_.capacity() > kKeptBufferBytes) {
      std::string().swap(buffer_);
    } else {
      buffer_.clear();
    }
    consumed_ = 0;
  }
  return payload;
}

}  // namespace sprocket::runtime
