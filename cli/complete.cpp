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
#include "metrics/catalog.hpp"
#include "store/extradata_store.hpp"
#include "vm/extradata.hpp"
#include "vm/state.hpp"

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
      if (which == Which::Startable && vm::is_locked(hv.state(vm))) {
        continue;
      }
      if (which == Which::Running && !vm::is_running_for_list(hv.state(vm))) {
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
    std::optional<std::string_view> inline_value;
    const OptDef* def = match_option(a, defs, &inline_value);
    if (def == nullptr) {
      continue;
    }
    s.used.insert(def->id);
    if (def->kind != ArgKind::None && !inline_value) {
      // GetOpt takes the next word as the value, even one that starts with '-'.
      if (i + 1 == args.size()) {
        s.value_of = def;
      }
      ++i;
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
  std::optional<std::string_view> inline_value;
  const OptDef* def = match_option(cur, defs, &inline_value);
  if (def && inline_value) {
    line.out.set_lead(cur.substr(0, def->name.size() + 1));
    return def;
  }
  return nullptr;
}

/// The id of the option spelled `name` in `defs` (-1 if none).
int id_of(std::span<const OptDef> defs, std::string_view name) {
  const OptDef* def = match_option(name, defs);
  return def ? def->id : -1;
}

/// The 7.x spelling of each option of `defs`: the first "--x" one of each id (VirtualBox's
/// legacy "-x" and older "--x" spellings are understood on the line, not offered). Options
/// already given are left out: repeating them changes nothing or overrides.
void add_options(Line& line, std::span<const OptDef> defs, const Scan& s,
                 std::initializer_list<int> also_skip = {}) {
  std::set<int> offered;
  for (const auto& def : defs) {
    bool skip = std::find(also_skip.begin(), also_skip.end(), def.id) != also_skip.end() ||
                s.used.contains(def.id) || offered.contains(def.id);
    if (def.name.starts_with("--") && !skip) {
      line.out.add(def.name);
      offered.insert(def.id);
    }
  }
}

/// The values of an option: on/off for the on/off ones, else the words it lists.
void add_values(Line& line, const OptDef& def) {
  if (def.kind == ArgKind::OnOff) {
    line.out.add("on");
    line.out.add("off");
  }
  for (auto w : def.values) {
    line.out.add(w);
  }
}

void add_words(Line& line, std::span<const std::string_view> words) {
  for (auto w : words) {
    line.out.add(w);
  }
}

const Subcommand* find_sub(const Grammar& g, std::string_view name) {
  for (const auto& sub : g.subcommands) {
    if (sub.name == name) {
      return &sub;
    }
  }
  return nullptr;
}

// The subcommand a `COMMAND SUB …` line names (null if none); while SUB is still being typed,
// offers every subcommand and returns null.
const Subcommand* typed_subcommand(Line& line, const Grammar& g) {
  if (line.args.empty()) {
    for (const auto& sub : g.subcommands) {
      line.out.add(sub.name);
    }
    return nullptr;
  }
  return find_sub(g, line.args[0]);
}

// The per-command completers: the options, subcommands and keywords come from the command's
// Grammar (the command table); what is here is only where on the line each may go.

void complete_list(Line& line, const Grammar& g) {
  auto s = scan(line.args, g.options);
  if (!line.cur_is_option() && s.positional.empty()) {
    add_words(line, g.words);
  }
  if (line.cur_is_option() || line.out.cur().empty()) {
    add_options(line, g.options, s);
  }
}

void complete_showvminfo(Line& line, const Grammar& g) {
  auto s = scan(line.args, g.options);
  if (!line.cur_is_option() && s.positional.empty()) {
    add_vms(line, Which::All);
  } else if (s.positional.size() <= 1) {
    // --machinereadable and --json are exclusive.
    int machine = id_of(g.options, "--machinereadable");
    int json = id_of(g.options, "--json");
    if (s.used.contains(json)) {
      add_options(line, g.options, s, {machine});
    } else if (s.used.contains(machine)) {
      add_options(line, g.options, s, {json});
    } else {
      add_options(line, g.options, s);
    }
  }
}

void complete_modifyvm(Line& line, const Grammar& g) {
  // modifyvm VM OPTION…: the VM comes first.
  if (line.args.empty()) {
    add_vms(line, Which::All);
    return;
  }
  auto s = scan(line.args.subspan(1), g.options);
  if (const OptDef* def = value_option(line, s, g.options)) {
    add_values(line, *def);
    return;
  }
  // Every option may be repeated (they apply in order), so all are offered every time.
  add_options(line, g.options, Scan{});
}

void complete_startvm(Line& line, const Grammar& g) {
  auto s = scan(line.args, g.options);
  if (const OptDef* def = value_option(line, s, g.options)) {
    add_values(line, *def);
  } else if (line.cur_is_option()) {
    add_options(line, g.options, s);
  } else {
    add_vms(line, Which::Startable, s.positional);
  }
}

void complete_controlvm(Line& line, const Grammar& g) {
  // controlvm VM SUBCOMMAND …: a running (or paused) VM, then what to do with it.
  switch (line.args.size()) {
  case 0: add_vms(line, Which::Running); break;
  case 1:
    for (const auto& sub : g.subcommands) {
      line.out.add(sub.name);
    }
    break;
  default:
    // Options come after the subcommand's own words: shutdown [--force], guestmemoryballoon N
    // [--wait].
    if (const Subcommand* sub = find_sub(g, line.args[1]);
        sub && line.args.size() == 2 + static_cast<size_t>(sub->values)) {
      add_options(line, sub->options, Scan{});
    }
    break;
  }
}

/// metrics' filter: `* | host | VM`, then a comma-separated metric list (base names for setup,
/// enable and disable; full names for list, query and collect).
void complete_metric_filter(Line& line, std::string_view sub, std::span<const std::string> filter) {
  if (filter.empty()) {
    line.out.add("*");
    line.out.add("host");
    add_vms(line, Which::Running);
    return;
  }
  if (filter.size() > 1) {
    return; // later words are ignored by VBoxManage
  }
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
      for (const auto& b : metrics::base_metrics(kind)) {
        line.out.add(b);
      }
    } else {
      for (const auto& m : metrics::full_metrics(kind)) {
        line.out.add(m.name());
      }
    }
  }
}

