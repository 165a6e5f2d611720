#include "cli/app.hpp"

#include "backend/hypervisor.hpp"
#include "cli/errors.hpp"
#include "cli/exit_codes.hpp"
#include "metrics/collector_main.hpp"
#include "pagefusion/controller_main.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>

namespace vbm::cli {

namespace {
constexpr Command k_commands[] = {
    {"list", list_help, run_list, list_grammar},
    {"showvminfo", showvminfo_help, run_showvminfo, showvminfo_grammar},
    {"modifyvm", modifyvm_help, run_modifyvm, modifyvm_grammar},
    {"startvm", startvm_help, run_startvm, startvm_grammar},
    {"controlvm", controlvm_help, run_controlvm, controlvm_grammar},
    {"metrics", metrics_help, run_metrics, metrics_grammar},
    {"pagefusion", pagefusion_help, run_pagefusion, pagefusion_grammar},
    {"getextradata", getextradata_help, run_getextradata, getextradata_grammar},
    {"setextradata", setextradata_help, run_setextradata, setextradata_grammar},
    {"balloonctrl", balloonctrl_help, run_balloonctrl, balloonctrl_grammar, true},
};

constexpr OptDef k_global_options[] = {
    {"-c", k_global_connect, ArgKind::String},
    {"--connect", k_global_connect, ArgKind::String},
    {"-q", k_global_nologo, ArgKind::None},
    {"--nologo", k_global_nologo, ArgKind::None},
    {"-nologo", k_global_nologo, ArgKind::None},
    {"-V", k_global_version, ArgKind::None},
    {"--version", k_global_version, ArgKind::None},
    {"-v", k_global_version, ArgKind::None},
    {"-version", k_global_version, ArgKind::None},
    {"-Version", k_global_version, ArgKind::None},
    {"-h", k_global_help, ArgKind::None},
    {"--help", k_global_help, ArgKind::None},
    {"-?", k_global_help, ArgKind::None},
    {"-help", k_global_help, ArgKind::None},
};

// The hidden commands: not in help or usage. The background processes' loops are their
// libraries' (metrics/, pagefusion/); here they are only dispatched.
struct Hidden {
  std::string_view name;
  int (*run)(std::span<const std::string> args, Output& out, Services& services);
};
constexpr Hidden k_hidden[] = {
    {"__complete", run_complete},
    {"__dump-cli", run_dump_cli},
    {"__collector",
     [](std::span<const std::string> args, Output&, Services& s) {
       return metrics::collector_main(args, s.store(), s.daemon_hooks());
     }},
    {"__pagefusiond",
     [](std::span<const std::string> args, Output&, Services& s) {
       return pagefusion::controller_main(args, s.daemon_hooks());
     }},
};

CommandHelp global_help() {
  return {"",
          "VirtualBox-compatible command-line interface for KVM hosts",
          {"[-V|--version] [-q|--nologo] [-c|--connect=URI] [[help] <subcommand>]"},
          "Global options:\n"
          "  -c, --connect URI   libvirt connection URI (default: libvirt's own default,\n"
          "                      so LIBVIRT_DEFAULT_URI works), e.g. qemu+tcp://host/system\n"
          "  -q, --nologo        suppress the logo\n"
          "  -V, --version       print the version and exit\n"
          "\nEnvironment:\n"
          "  VBOX_USER_HOME      directory of the settings store (default ~/.config/vboxkvm)\n"};
}

std::string global_usage(std::string_view prog, int width) {
  auto help = global_help();
  std::string out = fmt::format("Usage - {}:\n\n", help.purpose);
  out += wrap_synopsis(fmt::format("{} {}", prog, help.synopses[0]), width);
  for (const auto& cmd : k_commands) {
    for (const auto& syn : cmd.help().synopses) {
      out += '\n';
      out += wrap_synopsis(fmt::format("{} {} {}", prog, cmd.name, syn), width);
    }
  }
  out += '\n';
  out += help.details;
  return out;
}

// Lines VBoxManageHelp.cpp counts to decide whether to repeat the error after the usage.
constexpr int k_repeat_after_usage_lines = 16;

void print_usage_error(const UsageError& e, Output& out, int width) {
  if (e.style == UsageStyle::Argument) {
    out.error(e.what());
    return;
  }
  out.err(logo());
  out.error(e.what());
  if (e.style == UsageStyle::Syntax) {
    out.err("\n");
  }
  const Command* cmd = find_command(e.command);
  std::string usage =
      cmd ? brief_usage(cmd->help(), out.prog(), width, e.scope) : global_usage(out.prog(), width);
  out.err(usage);
  if (std::count(usage.begin(), usage.end(), '\n') >= k_repeat_after_usage_lines) {
    out.err("\n");
    out.error(e.what());
  }
}

// VirtualBox's single-dash and '?' spellings of the global options, mapped to what CLI11 parses.
std::string normalize_global(const std::string& arg) {
  if (arg == "-v" || arg == "-version" || arg == "-Version") {
    return "--version";
  }
  if (arg == "-nologo") {
    return "--nologo";
  }
  if (arg == "-?" || arg == "-help" || arg == "help") {
    return "--help";
  }
  return arg;
}

int dispatch(const std::vector<std::string>& args, Output& out, Services& services, int width) {
  for (const auto& hidden : k_hidden) {
    if (!args.empty() && args[0] == hidden.name) {
      return hidden.run(std::span<const std::string>(args).subspan(1), out, services);
    }
  }
  // Global options, left to right, up to the first word that is not one (VBoxManage.cpp main).
  CLI::App app;
  app.set_help_flag();
  app.prefix_command();
  std::string uri;
  bool nologo = false;
  bool version = false;
  bool help = false;
  app.add_option("-c,--connect", uri);
  app.add_flag("-q,--nologo", nologo);
  app.add_flag("-V,--version", version);
  app.add_flag("-h,--help", help);
  std::vector<std::string> argv;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    std::string a = normalize_global(args[i]);
    bool takes_value = a == "-c" || a == "--connect";
    bool global = takes_value || a == "--version" || a == "--nologo" || a == "--help" ||
                  a == "-q" || a == "-V" || a == "-h" || a.starts_with("--connect=") ||
                  (a.starts_with("-c") && a.size() > 2 && a[2] != '-');
    if (!global) {
      break;
    }
    argv.push_back(a);
    if (takes_value && i + 1 < args.size()) {
      argv.push_back(args[++i]);
    }
  }
  std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  try {
    std::reverse(argv.begin(), argv.end()); // CLI11 2.1 parses a reversed vector
    app.parse(argv);
  } catch (const CLI::ParseError& e) {
    throw UsageError(UsageStyle::Syntax, "", e.what(), k_exit_syntax);
  }
  Env env{out, services, uri.empty() ? std::nullopt : std::optional(uri), width};
  if (version) {
    out.out(version_string() + "\n");
    return k_exit_success;
  }
  if (rest.empty()) {
    out.out(logo() + global_usage(out.prog(), width));
    return help ? k_exit_success : k_exit_failure;
  }
  const Command* cmd = find_command(rest[0]);
  if (!cmd) {
    throw UsageError(UsageStyle::Syntax, "", fmt::format("Invalid command '{}'", rest[0]),
                     k_exit_syntax);
  }
  if (help) {
    // VirtualBox returns RTEXITCODE_FAILURE even when help was asked for (spec §1.1).
    auto h = cmd->help();
    out.out(logo() + brief_usage(h, out.prog(), width) + "\n" + h.details);
    return k_exit_failure;
  }
  if (rest.size() == 1 && !cmd->runs_bare) {
    out.out(brief_usage(cmd->help(), out.prog(), width));
    return k_exit_failure;
  }
  return cmd->run(std::span<const std::string>(rest).subspan(1), env);
}
} // namespace

std::span<const Command> commands() { return k_commands; }

std::span<const OptDef> global_options() { return k_global_options; }

void print_error(const Error& e, Output& out) {
  out.error(e.what());
  for (const auto& line : e.detail_lines()) {
    out.error(line);
  }
}

const Command* find_command(std::string_view name) {
  for (const auto& c : k_commands) {
    if (c.name == name) {
      return &c;
    }
  }
  return nullptr;
}

int run_app(const std::vector<std::string>& args, Output& out, Services& services) {
  int width = screen_width();
  try {
    return dispatch(args, out, services, width);
  } catch (const UsageError& e) {
    print_usage_error(e, out, width);
    return e.exit_code();
  } catch (const Error& e) {
    print_error(e, out);
    return e.exit_code();
  } catch (const std::exception& e) {
    out.error(fmt::format("internal error: {}", e.what()));
    return k_exit_failure;
  }
}

} // namespace vbm::cli
