// __dump-cli: the command table as JSON, like nix's `__dump-cli`: for every command its
// options (each spelling, its value kind and the words its value may be), keywords and
// subcommands, and the global options. The man-page check (man/check-man-options.sh) and the
// completion tests read it, so they cover every command from the one table.

#include "cli/app.hpp"

#include <nlohmann/json.hpp>

namespace vbm::cli {

namespace {
using nlohmann::ordered_json;

std::string_view kind_name(ArgKind kind) {
  switch (kind) {
  case ArgKind::None: return "none";
  case ArgKind::String: return "string";
  case ArgKind::UInt32: return "uint32";
  case ArgKind::OnOff: return "on|off";
  }
  return "none";
}

ordered_json options_json(std::span<const OptDef> defs) {
  auto out = ordered_json::array();
  for (const auto& def : defs) {
    ordered_json o{{"name", def.name}, {"id", def.id}, {"value", kind_name(def.kind)}};
    if (!def.values.empty()) {
      o["values"] = def.values;
    }
    out.push_back(o);
  }
  return out;
}

std::string_view vm_name(Grammar::Vm vm) {
  switch (vm) {
  case Grammar::Vm::Any: return "any";
  case Grammar::Vm::Running: return "running";
  case Grammar::Vm::Startable: return "startable";
  case Grammar::Vm::None: break;
  }
  return "none";
}
} // namespace

int run_dump_cli(std::span<const std::string>, Output& out, Services&) {
  ordered_json j;
  j["global_options"] = options_json(global_options());
  j["commands"] = ordered_json::array();
  for (const auto& cmd : commands()) {
    auto g = cmd.grammar();
    auto help = cmd.help();
    ordered_json c{{"name", cmd.name},
                   {"purpose", help.purpose},
                   {"synopses", help.synopses},
                   {"vm", vm_name(g.vm)},
                   {"options", options_json(g.options)},
                   {"words", g.words}};
    c["vm_words"] = g.vm_words;
    c["subcommands"] = ordered_json::array();
    for (const auto& sub : g.subcommands) {
      c["subcommands"].push_back(
          {{"name", sub.name}, {"options", options_json(sub.options)}, {"words", sub.words}});
    }
    j["commands"].push_back(c);
  }
  out.out(j.dump(2) + "\n");
  return 0;
}

} // namespace vbm::cli
