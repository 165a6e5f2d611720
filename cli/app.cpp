#include "cli/app.hpp"

#include "backend/hypervisor.hpp"
#include "cli/errors.hpp"
#include "cli/exit_codes.hpp"
#include "metrics/collector_main.hpp"
#include "pagefusion/controller_main.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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
    {"guestproperty", guestproperty_help, run_guestproperty, guestproperty_grammar},
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
    {"-d", k_global_detailed_progress, ArgKind::None},
    {"--detailed-progress", k_global_detailed_progress, ArgKind::None},
    {"--settingspw", k_global_settingspw, ArgKind::String},
    {"--settingspwfile", k_global_settingspwfile, ArgKind::String},
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
          {"[-V|--version] [-q|--nologo] [-d|--detailed-progress] [--settingspw <pw>] "
           "[--settingspwfile <file>] [@<response-file>] [-c|--connect=URI] [[help] "
           "<subcommand>]"},
          "Global options:\n"
          "  -c, --connect URI   libvirt connection URI (default: libvirt's own default,\n"
          "                      so LIBVIRT_DEFAULT_URI works), e.g. qemu+tcp://host/system\n"
          "  -q, --nologo        suppress the logo\n"
          "  -V, --version       print the version and exit\n"
          "  -d, --detailed-progress  accepted; progress is always shown as 0%...100%\n"
          "  --settingspw <pw>, --settingspwfile <file>\n"
          "                      accepted (vboxkvm has no encrypted settings)\n"
          "  @<response-file>    more arguments from a file, split as a Bourne shell would\n"
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

// VBoxManageHelp.cpp's ERROR_REPEAT_AFTER_USAGE_LENGTH: errorSyntax and errorGetOpt print the
// error once more after a brief usage of this many lines or more (the lines after "Usage…:").
constexpr int k_repeat_after_usage_lines = 16;

// How long VirtualBox 7.0.14's own brief usage of a whole command is, at 80 columns (where
// scripts read it: `2>&1 | tail -1` makes stderr a pipe, which IPRT gives 80 columns), for
// the commands where it reaches 16 lines; ours are shorter because they list only what
// vboxkvm does. The repeat follows VirtualBox's length, so the last line of a failed
// modifyvm or controlvm is the error, as scripts expect. A subcommand's usage ("Usage:" and
// its synopsis, e.g. controlvm … guestmemoryballoon) is short in VirtualBox too: our own
// length decides there, as it does for every other command.
struct VboxUsageLength {
  std::string_view command;
  int lines;
};
constexpr VboxUsageLength k_vbox_usage_lines[] = {
    {"modifyvm", 110},  // one synopsis of ~300 options (spec §1.5)
    {"controlvm", 118}, // 59 synopses, each after a blank line (at least 2 lines each)
};

int vbox_usage_lines(std::string_view command) {
  for (const auto& v : k_vbox_usage_lines) {
    if (v.command == command) {
      return v.lines;
    }
  }
  return 0;
}

// showLogo: at most once per process, on the stream the first caller chose.
struct Frame {
  bool logo_shown = false;
  void logo(Output& out, bool to_stdout) {
    if (!logo_shown) {
      logo_shown = true;
      to_stdout ? out.out(cli::logo()) : out.err(cli::logo());
    }
  }
};

void print_usage_error(const UsageError& e, Output& out, int width, Frame& frame) {
  if (e.style == UsageStyle::Argument) {
    out.error(e.what());
    return;
  }
  frame.logo(out, false);
  out.error(e.what());
  if (e.style == UsageStyle::Syntax) {
    out.err("\n");
  }
  const Command* cmd = find_command(e.command);
  std::string usage =
      cmd ? brief_usage(cmd->help(), out.prog(), width, e.scope) : global_usage(out.prog(), width);
  out.err(usage);
  // printBriefCommandOrSubcommandHelp's count leaves out the "Usage…:" line.
  int lines = static_cast<int>(std::count(usage.begin(), usage.end(), '\n')) - 1;
  if (e.scope.empty()) {
    lines = std::max(lines, vbox_usage_lines(e.command));
  }
  if (lines >= k_repeat_after_usage_lines) {
    out.err("\n");
    out.error(e.what());
  }
}