void complete_metrics(Line& line, const Grammar& g) {
  // metrics SUB [options] [* | host | VM [metric-list]]: options only before the object.
  const Subcommand* sub = typed_subcommand(line, g);
  if (sub == nullptr) {
    return;
  }
  auto rest = line.args.subspan(1);
  size_t i = 0;
  for (; i < rest.size(); ++i) {
    // Options before the object, each value a word of its own ("--period=5" is an object).
    std::optional<std::string_view> inline_value;
    const OptDef* def = match_option(rest[i], sub->options, &inline_value);
    if (def == nullptr || inline_value || (def->name == "--json" && i != 0)) {
      break;
    }
    if (def->kind != ArgKind::None && ++i == rest.size()) {
      return; // a number comes next
    }
  }
  auto filter = rest.subspan(i);
  if (filter.empty() && line.cur_is_option()) {
    // --json (query) only as the first word.
    Scan used;
    if (!rest.empty()) {
      used.used.insert(id_of(sub->options, "--json"));
    }
    add_options(line, sub->options, used);
    return;
  }
  complete_metric_filter(line, sub->name, filter);
}

void complete_pagefusion(Line& line, const Grammar& g) {
  // pagefusion status [--json] | pagefusion manage on|off
  if (line.args.empty()) {
    std::vector<std::string_view> names;
    for (const auto& sub : g.subcommands) {
      names.push_back(sub.name);
    }
    std::sort(names.begin(), names.end());
    add_words(line, names);
  } else if (const Subcommand* sub = find_sub(g, line.args[0]); sub && line.args.size() == 1) {
    add_options(line, sub->options, Scan{});
    add_words(line, sub->words);
  }
}

/// The keys the scope named by `first` ("global", a VM's name or UUID) already has, from the
/// existing store read-only (Services::existing_store): completion never creates or writes it.
void add_extradata_keys(Line& line, const std::string& first) {
  try {
    store::Connection* db = line.services.existing_store();
    if (db == nullptr) {
      return;
    }
    vm::ExtraDataScope scope = vm::ExtraDataScope::global();
    if (first != "global") {
      auto& hv = line.services.hypervisor(line.uri, Access::ReadOnly);
      auto vm = hv.find_vm(first);
      if (!vm) {
        return;
      }
      scope = vm::ExtraDataScope::machine(hv, *vm);
    }
    store::ExtraDataStore extradata(*db);
    for (const auto& key : extradata.keys(scope.key)) {
      line.out.add(key);
    }
  } catch (const std::exception&) {
    // no store, an older one, no connection: no keys
  }
}

