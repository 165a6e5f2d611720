// guestproperty get | set | unset | enumerate | wait: VBoxManageGuestProp.cpp (7.0.14)
// handleGuestProperty and its handlers, their syntax checks, output and exit codes. What a
// property's value is (live from libvirt, or stored) is vm/guest_properties.hpp's.

#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "vm/guest_properties.hpp"
#include "vm/state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

namespace vbm::cli {

namespace {
constexpr std::string_view k_file = "VBoxManageGuestProp.cpp";
constexpr std::string_view k_find_context =
    "FindMachine(Bstr(a->argv[0]).raw(), machine.asOutParam())";

enum Opt {
  k_verbose,
  k_flags,
  k_old_format,
  k_sort,
  k_unsort,
  k_timestamp,
  k_no_timestamp,
  k_abs,
  k_rel,
  k_show_flags,
  k_no_flags,
  k_patterns,
  k_timeout,
  k_fail_on_timeout,
};

// get's and set's and wait's words are compared with strcmp, not parsed by RTGetOpt: these
// rows are for completion and the man-page check.
constexpr OptDef k_get_opts[] = {{"--verbose", k_verbose, ArgKind::None}};
constexpr OptDef k_set_opts[] = {{"--flags", k_flags, ArgKind::String}};
constexpr OptDef k_wait_opts[] = {{"--timeout", k_timeout, ArgKind::String},
                                  {"--fail-on-timeout", k_fail_on_timeout, ArgKind::None}};
// handleEnumGuestProperty's s_aOptions.
constexpr OptDef k_enum_opts[] = {
    {"--old-format", k_old_format, ArgKind::None},
    {"--sort", k_sort, ArgKind::None},
    {"--unsort", k_unsort, ArgKind::None},
    {"--timestamp", k_timestamp, ArgKind::None},
    {"--ts", k_timestamp, ArgKind::None},
    {"--no-timestamp", k_no_timestamp, ArgKind::None},
    {"--abs", k_abs, ArgKind::None},
    {"--absolute", k_abs, ArgKind::None},
    {"--rel", k_rel, ArgKind::None},
    {"--relative", k_rel, ArgKind::None},
    {"--no-ts", k_no_timestamp, ArgKind::None},
    {"--flags", k_show_flags, ArgKind::None},
    {"--no-flags", k_no_flags, ArgKind::None},
    {"--patterns", k_patterns, ArgKind::String},
    {"-patterns", k_patterns, ArgKind::String},
    // The short spellings (the table's iShort letters).
    {"-o", k_old_format, ArgKind::None},
    {"-s", k_sort, ArgKind::None},
    {"-u", k_unsort, ArgKind::None},
    {"-t", k_timestamp, ArgKind::None},
    {"-T", k_no_timestamp, ArgKind::None},
    {"-a", k_abs, ArgKind::None},
    {"-r", k_rel, ArgKind::None},
    {"-f", k_show_flags, ArgKind::None},
    {"-F", k_no_flags, ArgKind::None},
    {"-p", k_patterns, ArgKind::String},
};
constexpr Subcommand k_subcommands[] = {
    {"get", k_get_opts, {}, 2},        {"set", k_set_opts, {}, 3},   {"unset", {}, {}, 2},
    {"enumerate", k_enum_opts, {}, 1}, {"wait", k_wait_opts, {}, 2},
};

// The wait loop's poll: VirtualBox waits for events 1 s at a time; the host's view is read
// this often.
constexpr int k_poll_ms = 1000;
constexpr int k_stop_check_ms = 100;

[[noreturn]] void syntax(std::string_view sub, const std::string& msg) {
  throw UsageError(UsageStyle::Syntax, "guestproperty", msg, k_exit_syntax, std::string(sub));
}

std::int64_t now_ns(Env& env) { return env.now_ms() * 1000000; }

struct Found {
  backend::Hypervisor& hv;
  backend::VmRef vm;
  store::VmKey key() const { return {hv.hostname(), vm.uuid}; }
};

// A read-write connection: libvirt counts asking the guest agent (its addresses, its OS) as a
// write-level call; the store is the only thing written.
Found find(Env& env, const std::string& name, std::string_view context, int line) {
  auto& hv = env.hypervisor(Access::ReadWrite);
  return {hv, vm::find_machine(hv, name, {context, k_file, line})};
}

// handleGetGuestProperty: VM NAME [--verbose|-verbose].
int run_get(std::span<const std::string> a, Env& env) {
  bool verbose = false;
  if (a.size() == 3 && (a[2] == "--verbose" || a[2] == "-verbose")) {
    verbose = true;
  } else if (a.size() != 2) {
    syntax("get", "Incorrect parameters");
  }
  auto f = find(env, a[0], k_find_context, 77);
  auto p = vm::get_guest_property(f.hv, env.store(), f.vm, a[1], now_ns(env));
  if (!p) {
    env.out.out("No value set!\n");
    return k_exit_success;
  }
  env.out.out(fmt::format("Value: {}\n", p->value));
  if (verbose) {
    env.out.out(fmt::format("Timestamp: {}\nFlags: {}\n", p->timestamp_ns, p->flags));
  }
  return k_exit_success;
}

// handleSetGuestProperty: VM NAME [VALUE [--flags|-flags FLAGS]], told apart by the count.
int run_set(std::span<const std::string> a, Env& env) {
  if (a.size() < 2 || a.size() == 4 || a.size() > 5 ||
      (a.size() == 5 && a[3] != "--flags" && a[3] != "-flags")) {
    syntax("set", "Incorrect parameters");
  }
  auto f = find(env, a[0], k_find_context, 140);
  std::string_view value = a.size() >= 3 ? std::string_view(a[2]) : std::string_view();
  std::optional<std::string_view> flags;
  vm::CallSite site{"SetGuestPropertyValue(Bstr(pszName).raw(), Bstr(pszValue).raw())", k_file,
                    151};
  if (a.size() == 5) {
    flags = a[4];
    site = {"SetGuestProperty(Bstr(pszName).raw(), Bstr(pszValue).raw(), Bstr(pszFlags).raw())",
            k_file, 154};
  }
  vm::set_guest_property(env.store(), f.key(), f.vm, a[1], value, flags, now_ns(env), site);
  return k_exit_success;
}

// handleDeleteGuestProperty: VM NAME.
int run_unset(std::span<const std::string> a, Env& env) {
  if (a.size() != 2) {
    syntax("unset", "Incorrect parameters");
  }
  auto f = find(env, a[0], k_find_context, 186);
  vm::delete_guest_property(env.store(), f.key(), f.vm, a[1],
                            {"DeleteGuestProperty(Bstr(pszName).raw())", k_file, 196});
  return k_exit_success;
}

// RTTimeToStringEx(…, 3): "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC).
std::string absolute_time(std::int64_t ns) {
  std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (ns / 1000000) % 1000);
}

// RTTimeFormatDurationEx(…, 3): the non-zero units among days, hours and minutes, then
// seconds with 3 fraction digits ("1h 02m 03.004s", "5.120s").
std::string relative_time(std::int64_t ns) {
  std::string out = ns < 0 ? "-" : "";
  auto v = static_cast<std::uint64_t>(ns < 0 ? -ns : ns);
  std::uint64_t days = v / 86400000000000ULL;
  std::uint64_t hours = v / 3600000000000ULL % 24;
  std::uint64_t mins = v / 60000000000ULL % 60;
  std::uint64_t secs = v / 1000000000ULL % 60;
  std::uint64_t ms = v / 1000000ULL % 1000;
  bool larger = days != 0;
  if (larger) {
    out += fmt::format("{}d ", days);
  }
  if (larger || hours != 0) {
    out += larger ? fmt::format("{:02}h ", hours) : fmt::format("{}h ", hours);
    larger = true;
  }
  if (larger || mins != 0) {
    out += larger ? fmt::format("{:02}m ", mins) : fmt::format("{}m ", mins);
    larger = true;
  }
  out += larger ? fmt::format("{:02}.{:03}s", secs, ms) : fmt::format("{}.{:03}s", secs, ms);
  return out;
}

// Code points of UTF-8 text (RTPrintf's %ls width counts characters).
std::size_t width_of(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// handleEnumGuestProperty.
int run_enumerate(std::span<const std::string> a, Env& env) {
  std::optional<std::string> vm_name;
  std::string patterns;
  bool sort = true;
  bool new_style = true;
  bool timestamp = true;
  bool absolute = true;
  bool show_flags = true;
  auto add_pattern = [&](const std::string& p) {
    // Joined with ',' as VBoxManage joins them, while the matcher splits at '|' only: two
    // pattern words match names containing the comma, as on VirtualBox.
    patterns += (patterns.empty() ? "" : ",") + p;
  };
  try {
    GetOpt opts(a, k_enum_opts);
    while (auto item = opts.next()) {
      if (item->def == nullptr) {
        if (!vm_name) {
          vm_name = item->text;
        } else {
          add_pattern(item->text);
        }
        continue;
      }
      switch (item->def->id) {
      case k_patterns: add_pattern(item->text); break;
      case k_old_format: new_style = false; break;
      case k_sort: sort = true; break;
      case k_unsort: sort = false; break;
      case k_timestamp: timestamp = true; break;
      case k_no_timestamp: timestamp = false; break;
      case k_abs: absolute = true; break;
      case k_rel: absolute = false; break;
      case k_show_flags: show_flags = true; break;
      case k_no_flags: show_flags = false; break;
      default: break;
      }
    }
  } catch (const GetOptError& e) {
    throw UsageError(UsageStyle::GetOpt, "guestproperty", e.what(), k_exit_syntax, "enumerate");
  }
  if (!vm_name) {
    syntax("enumerate", "No VM name or UUID was specified");
  }
  auto f =
      find(env, *vm_name, "FindMachine(Bstr(pszVmNameOrUuid).raw(), machine.asOutParam())", 325);
  std::int64_t now = now_ns(env);
  // Main returns them in name order already; --unsort keeps that order.
  (void)sort;
  auto props = vm::enumerate_guest_properties(f.hv, env.store(), f.vm, patterns, now);
  if (props.empty()) {
    env.out.out("No properties found.\n");
    return k_exit_success;
  }
  std::string out;
  if (!new_style) {
    for (const auto& p : props) {
      out += fmt::format("Name: {}, value: {}, timestamp: {}, flags: {}\n", p.name, p.value,
                         p.timestamp_ns, p.flags);
    }
    env.out.out(out);
    return k_exit_success;
  }
  std::size_t max_name = 1;
  std::size_t max_value = 1;
  for (const auto& p : props) {
    max_name = std::max(max_name, width_of(p.name));
    max_value = std::max(max_value, width_of(p.value));
  }
  max_name = std::min<std::size_t>(max_name, 48);
  max_value = std::min<std::size_t>(max_value, 28);
  for (const auto& p : props) {
    std::string time;
    if (timestamp) {
      time =
          "@ " + (absolute ? absolute_time(p.timestamp_ns) : relative_time(now - p.timestamp_ns));
    }
    std::string_view flags = show_flags ? std::string_view(p.flags) : std::string_view();
    std::string line = p.name;
    line.append(max_name > width_of(p.name) ? max_name - width_of(p.name) : 0, ' ');
    line += fmt::format(" = '{}'", p.value);
    if (timestamp || !flags.empty()) {
      std::size_t width = max_name + max_value + 6;
      std::size_t pad = line.size() < width ? width - line.size() : 1;
      line.append(pad, ' ');
      line += time;
      if (!flags.empty()) {
        line += ' ';
        line += flags;
      }
    }
    out += line + "\n";
  }
  env.out.out(out);
  return k_exit_success;
}

// handleWaitGuestProperty: VM PATTERNS [--timeout|-timeout MS] [--fail-on-timeout]. VirtualBox
// reports the first change of a matching property after it started listening; here the view
// (live and stored) is read every second and compared with the one before.
int run_wait(std::span<const std::string> a, Env& env) {
  if (a.empty()) {
    syntax("wait", "Incorrect parameters");
  }
  bool usage_ok = a.size() >= 2;
  std::optional<Found> f;
  // FindMachine comes before the options are checked: an unknown VM prints its error, then the
  // syntax error (exit 2).
  try {
    f.emplace(find(env, a[0], k_find_context, 461));
  } catch (const Error& e) {
    print_error(e, env.out);
    usage_ok = false;
  }
  bool fail_on_timeout = false;
  std::optional<std::uint32_t> timeout_ms; // nullopt: RT_INDEFINITE_WAIT
  for (std::size_t i = 2; usage_ok && i < a.size(); ++i) {
    if (a[i] == "--timeout" || a[i] == "-timeout") {
      auto v = i + 1 < a.size() ? parse_uint32_decimal(a[i + 1]) : std::nullopt;
      if (!v) {
        usage_ok = false;
      } else {
        timeout_ms = *v == UINT32_MAX ? std::nullopt : v;
        ++i;
      }
    } else if (a[i] == "--fail-on-timeout") {
      fail_on_timeout = true;
    } else {
      usage_ok = false;
    }
  }
  if (!usage_ok) {
    syntax("wait", "Incorrect parameters");
  }
  const std::string& patterns = a[1];
  auto view = [&] {
    auto all = vm::enumerate_guest_properties(f->hv, env.store(), f->vm, patterns, now_ns(env));
    std::vector<vm::GuestProperty> out;
    for (auto& p : all) {
      out.push_back(std::move(p));
    }
    return out;
  };
  auto before = view();
  std::int64_t started = env.now_ms();
  auto& services = env.services;
  while (!services.stop_requested()) {
    int wait_ms = k_poll_ms;
    if (timeout_ms) {
      std::int64_t elapsed = env.now_ms() - started;
      if (elapsed >= *timeout_ms) {
        break;
      }
      wait_ms = static_cast<int>(std::min<std::int64_t>(k_poll_ms, *timeout_ms - elapsed));
    }
    for (int waited = 0; waited < wait_ms && !services.stop_requested();
         waited += k_stop_check_ms) {
      env.sleep_ms(std::min(k_stop_check_ms, wait_ms - waited));
    }
    if (services.stop_requested()) {
      break;
    }
    // A running guest's live properties come and go with its run: re-read its ID.
    if (auto again = f->hv.find_vm(f->vm.uuid)) {
      f->vm = *again;
    }
    auto now = view();
    // The first difference in name order: a new or changed value (or flags), or one gone.
    std::size_t i = 0;
    std::size_t j = 0;
    while (i < before.size() || j < now.size()) {
      if (j < now.size() && (i >= before.size() || now[j].name < before[i].name)) {
        env.out.out(fmt::format("Name: {}, value: {}, flags: {}\n", now[j].name, now[j].value,
                                now[j].flags));
        return k_exit_success;
      }
      if (i < before.size() && (j >= now.size() || before[i].name < now[j].name)) {
        env.out.out(fmt::format("Property {} was deleted\n", before[i].name));
        return k_exit_success;
      }
      if (before[i].value != now[j].value || before[i].flags != now[j].flags) {
        env.out.out(fmt::format("Name: {}, value: {}, flags: {}\n", now[j].name, now[j].value,
                                now[j].flags));
        return k_exit_success;
      }
      ++i;
      ++j;
    }
    before = std::move(now);
  }
  env.out.error("Time out or interruption while waiting for a notification.");
  if (services.stop_requested()) {
    return k_exit_interrupted; // main ends vboxmanage by the signal
  }
  // "Hysterical raisins": VirtualBox returns its syntax code here.
  return fail_on_timeout ? k_exit_syntax : k_exit_success;
}
} // namespace

Grammar guestproperty_grammar() { return {{}, k_subcommands, {}, Grammar::Vm::None}; }

namespace {
constexpr const char* k_enumerate_synopsis = "enumerate <uuid | vmname> [--no-timestamp] "
                                             "[--no-flags] [--relative] [--old-format] "
                                             "[patterns...]";
} // namespace

CommandHelp guestproperty_help() {
  return {"guestproperty",
          "manage virtual machine guest properties",
          {"get <uuid | vmname> <property-name> [--verbose]", k_enumerate_synopsis,
           "set <uuid | vmname> <property-name> [property-value [--flags=flags]]",
           "unset <uuid | vmname> <property-name>",
           "wait <uuid | vmname> <patterns> [--timeout=msec] [--fail-on-timeout]"},
          "Properties a KVM host answers while the guest runs (no Guest Additions needed):\n"
          "  /VirtualBox/GuestInfo/Net/Count and Net/N/V4/IP, V4/Broadcast, V4/Netmask,\n"
          "  MAC, Status (libvirt's DHCP leases, then the host's ARP table, then the QEMU\n"
          "  guest agent), /VirtualBox/GuestInfo/OS/Product, Release, Version (the guest\n"
          "  agent). Values set with 'set' are kept in the settings store; a value the\n"
          "  host reads live wins over a stored one. 'delete' is 'unset', 'enum' is\n"
          "  'enumerate'.\n"};
}

int run_guestproperty(std::span<const std::string> args, Env& env) {
  // handleGuestProperty: the subcommand first, then the VM (unlike controlvm).
  const std::string& sub = args[0];
  auto rest = args.subspan(1);
  if (sub == "get") {
    return run_get(rest, env);
  }
  if (sub == "set") {
    return run_set(rest, env);
  }
  if (sub == "delete" || sub == "unset") {
    return run_unset(rest, env);
  }
  if (sub == "enumerate" || sub == "enum") {
    return run_enumerate(rest, env);
  }
  if (sub == "wait") {
    return run_wait(rest, env);
  }
  if (sub == "--help" || sub == "-h" || sub == "-?") {
    auto h = guestproperty_help();
    env.out.out(brief_usage(h, env.out.prog(), env.width) + "\n" + h.details);
    return k_exit_success;
  }
  throw UsageError(UsageStyle::Syntax, "guestproperty", fmt::format("Unknown subcommand: {}", sub),
                   k_exit_syntax);
}

} // namespace vbm::cli