// IPRT's status name (%Rrc) for what RTErrConvertFromErrno makes of an errno.
std::string_view iprt_status(int err) {
  switch (err) {
  case ENOENT: return "VERR_FILE_NOT_FOUND";
  case ENOTDIR: return "VERR_PATH_NOT_FOUND";
  case EACCES:
  case EPERM: return "VERR_ACCESS_DENIED";
  case EISDIR: return "VERR_IS_A_DIRECTORY";
  case ENAMETOOLONG: return "VERR_FILENAME_TOO_LONG";
  case ELOOP: return "VERR_TOO_MANY_SYMLINKS";
  case EIO: return "VERR_DEV_IO_ERROR";
  default: return "VERR_UNRESOLVED_ERROR";
  }
}

/// Reads up to `limit` bytes of a file ("stdin" is standard input when `stdin_name`), or, with
/// no limit, as many bytes as the file's size says (RTFileReadAllEx: a pipe or a device such as
/// /dev/zero reads as empty); the errno of a failed open (first) or read (second).
struct ReadResult {
  std::string data;
  int open_errno = 0;
  int read_errno = 0;
};
ReadResult read_file(const std::string& path, size_t limit, bool stdin_name) {
  ReadResult r;
  bool from_stdin = stdin_name && path == "stdin";
  int fd = from_stdin ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    r.open_errno = errno;
    return r;
  }
  if (limit == SIZE_MAX) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      r.read_errno = errno;
    }
    limit = S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) : 0;
    if (S_ISDIR(st.st_mode)) {
      r.read_errno = EISDIR;
    }
  }
  char buf[4096];
  while (r.data.size() < limit) {
    ssize_t n = ::read(fd, buf, std::min(sizeof buf, limit - r.data.size()));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      r.read_errno = errno;
      break;
    }
    if (n == 0) {
      break;
    }
    r.data.append(buf, static_cast<size_t>(n));
  }
  if (!from_stdin) {
    ::close(fd);
  }
  return r;
}

