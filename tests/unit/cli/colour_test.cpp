// --color and NO_COLOR: always and never are obeyed; auto colours only a terminal, and never
// while NO_COLOR holds a value.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <fcntl.h>
#include <unistd.h>

#include "cli/colour.h"

namespace sprocket::cli {
namespace {

class ColourTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* v = std::getenv("NO_COLOR")) saved_ = v;
    ::unsetenv("NO_COLOR");
    pipe_ok_ = ::pipe(pipe_) == 0;
  }
  void TearDown() override {
    if (saved_) ::setenv("NO_COLOR", saved_->c_str(), 1);
    else ::unsetenv("NO_COLOR");
    if (pipe_ok_) {
      ::close(pipe_[0]);
      ::close(pipe_[1]);
    }
  }
  std::optional<std::string> saved_;
  int pipe_[2] = {-1, -1};
  bool pipe_ok_ = false;
};

TEST_F(ColourTest, AlwaysAndNeverAreObeyedWhateverTheOutput) {
  ASSERT_TRUE(pipe_ok_);
  EXPECT_TRUE(colour_wanted("always", pipe_[1]));
  ::setenv("NO_COLOR", "1", 1);
  EXPECT_TRUE(colour_wanted("always", pipe_[1])) << "an explicit flag beats the environment";
  EXPECT_FALSE(colour_wanted("never", pipe_[1]));
}

TEST_F(ColourTest, AutoLeavesAPipePlain) {
  ASSERT_TRUE(pipe_ok_);
  EXPECT_FALSE(colour_wanted("auto", pipe_[1]));
}

TEST_F(ColourTest, AutoColoursATerminalUnlessNoColorHasAValue) {
  int terminal = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (terminal < 0 || ::grantpt(terminal) != 0 || ::unlockpt(terminal) != 0) GTEST_SKIP() << "no pseudo-terminal here";
  int follower = ::open(::ptsname(terminal), O_RDWR | O_NOCTTY);
  ASSERT_GE(follower, 0);
  EXPECT_TRUE(colour_wanted("auto", follower));
  ::setenv("NO_COLOR", "", 1);
  EXPECT_TRUE(colour_wanted("auto", follower)) << "an empty NO_COLOR is unset, by its convention";
  ::setenv("NO_COLOR", "1", 1);
  EXPECT_FALSE(colour_wanted("auto", follower));
  ::close(follower);
  ::close(terminal);
}

}  // namespace
}  // namespace sprocket::cli
