// __complete: the completion candidates for one word of a command line, one per line. The shell
// scripts in completions/ are thin adaptors over it (style §9): the grammar lives here, next to
// the command table and modifyvm's option table, not in shell. Hidden: not in help or usage.
//
//   vboxmanage __complete CWORD WORD0 WORD1 …   (WORD0 is the program; WORD[CWORD] is being
//                                                completed, and may be missing for "")
//
// Candidates are printed raw (names with spaces or quotes as they are); quoting them is the
// shell's job. Only candidates that start with the current word are printed. Options are
// offered in their dashed 7.x spellings, and only where VBoxManage accepts them; the legacy
// spellings are understood on the line. Errors (no libvirt, bad URI) just mean fewer
// candidates: nothing goes to stderr, and the exit code is 0.

#include "cli/app.hpp"
#include "cli/vm_settings.hpp"
#include "cli/vm_state.hpp"
#include "metrics/catalog.hpp"

#include <algorithm>
#include <charconv>
#include <set>

namespace vbm::cli {

namespace {

/// The words to print, filtered by the typed prefix. `lead` is typed text that is part of the
/// current word but not of the candidates ("--large-pages=" when completing its value).
class Candidates {
public:
  explicit Candidates(std::string cur) : m_cur(std::move(cur)) {}
  const std::string& cur() const { return m_cur; }
  void add(std::string_view word) {
    std::string full = m_lead + std::string(word);
    if (full.starts_with(m_cur) && full.find('\n') == std::string::npos &&
        std::find(m_words.begin(), m_words.end(), full) == m_words.end()) {
      m_words.push_back(std::move(full));
    }
  }
  void set_lead(std::string lead) { m_lead = std::move(lead); }
  const std::vector<std::string>& words() const { return m_words; }

private:
  std::string m_cur;
  std::string m_lead;
  std::vector<std::string> m_words;
};

/// What a completer sees: the command's arguments before the current word, and where to add.
struct Line {
  std::span<const std::string> args;
  Candidates& out;
  Services& services;
  std::optional<std::string> uri; ///< -c/--connect found on the line
  bool cur_is_option() const { return out.cur().starts_with("-"); }
};

enum class Which { All, Startable, Running };

/// The VMs of the connection (sorted by name), except those named in `skip`.
void add_vms(Line& line, Which which, const std::vector<std::string>& skip = {}) {
  std::vector<std::string> names;
  try {
    auto& hv = line.services.hypervisor(line.uri, Access::ReadOnly);
    for (const auto& vm : hv.list_vms()) {
      if (which == Which::Startable && is_locked(hv.state(vm))) {
        continue;
      }
      if (which == Which::Running && !is_running_for_list(hv.state(vm))) {
        continue;
      }
      if (std::find(skip.begin(), skip.end(), vm.name) == skip.end()) {
        names.push_back(vm.name);
      }
    }
  } catch (const std::exception&) {
    return; // no connection, no names
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    line.out.add(n);
  }
}

/// The command's arguments read as its option parser (GetOpt) reads them.
struct Scan {
  std::vector<std::string> positional; ///< the non-option words
  std::set<int> used;                  ///< ids of the options given
  const OptDef* value_of = nullptr;    ///< the current word is this option's value
};

Scan scan(std::span<const std::string> args, std::span<const OptDef> defs) {
  Scan s;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || a.size() < 2 || a[0] != '-') {
      s.positional.push_back(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    for (const auto& def : defs) {
      if (a == def.name) {
        s.used.insert(def.id);
        if (def.kind != ArgKind::None) {
          // GetOpt takes the next word as the value, even one that starts with '-'.
          if (i + 1 == args.size()) {
            s.value_of = &def;
          }
          ++i;
        }
        break;
      }
      if (def.kind != ArgKind::None && a.size() > def.name.size() && a.starts_with(def.name) &&
          (a[def.name.size()] == '=' || a[def.name.size()] == ':')) {
        s.used.insert(def.id);
        break;
      }
    }
  }
  return s;
}

/// When the current word is an option's value — "--opt VALUE" or "--opt=VALUE" — the option
/// (with "--opt=" set as the candidates' lead); else null.
const OptDef* value_option(Line& line, const Scan& s, std::span<const OptDef> defs) {
  if (s.value_of) {
    return s.value_of;
  }
  const std::string& cur = line.out.cur();
  for (const auto& def : defs) {
    if (def.kind != ArgKind::None && cur.size() > def.name.size() && cur.starts_with(def.name) &&
        (cur[def.name.size()] == '=' || cur[def.name.size()] == ':')) {
      line.out.set_lead(cur.substr(0, def.name.size() + 1));
      return &def;
    }
  }
  return nullptr;
}

/// The dashed spellings of `defs` ("--x"; VirtualBox's legacy "-x" ones are not offered).
/// Options already given are left out: repeating them changes nothing or overrides.
void add_options(Line& line, std::span<const OptDef> defs, const Scan& s,
                 std::initializer_list<int> also_skip = {}) {
  for (const auto& def : defs) {
    bool skip = std::find(also_skip.begin(), also_skip.end(), def.id) != also_skip.end() ||
                s.used.contains(def.id);
    if (def.name.starts_with("--") && !skip) {
      line.out.add(def.name);
    }
  }
}

/// The values of an option: on/off for the on/off ones, else `words`.
void add_values(Line& line, const OptDef& def, std::initializer_list<std::string_view> words = {}) {
  if (def.kind == ArgKind::OnOff) {
    line.out.add("on");
    line.out.add("off");
  }
  for (auto w : words) {
    line.out.add(w);
  }
}

// The per-command completers. Their option tables mirror the command files' (list.cpp, …);
// tests/unit/test_complete.cpp checks them against each command's help synopsis.

void complete_list(Line& line) {
  enum { k_long, k_sorted };
  static constexpr OptDef defs[] = {{"--long", k_long, ArgKind::None},
                                    {"-l", k_long, ArgKind::None},
                                    {"--sorted", k_sorted, ArgKind::None},
                                    {"-s", k_sorted, ArgKind::None}};
  auto s = scan(line.args, defs);
  if (!line.cur_is_option() && s.positional.empty()) {
    line.out.add("vms");
    line.out.add("runningvms");
  }
  if (line.cur_is_option() || line.out.cur().empty()) {
    add_options(line, defs, s);
  }
}

void complete_showvminfo(Line& line) {
  enum { k_details, k_machinereadable, k_json };
  static constexpr OptDef defs[] = {{"--details", k_details, ArgKind::None},
                                    {"-details", k_details, ArgKind::None},
                                    {"--machinereadable", k_machinereadable, ArgKind::None},
                                    {"-machinereadable", k_machinereadable, ArgKind::None},
                                    {"--json", k_json, ArgKind::None}};
  auto s = scan(line.args, defs);
  if (!line.cur_is_option() && s.positional.empty()) {
    add_vms(line, Which::All);
  } else if (s.positional.empty() || s.positional.size() == 1) {
    // --machinereadable and --json are exclusive.
    if (s.used.contains(k_json)) {
      add_options(line, defs, s, {k_machinereadable});
    } else if (s.used.contains(k_machinereadable)) {
      add_options(line, defs, s, {k_json});
    } else {
      add_options(line, defs, s);
    }
  }
}

void complete_modifyvm(Line& line) {
  // modifyvm VM OPTION…: the VM comes first.
  if (line.args.empty()) {
    add_vms(line, Which::All);
    return;
  }
  auto defs = setting_option_defs();
  auto s = scan(line.args.subspan(1), defs);
  if (const OptDef* def = value_option(line, s, defs)) {
    add_values(line, *def);
    return;
  }
  // Every option may be repeated (they apply in order), so all are offered every time.
  for (const auto& def : setting_table()) {
    line.out.add(def.flag);
  }
}

void complete_startvm(Line& line) {
  enum { k_type };
  static constexpr OptDef defs[] = {{"--type", k_type, ArgKind::String},
                                    {"-type", k_type, ArgKind::String}};
  auto s = scan(line.args, defs);
  if (const OptDef* def = value_option(line, s, defs)) {
    add_values(line, *def, {"headless", "gui", "sdl", "separate"});
  } else if (line.cur_is_option()) {
    add_options(line, defs, s);
  } else {
    add_vms(line, Which::Startable, s.positional);
  }
}

void complete_controlvm(Line& line) {
  // controlvm VM SUBCOMMAND …: a running (or paused) VM, then what to do with it.
  switch (line.args.size()) {
  case 0: add_vms(line, Which::Running); break;
  case 1:
    for (auto sub : {"guestmemoryballoon", "poweroff", "acpipowerbutton", "pause", "resume"}) {
      line.out.add(sub);
    }
    break;
  case 3:
    if (line.args[1] == "guestmemoryballoon") {
      line.out.add("--wait"); // our extension, after the size
    }
    break;
  default: break;
  }
}

void complete_metrics(Line& line) {
  // metrics SUB [options] [* | host | VM [metric-list]]: options only before the object.
  constexpr std::string_view k_subs[] = {"collect", "disable", "enable", "list", "query", "setup"};
  if (line.args.empty()) {
    for (auto sub : k_subs) {
      line.out.add(sub);
    }
    return;
  }
  const std::string& sub = line.args[0];
  std::vector<std::string_view> opts;
  if (sub == "setup" || sub == "collect") {
    opts = {"--list", "--period", "--samples"};
  } else if (sub == "enable" || sub == "disable") {
    opts = {"--list"};
  }
  if (sub == "collect") {
    opts.push_back("--detach");
  }
  auto rest = line.args.subspan(1);
  size_t i = 0;
  bool json = sub == "query" && !rest.empty() && rest[0] == "--json";
  i = json ? 1 : 0;
  for (; i < rest.size(); ++i) {
    if (rest[i] == "--period" || rest[i] == "--samples") {
      if (++i == rest.size()) {
        return; // a number comes next
      }
    } else if (std::find(opts.begin(), opts.end(), rest[i]) == opts.end()) {
      break;
    }
  }
  auto filter = rest.subspan(i);
  if (filter.empty()) {
    if (line.cur_is_option()) {
      for (auto o : opts) {
        line.out.add(o);
      }
      if (sub == "query" && rest.empty()) {
        line.out.add("--json");
      }
      return;
    }
    line.out.add("*");
    line.out.add("host");
    add_vms(line, Which::Running);
    return;
  }
  if (filter.size() > 1) {
    return; // later words are ignored by VBoxManage
  }
  // A metric list: complete the pattern after the last comma. setup/enable/disable take base
  // names; list, query and collect full names.
  bool base = sub == "setup" || sub == "enable" || sub == "disable";
  const std::string& cur = line.out.cur();
  line.out.set_lead(cur.substr(0, cur.rfind(',') == std::string::npos ? 0 : cur.rfind(',') + 1));
  std::vector<metrics::ObjectKind> kinds;
  if (filter[0] != "host") {
    kinds.push_back(metrics::ObjectKind::Vm);
  }
  if (filter[0] == "host" || filter[0] == "*") {
    kinds.insert(kinds.begin(), metrics::ObjectKind::Host);
  }
  for (auto kind : kinds) {
    if (base) {
      for (auto b : metrics::base_metrics(kind)) {
        line.out.add(b);
      }
    } else {
      for (const auto& m : metrics::full_metrics(kind)) {
        line.out.add(m.name());
      }
    }
  }
}

void complete_pagefusion(Line& line) {
  // pagefusion status [--json] | pagefusion manage on|off
  if (line.args.empty()) {
    line.out.add("manage");
    line.out.add("status");
  } else if (line.args.size() == 1 && line.args[0] == "status") {
    line.out.add("--json");
  } else if (line.args.size() == 1 && line.args[0] == "manage") {
    line.out.add("on");
    line.out.add("off");
  }
}

struct Completer {
  std::string_view command;
  void (*complete)(Line&);
};
/// One per entry of the command table (a test checks that none is missing).
constexpr Completer k_completers[] = {
    {"list", complete_list},
    {"showvminfo", complete_showvminfo},
    {"modifyvm", complete_modifyvm},
    {"startvm", complete_startvm},
    {"controlvm", complete_controlvm},
    {"metrics", complete_metrics},
    {"pagefusion", complete_pagefusion},
};

// The global options (app.cpp dispatch): those that take no value, and the help words.
constexpr std::string_view k_global_flags[] = {"-q",        "--nologo", "-nologo",  "-V",
                                               "--version", "-v",       "-version", "-Version"};
constexpr std::string_view k_help_words[] = {"-h", "--help", "-?", "-help", "help"};

template <size_t N>
bool one_of(std::string_view w, const std::string_view (&set)[N]) {
  return std::find(std::begin(set), std::end(set), w) != std::end(set);
}

void complete(std::span<const std::string> words, Candidates& out, Services& services) {
  std::optional<std::string> uri;
  bool help = false;
  size_t i = 1;
  for (; i < words.size(); ++i) {
    const std::string& a = words[i];
    if (a == "-c" || a == "--connect") {
      if (++i == words.size()) {
        return; // the current word is a URI
      }
      uri = words[i];
    } else if (a.starts_with("--connect=")) {
      uri = a.substr(10);
    } else if (a.starts_with("-c") && a.size() > 2 && a[2] != '-') {
      uri = a.substr(2);
    } else if (one_of(a, k_help_words)) {
      help = true;
    } else if (!one_of(a, k_global_flags)) {
      break;
    }
  }
  if (i == words.size()) {
    // The command word (or a global option before it).
    if (out.cur().starts_with("-")) {
      if (!help) {
        for (auto o : {"--connect", "--nologo", "--version", "-c", "-q", "-V"}) {
          out.add(o);
        }
      }
      return;
    }
    for (const auto& cmd : commands()) {
      out.add(cmd.name);
    }
    if (!help) {
      out.add("help");
    }
    return;
  }
  if (help) {
    return; // help takes one command name
  }
  for (const auto& c : k_completers) {
    if (c.command == words[i]) {
      Line line{words.subspan(i + 1), out, services, uri};
      c.complete(line);
    }
  }
}

} // namespace

int run_complete(std::span<const std::string> args, Output& out, Services& services) {
  size_t cword = 0;
  if (args.empty() ||
      std::from_chars(args[0].data(), args[0].data() + args[0].size(), cword).ec != std::errc() ||
      cword == 0 || cword > args.size() - 1) {
    out.err("usage: __complete CWORD WORD0 WORD1... (WORD[CWORD] is completed)\n");
    return 2;
  }
  auto words = args.subspan(1);
  Candidates candidates(cword < words.size() ? words[cword] : "");
  complete(words.first(cword), candidates, services);
  for (const auto& w : candidates.words()) {
    out.out(w + "\n");
  }
  return 0;
}

} // namespace vbm::cli