// RTStrValidateEncoding: well-formed UTF-8 (no overlong forms, surrogates or code points
// above U+10FFFF).
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    int extra = c < 0x80             ? 0
                : (c & 0xE0) == 0xC0 ? 1
                : (c & 0xF0) == 0xE0 ? 2
                : (c & 0xF8) == 0xF0 ? 3
                                     : -1;
    if (extra < 0 || i + static_cast<size_t>(extra) >= s.size()) {
      return false;
    }
    std::uint32_t cp = extra == 0 ? c : c & (0x3F >> extra);
    for (int k = 1; k <= extra; ++k) {
      auto cc = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      if ((cc & 0xC0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    constexpr std::uint32_t k_min[] = {0, 0x80, 0x800, 0x10000};
    if (cp < k_min[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += static_cast<size_t>(extra) + 1;
  }
  return true;
}

// main()'s `@file`: the file's words, split as RTGetOptArgvFromString (Bourne shell) does.
std::vector<std::string> response_file_words(const std::string& path) {
  auto r = read_file(path, SIZE_MAX, false);
  if (r.open_errno != 0 || r.read_errno != 0) {
    throw Error(fmt::format("Error reading response file '{}': {}", path,
                            iprt_status(r.open_errno != 0 ? r.open_errno : r.read_errno)),
                k_exit_failure);
  }
  std::string_view text(r.data);
  text = text.substr(0, text.find('\0')); // RTFILE_RDALL_F_TRAILING_ZERO_BYTE: a C string
  if (!valid_utf8(text)) {
    throw Error(
        fmt::format("Invalid response file ('{}') encoding: VERR_INVALID_UTF8_ENCODING", path),
        k_exit_failure);
  }
  return split_bourne_sh(text);
}

// settingsPasswordFile (Frontends/Common/PasswordInput.cpp): the first line of the file (up to
// 511 bytes, to the first control character); "stdin" reads standard input. Only its errors
// matter here: vboxkvm has no settings secret to give it to.
void read_settings_password_file(const std::string& path) {
  auto r = read_file(path, 511, true);
  if (r.open_errno != 0) {
    throw Error(fmt::format("Cannot open password file '{}' ({})", path, iprt_status(r.open_errno)),
                k_exit_failure);
  }
  if (r.read_errno != 0) {
    // RTStrmReadEx reports a failed fread as VERR_READ_ERROR, whatever errno says.
    throw Error(fmt::format("Cannot read password from file '{}': VERR_READ_ERROR", path),
                k_exit_failure);
  }
}

bool is_global(std::string_view arg, GlobalOption kind) {
  return std::any_of(std::begin(k_global_options), std::end(k_global_options),
                     [&](const OptDef& d) { return d.id == kind && d.name == arg; });
}

int dispatch(std::vector<std::string> args, Output& out, Services& services, int width,
             Frame& frame) {
  for (const auto& hidden : k_hidden) {
    if (!args.empty() && args[0] == hidden.name) {
      return hidden.run(std::span<const std::string>(args).subspan(1), out, services);
    }
  }
  // VBoxManage.cpp main(): the global options, left to right, up to the first word that is
  // not one; `i` walks the words, `cmd` is where the command is (they differ after a value).
  bool show_logo = false;
  bool show_help = false;
  std::optional<std::string> uri;
  std::optional<std::string> settings_pw;
  std::optional<std::string> settings_pw_file;
  bool response_file_read = false;
  size_t cmd = 0;
  for (size_t i = 0; i < args.size() || args.size() <= cmd; ++i) {
    if (args.size() <= cmd || args[i] == "help" || is_global(args[i], k_global_help)) {
      if (i + 1 >= args.size()) {
        // Nothing after it: the logo (whatever -q said) and the global usage, exit 0.
        frame.logo(out, true);
        out.out(global_usage(out.prog(), width));
        return k_exit_success;
      }
      show_logo = true;
      show_help = true;
      ++cmd;
      continue;
    }
    const std::string& a = args[i];
    if (is_global(a, k_global_version)) {
      out.out(version_string() + "\n");
      return k_exit_success;
    }
    if (is_global(a, k_global_nologo)) {
      show_logo = false;
      ++cmd;
    } else if (is_global(a, k_global_detailed_progress)) {
      ++cmd; // accepted: vboxkvm's progress has one format
    } else if (is_global(a, k_global_settingspw) || is_global(a, k_global_settingspwfile)) {
      bool file = a == "--settingspwfile";
      if (i + 1 >= args.size()) {
        throw Error(file ? "No password file specified" : "Password expected", k_exit_failure);
      }
      // VirtualBox takes the value without stepping over it: the next round looks at the
      // value itself, which ends the global options unless it looks like one.
      (file ? settings_pw_file : settings_pw) = args[i + 1];
      cmd += 2;
    } else if (a == "-c" || a == "--connect") {
      // vboxkvm's own: -c URI, --connect URI, --connect=URI, -cURI.
      if (i + 1 >= args.size()) {
        throw UsageError(UsageStyle::Argument, "", "Connection URI expected", k_exit_syntax);
      }
      uri = args[++i];
      cmd += 2;
    } else if (a.starts_with("--connect=") ||
               (a.starts_with("-c") && a.size() > 2 && a[2] != '-')) {
      uri = a.substr(a.starts_with("--") ? 10 : 2);
      ++cmd;
    } else if (a.starts_with("@")) {
      if (response_file_read) {
        throw Error("Only one response file allowed", k_exit_failure);
      }
      response_file_read = true;
      auto words = response_file_words(a.substr(1));
      // Its words go right after the @file word, so they may hold global options and the
      // command too.
      args.insert(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, words.begin(), words.end());
      ++cmd;
    } else {
      break;
    }
  }
  if (show_logo) {
    frame.logo(out, true);
  }
  std::span<const std::string> rest = std::span<const std::string>(args).subspan(cmd);
  const Command* command = find_command(rest[0]);
  if (command && (show_help || (rest.size() == 1 && !command->runs_bare))) {
    auto h = command->help();
    if (show_help) {
      // VirtualBox returns RTEXITCODE_FAILURE even when help was asked for (spec §1.1).
      out.out(brief_usage(h, out.prog(), width) + "\n" + h.details);
    } else {
      out.out(brief_usage(h, out.prog(), width));
    }
    return k_exit_failure;
  }
  if (!command) {
    throw UsageError(UsageStyle::Syntax, "", fmt::format("Invalid command '{}'", rest[0]),
                     k_exit_syntax);
  }
  // Where VirtualBox hands the password to IVirtualBox::SetSettingsSecret, right before the
  // command runs (--settingspw wins over --settingspwfile).
  if (settings_pw || settings_pw_file) {
    if (!settings_pw) {
      read_settings_password_file(*settings_pw_file);
    }
    out.warning(fmt::format("{} ignored: vboxkvm keeps no encrypted settings",
                            settings_pw ? "--settingspw" : "--settingspwfile"));
  }
  Env env{out, services, uri, width};
  return command->run(rest.subspan(1), env);
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
  Frame frame;
  try {
    return dispatch(args, out, services, width, frame);
  } catch (const UsageError& e) {
    print_usage_error(e, out, width, frame);
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
