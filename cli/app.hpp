#pragma once
// The program: global options, THE command table, dispatch, and the one catch ladder that
// turns every error into VirtualBox's message frame and exit code.

#include "backend/hypervisor.hpp"
#include "cli/getopt.hpp"
#include "cli/output.hpp"
#include "cli/usage.hpp"
#include "store/settings_store.hpp"
#include "sys/daemon.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace vbm::cli {

enum class Access { ReadOnly, ReadWrite };

/// What commands run against. main.cpp wires the real libvirt connection and SQLite file;
/// tests wire FakeHypervisor and an in-memory store. Opened lazily, so a syntax error never
/// touches either.
struct Services {
  std::function<backend::Hypervisor&(const std::optional<std::string>& uri, Access)> hypervisor;
  std::function<store::SettingsStore&()> store;
  std::function<std::int64_t()> now_ms;
  std::function<void(int ms)> sleep_ms;
  /// Whether stderr is a terminal (progress is shown only there).
  std::function<bool()> stderr_is_terminal = [] { return false; };
  /// Makes sure the store's background metrics collector runs (metrics setup/enable/collect);
  /// returns a line saying which process collects. main.cpp spawns `__collector` if none runs.
  std::function<std::string()> ensure_collector = [] {
    return std::string("collector not started");
  };
  /// Where /sys and /proc are read from (`pagefusion status`); tests point it at a fake tree.
  std::filesystem::path host_root = "/";
  /// Makes sure the host's page-fusion controller runs, watching connection `uri` (startvm of a
  /// page-fusion guest, `pagefusion manage on`); returns its PID, "" if it is still starting.
  /// main.cpp spawns `__pagefusiond` if none runs. Throws std::runtime_error.
  std::function<std::string(const std::string& uri)> ensure_pagefusiond = [](const std::string&) {
    return std::string();
  };
  /// True once SIGINT, SIGTERM or SIGHUP asked a long-running command (metrics collect) to
  /// stop (sys/signals.hpp).
  std::function<bool()> stop_requested = [] { return false; };
  /// For completion: the existing store opened read-only (never created, migrated or written,
  /// and only if it is the user's own), or null. main.cpp opens it at the first call.
  std::function<store::Connection*()> existing_store = [] {
    return static_cast<store::Connection*>(nullptr);
  };

  /// The clock and the stop signal, for a background process's frame (sys::Daemon).
  sys::Daemon::Hooks daemon_hooks() const { return {now_ms, sleep_ms, stop_requested}; }
};

/// What one command invocation sees.
struct Env {
  Output& out;
  Services& services;
  std::optional<std::string> uri; ///< --connect, else libvirt's default
  int width = 80;                 ///< for usage text
  backend::Hypervisor& hypervisor(Access a) { return services.hypervisor(uri, a); }
  store::SettingsStore& store() { return services.store(); }
  std::int64_t now_ms() { return services.now_ms(); }
  void sleep_ms(int ms) { services.sleep_ms(ms); }
};

/// A subcommand and what it takes (controlvm VM guestmemoryballoon, metrics setup, …).
struct Subcommand {
  std::string_view name;
  std::span<const OptDef> options;
  std::span<const std::string_view> words = {}; ///< keywords it takes (manage on|off)
  int values = 0; ///< words it takes before its options (guestmemoryballoon's size)
};

/// What a command's words may be: the one description its parser, completion, `__dump-cli`
/// and the man-page check all read.
struct Grammar {
  std::span<const OptDef> options; ///< the command's options (after its VM, if any)
  std::span<const Subcommand> subcommands;
  std::span<const std::string_view> words = {}; ///< keywords it takes (list vms|runningvms)
  /// The first word is a VM; which ones completion offers.
  enum class Vm { None, Any, Running, Startable } vm = Vm::None;
  /// Keywords that may stand where the VM goes (getextradata global).
  std::span<const std::string_view> vm_words = {};
};

struct Command {
  std::string_view name;
  CommandHelp (*help)();
  int (*run)(std::span<const std::string> args, Env& env);
  Grammar (*grammar)();
  /// Runs with no arguments (balloonctrl, as VBoxBalloonCtrl does); the others print their
  /// brief usage then, as VBoxManage's commands do.
  bool runs_bare = false;
};

/// The global options (before the command), each spelling VBoxManage.cpp accepts; the first
/// of each kind is the one completion offers.
enum GlobalOption {
  k_global_connect,
  k_global_nologo,
  k_global_version,
  k_global_help,
  k_global_detailed_progress,
  k_global_settingspw,
  k_global_settingspwfile,
};
std::span<const OptDef> global_options();

/// THE command table, in help order.
std::span<const Command> commands();
const Command* find_command(std::string_view name);

/// Prints an error's lines: the message, then those its frame adds (an API error's Details and
/// Context, as CHECK_ERROR prints them).
void print_error(const Error& e, Output& out);

/// Runs `args` (without argv[0]); returns the exit code. Never throws.
int run_app(const std::vector<std::string>& args, Output& out, Services& services);

/// The hidden `__complete CWORD WORDS…`: completion candidates for the shell scripts
/// (cli/complete.cpp). Not in the command table, so help and usage never show it.
int run_complete(std::span<const std::string> args, Output& out, Services& services);

/// The hidden `__dump-cli`: the command table as JSON (commands, options, value kinds,
/// subcommands), for the man-page check and completion tests (cli/dump_cli.cpp).
int run_dump_cli(std::span<const std::string> args, Output& out, Services& services);

// The commands (one file each).
Grammar list_grammar();
Grammar showvminfo_grammar();
Grammar modifyvm_grammar();
Grammar startvm_grammar();
Grammar controlvm_grammar();
Grammar metrics_grammar();
Grammar pagefusion_grammar();
Grammar getextradata_grammar();
Grammar setextradata_grammar();
Grammar balloonctrl_grammar();
Grammar guestproperty_grammar();
CommandHelp list_help();
int run_list(std::span<const std::string> args, Env& env);
CommandHelp showvminfo_help();
int run_showvminfo(std::span<const std::string> args, Env& env);
CommandHelp modifyvm_help();
int run_modifyvm(std::span<const std::string> args, Env& env);
CommandHelp startvm_help();
int run_startvm(std::span<const std::string> args, Env& env);
CommandHelp controlvm_help();
int run_controlvm(std::span<const std::string> args, Env& env);
CommandHelp metrics_help();
int run_metrics(std::span<const std::string> args, Env& env);
CommandHelp pagefusion_help();
int run_pagefusion(std::span<const std::string> args, Env& env);
CommandHelp getextradata_help();
int run_getextradata(std::span<const std::string> args, Env& env);
CommandHelp setextradata_help();
int run_setextradata(std::span<const std::string> args, Env& env);
CommandHelp guestproperty_help();
int run_guestproperty(std::span<const std::string> args, Env& env);
CommandHelp balloonctrl_help();
int run_balloonctrl(std::span<const std::string> args, Env& env);

} // namespace vbm::cli
