// The bash completion script is made from the command tree: a command or option added to the
// tree completes without a list kept by hand.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include "cli/completion.h"

namespace sprocket::cli {
namespace {

TEST(BashCompletion, ListsEachLevelsCommandsAndOptions) {
  CLI::App app{"test"};
  std::string listen;
  bool json = false;
  auto* serve = app.add_subcommand("serve", "");
  serve->add_option("--listen", listen, "");
  auto* tokens = app.add_subcommand("tokens", "");
  tokens->add_subcommand("create", "");
  tokens->add_subcommand("list", "")->add_flag("--json,-j", json, "");
  std::string action;
  app.add_subcommand("secrets", "")->add_option("action", action, "")->check(CLI::IsMember({"add", "list"}));
  std::string script = bash_completion(app);
  EXPECT_NE(script.find("\"\") echo \"serve tokens secrets\" ;;"), std::string::npos) << script;
  EXPECT_NE(script.find("\"secrets\") echo \"add list\" ;;"), std::string::npos) << script;
  EXPECT_NE(script.find("\"tokens\") echo \"create list\" ;;"), std::string::npos) << script;
  EXPECT_NE(script.find("\"serve\") echo \"--help -h --listen\" ;;"), std::string::npos) << script;
  EXPECT_NE(script.find("\"tokens list\") echo \"--help -h --json -j\" ;;"), std::string::npos) << script;
  EXPECT_NE(script.find("complete -o default -F _sprocket sprocket"), std::string::npos);
}

}  // namespace
}  // namespace sprocket::cli
