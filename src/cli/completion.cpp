#include "cli/completion.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <vector>

namespace sprocket::cli {

namespace {

struct CommandWords {
  std::string path;  // "" for the top level, "tokens create" below it
  std::vector<std::string> commands;
  std::vector<std::string> options;
  std::vector<std::string> values;  // the choices of its positionals (secrets: add, update, list, delete)
};

// A positional checked with CLI::IsMember has its choices in its type name: "TEXT:{add,update}".
std::vector<std::string> choices_of(const CLI::Option& positional) {
  std::string type = positional.get_type_name();
  auto open = type.find(":{");
  auto close = type.find('}', open);
  if (open == std::string::npos || close == std::string::npos) return {};
  std::vector<std::string> choices;
  std::string list = type.substr(open + 2, close - open - 2);
  for (std::size_t start = 0; start <= list.size();) {
    auto comma = std::min(list.find(',', start), list.size());
    if (comma > start) choices.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return choices;
}

void collect(const CLI::App& app, const std::string& path, std::vector<CommandWords>& out) {
  CommandWords words{path, {}, {}, {}};
  auto subcommands = app.get_subcommands([](const CLI::App* c) { return !c->get_name().empty(); });
  for (const auto* c : subcommands) words.commands.push_back(c->get_name());
  for (const auto* option : app.get_options()) {
    for (const auto& name : option->get_lnames()) words.options.push_back("--" + name);
    for (const auto& name : option->get_snames()) words.options.push_back("-" + name);
    if (option->get_positional() && !option->nonpositional()) {
      auto choices = choices_of(*option);
      words.values.insert(words.values.end(), choices.begin(), choices.end());
    }
  }
  out.push_back(std::move(words));
  for (const auto* c : subcommands) collect(*c, path.empty() ? c->get_name() : path + " " + c->get_name(), out);
}

// A bash function printing, for the command path in $1, one of the word lists.
std::string lookup_function(const std::string& name, const std::vector<CommandWords>& tree,
                            std::vector<std::string> CommandWords::*list) {
  std::string out = fmt::format("{}() {{\n  case \"$1\" in\n", name);
  for (const auto& words : tree) {
    if ((words.*list).empty()) continue;
    out += fmt::format("    \"{}\") echo \"{}\" ;;\n", words.path, fmt::join(words.*list, " "));
  }
  out += "  esac\n}\n";
  return out;
}

}  // namespace

std::string bash_completion(const CLI::App& app) {
  std::vector<CommandWords> tree;
  collect(app, "", tree);
  std::string out =
      "# bash completion for sprocket, made by `sprocket completion bash` from its own commands.\n"
      "# Load it now with: source <(sprocket completion bash)\n"
      "# or for every shell: sprocket completion bash > /etc/bash_completion.d/sprocket\n";
  out += lookup_function("_sprocket_commands", tree, &CommandWords::commands);
  out += lookup_function("_sprocket_options", tree, &CommandWords::options);
  out += lookup_function("_sprocket_values", tree, &CommandWords::values);
  // The command path is made of the words before the cursor that name a command of the level
  // reached so far; option values and file names in between are skipped.
  out += R"bash(_sprocket() {
  local cur="${COMP_WORDS[COMP_CWORD]}" path="" word i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="${COMP_WORDS[i]}"
    case " $(_sprocket_commands "$path") " in
      *" $word "*) path="${path:+$path }$word" ;;
    esac
  done
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(_sprocket_options "$path")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(_sprocket_commands "$path") $(_sprocket_values "$path")" -- "$cur"))
  fi
}
complete -o default -F _sprocket sprocket
)bash";
  return out;
}

}  // namespace sprocket::cli