/// getextradata/setextradata SCOPE KEY …: "global" or a VM, then (getextradata) "enumerate",
/// and the keys that scope has. Nothing for a value.
void complete_extradata(Line& line, const Grammar& g) {
  if (line.args.empty()) {
    add_words(line, g.vm_words);
    add_vms(line, Which::All);
  } else if (line.args.size() == 1) {
    add_words(line, g.words);
    add_extradata_keys(line, line.args[0]);
  }
}

/// guestproperty SUB VM NAME …: the subcommand, a VM, then (after the subcommand's words) its
/// options; enumerate's options anywhere after the VM.
void complete_guestproperty(Line& line, const Grammar& g) {
  const Subcommand* sub = typed_subcommand(line, g);
  if (sub == nullptr) {
    return;
  }
  if (line.args.size() == 1) {
    add_vms(line, Which::All);
  } else if (sub->name == "enumerate" ? line.cur_is_option()
                                      : line.args.size() == 1 + static_cast<size_t>(sub->values)) {
    add_options(line, sub->options, Scan{});
  }
}

void complete_balloonctrl(Line& line, const Grammar& g) {
  // balloonctrl [options] | balloonctrl status [--json] [--explain VM]
  if (!line.args.empty() && line.args[0] == "status") {
    const Subcommand* sub = find_sub(g, "status");
    auto s = scan(line.args.subspan(1), sub->options);
    if (value_option(line, s, sub->options)) {
      add_vms(line, Which::All); // --explain VM
    } else {
      add_options(line, sub->options, s);
    }
    return;
  }
  auto s = scan(line.args, g.options);
  if (const OptDef* def = value_option(line, s, g.options)) {
    add_values(line, *def);
    return;
  }
  if (line.args.empty() && !line.cur_is_option()) {
    line.out.add("status");
  }
  add_options(line, g.options, s);
}

struct Completer {
  std::string_view command;
  void (*complete)(Line&, const Grammar&);
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
    {"getextradata", complete_extradata},
    {"setextradata", complete_extradata},
    {"guestproperty", complete_guestproperty},
    {"balloonctrl", complete_balloonctrl},
};

void complete(std::span<const std::string> words, Candidates& out, Services& services) {
  std::optional<std::string> uri;
  bool help = false;
  size_t i = 1;
  auto globals = global_options();
  for (; i < words.size(); ++i) {
    const std::string& a = words[i];
    std::optional<std::string_view> inline_value;
    const OptDef* def = match_option(a, globals, &inline_value);
    if (def && def->kind == ArgKind::String && !inline_value) {
      if (++i == words.size()) {
        return; // the current word is a URI or a settings password (file)
      }
      if (def->id == k_global_connect) {
        uri = words[i];
      }
    } else if (a.starts_with("@")) {
      continue; // a response file: its words are not known here
    } else if (def && def->id == k_global_connect) {
      uri = std::string(*inline_value);
    } else if (a.starts_with("-c") && a.size() > 2 && a[2] != '-') {
      uri = a.substr(2);
    } else if (a == "help" || (def && def->id == k_global_help)) {
      help = true;
    } else if (def == nullptr) {
      break;
    }
  }
  if (i == words.size()) {
    // The command word (or a global option before it): the long spellings, then the short.
    if (out.cur().starts_with("-")) {
      if (!help) {
        for (bool long_form : {true, false}) {
          std::set<int> offered;
          for (const auto& def : globals) {
            bool shape = long_form ? def.name.starts_with("--") : def.name.size() == 2;
            if (shape && def.id != k_global_help && offered.insert(def.id).second) {
              out.add(def.name);
            }
          }
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
  const Command* cmd = find_command(words[i]);
  for (const auto& c : k_completers) {
    if (cmd && c.command == cmd->name) {
      Line line{words.subspan(i + 1), out, services, uri};
      c.complete(line, cmd->grammar());
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
