// controlvm: the power verbs (pause, resume, reset, poweroff, savestate, acpipowerbutton,
// shutdown) and guestmemoryballoon (the live balloon), with VirtualBox's order of checks and
// messages (handleControlVM; spec §3.1). Which state allows which verb is vm/state.cpp's.

#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "cli/getopt.hpp"
#include "vm/settings.hpp"
#include "vm/state.hpp"

#include <fmt/format.h>

#include <functional>

namespace vbm::cli {

namespace {
constexpr std::string_view k_file = "VBoxManageControlVM.cpp";
constexpr int k_default_wait_s = 60;
constexpr int k_poll_ms = 100;
// The guest frees memory in 4 KiB pages; within 1 MiB of the target counts as arrived.
constexpr std::uint64_t k_arrived_slack_kib = 1024;

// The power verbs (handleControlVM): what each calls, its state rule and its Context line.
// VirtualBox ignores any word after them; shutdown looks only at a third word "--force".
struct PowerVerb {
  std::string_view name;
  vm::ConsoleCall call;
  backend::PowerAction action;
  vm::CallSite site;
  std::string_view failed = {}; ///< CHECK_PROGRESS_ERROR's text: the verb shows its progress
};
constexpr PowerVerb k_power_verbs[] = {
    {"pause", vm::ConsoleCall::Pause, backend::PowerAction::Pause, {"Pause()", k_file, 390}},
    {"resume", vm::ConsoleCall::Resume, backend::PowerAction::Resume, {"Resume()", k_file, 395}},
    {"reset", vm::ConsoleCall::Reset, backend::PowerAction::Reset, {"Reset()", k_file, 400}},
    {"poweroff",
     vm::ConsoleCall::PowerDown,
     backend::PowerAction::PowerOff,
     {"PowerDown(progress.asOutParam())", k_file, 604},
     "Failed to power off machine."},
    {"acpipowerbutton",
     vm::ConsoleCall::PowerButton,
     backend::PowerAction::AcpiPowerButton,
     {"PowerButton()", k_file, 660}},
    // IGuest::Shutdown asks the Guest Additions; on KVM libvirt asks the guest's agent, else
    // presses the ACPI power button. --force changes nothing: VirtualBox's Linux Additions ignore
    // it too (RTSystemShutdown-linux.cpp), and the guest decides how it shuts down.
    {"shutdown",
     vm::ConsoleCall::Shutdown,
     backend::PowerAction::AcpiPowerButton,
     {"Shutdown(ComSafeArrayAsInParam(aShutdownFlags))", k_file, 696}},
};
constexpr std::string_view k_save_failed = "Failed to save machine state.";

// guestmemoryballoon's --wait is ours and comes after the size (VirtualBox takes no option).
constexpr OptDef k_balloon_opts[] = {{"--wait", 0, ArgKind::None}};
constexpr OptDef k_shutdown_opts[] = {{"--force", 0, ArgKind::None}};
// In VirtualBox's usage order.
constexpr Subcommand k_subcommands[] = {
    {"pause", {}},
    {"resume", {}},
    {"reset", {}},
    {"poweroff", {}},
    {"savestate", {}},
    {"acpipowerbutton", {}},
    {"shutdown", k_shutdown_opts},
    {"guestmemoryballoon", k_balloon_opts, {}, 1},
};

// controlvm reports its syntax errors through errorSyntax but returns RTEXITCODE_FAILURE.
[[noreturn]] void syntax(const std::string& msg, std::string_view scope = {}) {
  throw UsageError(UsageStyle::Syntax, "controlvm", msg, k_exit_failure, std::string(scope));
}

// VirtualBox's progress line on stderr (showProgress): "0%...10%...…100%" as the fraction grows,
// the steps not seen filled in at the end.
class Progress {
public:
  Progress(Output& out, bool enabled) : m_out(out), m_enabled(enabled) {}
  void update(double fraction) {
    int decile = std::clamp(static_cast<int>(fraction * 10), 0, 10);
    while (m_enabled && m_printed < decile && m_printed < 9) {
      ++m_printed;
      m_out.err(fmt::format("{}%...", m_printed * 10));
    }
  }
  void start() {
    if (m_enabled) {
      m_out.err("0%...");
    }
  }
  void finish(bool ok) {
    if (m_enabled) {
      if (ok) {
        update(0.95);
      }
      m_out.err(ok ? "100%\n" : "\n");
    }
  }

private:
  Output& m_out;
  bool m_enabled;
  int m_printed = 0;
};

void wait_for_balloon(Env& env, backend::Hypervisor& hv, const backend::VmRef& vm,
                      std::uint64_t start_kib, std::uint64_t target_kib, int timeout_s) {
  Progress progress(env.out, env.services.stderr_is_terminal());
  progress.start();
  auto deadline = env.now_ms() + std::int64_t{timeout_s} * 1000;
  auto distance = [&](std::uint64_t a, std::uint64_t b) { return a > b ? a - b : b - a; };
  std::uint64_t actual = start_kib;
  while (true) {
    actual = hv.balloon_stats(vm).actual_kib.value_or(actual);
    if (distance(actual, target_kib) <= k_arrived_slack_kib) {
      progress.finish(true);
      return;
    }
    if (start_kib != target_kib) {
      progress.update(1.0 - static_cast<double>(distance(actual, target_kib)) /
                                static_cast<double>(distance(start_kib, target_kib)));
    }
    if (env.now_ms() >= deadline) {
      break;
    }
    env.sleep_ms(k_poll_ms);
  }
  progress.finish(false);
  throw Error(fmt::format(
      "the guest of '{}' did not move its balloon to {} MB within {} s (it has {} MB); usually its "
      "virtio-balloon driver is not loaded (virtio_balloon), or it cannot free that much memory",
      vm.name, target_kib / 1024, timeout_s, actual / 1024));
}

int guest_memory_balloon(std::span<const std::string> args, Env& env, backend::Hypervisor& hv,
                         const backend::VmRef& vm, backend::VmState state) {
  // args: VM guestmemoryballoon N [--wait [SECONDS]]. The --wait form is ours: VirtualBox
  // rejects any extra word, so no script that works with VirtualBox changes meaning.
  std::optional<int> wait_s;
  if (args.size() >= 4 && args.size() <= 5 && args[3] == "--wait") {
    wait_s = k_default_wait_s;
    if (args.size() == 5) {
      auto s = parse_uint32_getopt(args[4]);
      if (!s || *s == 0 || *s > 86400) {
        syntax(fmt::format("Invalid --wait timeout '{}' (seconds, 1 to 86400).", args[4]),
               "guestmemoryballoon");
      }
      wait_s = static_cast<int>(*s);
    }
  } else if (args.size() != 3) {
    syntax("Incorrect number of parameters.", "guestmemoryballoon");
  }
  auto mb = parse_uint32_auto(args[2]);
  if (!mb) {
    syntax(fmt::format("Error parsing guest memory balloon size '{}'.", args[2]),
           "guestmemoryballoon");
  }

  auto live = hv.live_memory(vm);
  auto ram_mb = static_cast<std::uint32_t>(live.memory_kib / 1024);
  vm::SetterContext ctx{state, [&] { return hv.host_info().is_64bit; }};
  vm::check_balloon_size(*mb, ram_mb, ctx, {"COMSETTER(MemoryBalloonSize)(uVal)", k_file, 1666});
  if (live.hugepages) {
    throw Error(fmt::format("Memory ballooning does not work with large pages enabled: "
                            "the RAM of '{}' is backed by huge pages (turn --large-pages "
                            "off while it is powered off)",
                            vm.name));
  }
  if (!live.balloon_device) {
    throw Error(fmt::format("'{}' has no memory balloon device (<memballoon model='none'>), "
                            "so its balloon cannot be changed",
                            vm.name));
  }

  auto before = hv.balloon_stats(vm);
  std::uint64_t target_kib = live.memory_kib - std::uint64_t{*mb} * 1024;
  hv.set_live_balloon_target(vm, target_kib);
  auto& store = env.store();
  store.put_live_balloon({hv.hostname(), vm.uuid}, vm.name, vm.id, *mb);

  if (wait_s) {
    wait_for_balloon(env, hv, vm, before.actual_kib.value_or(live.current_kib), target_kib,
                     *wait_s);
  } else if (before.last_update && *before.last_update == 0) {
    env.out.warning(fmt::format("the guest of '{}' has never reported balloon statistics: without "
                                "a virtio-balloon driver it will not move its balloon (use --wait "
                                "to check)",
                                vm.name));
  }
  return k_exit_success;
}

// A call that VirtualBox runs as a progress (PowerDown, SaveState): its line on stderr, then, if
// it fails, CHECK_PROGRESS_ERROR's message before the cause.
void with_progress(Env& env, std::string_view failed, const std::function<void()>& call) {
  Progress progress(env.out, true);
  progress.start();
  try {
    call();
  } catch (const Error&) {
    progress.finish(false);
    env.out.error(std::string(failed));
    throw;
  }
  progress.finish(true);
}

void save_state(Env& env, backend::Hypervisor& hv, const backend::VmRef& vm,
                backend::VmState state) {
  // VBoxManage pauses first; a VM it cannot pause, unless already paused, is refused with the
  // state's number and name (handleControlVM, no Details: Pause()'s error is not printed).
  if (!vm::can_save_state(state)) {
    throw Error(fmt::format("Machine in invalid state {} -- {}.", vm::state_value(state),
                            vm::human_state(state)));
  }
  with_progress(env, k_save_failed, [&] { hv.power(vm, backend::PowerAction::SaveState); });
}
} // namespace

Grammar controlvm_grammar() { return {{}, k_subcommands, {}, Grammar::Vm::Running}; }

CommandHelp controlvm_help() {
  CommandHelp help{"controlvm", "change state and settings for a running virtual machine", {}, {}};
  for (const auto& sub : k_subcommands) {
    if (sub.name == "shutdown") {
      help.synopses.push_back("<uuid | vmname> shutdown [--force]");
    } else if (sub.name == "guestmemoryballoon") {
      help.synopses.push_back(
          "<uuid | vmname> guestmemoryballoon <balloon-size> [--wait [seconds]]");
    } else {
      help.synopses.push_back(fmt::format("<uuid | vmname> {}", sub.name));
    }
  }
  help.details =
      "Subcommands:\n"
      "  pause, resume          suspend or resume the VM's CPUs (virsh suspend, resume)\n"
      "  reset                  reset the VM: the guest reboots (virsh reset)\n"
      "  poweroff               stop the VM at once (virsh destroy)\n"
      "  savestate              save the VM's state and stop it (virsh managedsave); startvm\n"
      "                         resumes it\n"
      "  acpipowerbutton        press the ACPI power button (virsh shutdown)\n"
      "  shutdown [--force]     ask the guest to shut down (virsh shutdown: its agent, else\n"
      "                         the ACPI power button; --force changes nothing on KVM)\n"
      "  guestmemoryballoon N   take N MB from the running guest with its balloon (live only;\n"
      "                         the configured balloon from modifyvm applies at the next start).\n"
      "                         N is decimal, 0x-hex or 0-octal, below 90% of the VM's RAM.\n"
      "      --wait [seconds]   wait (default 60 s) until the guest has moved its balloon;\n"
      "                         fail if it does not (no virtio-balloon driver, or cannot free "
      "it)\n";
  return help;
}

int run_controlvm(std::span<const std::string> args, Env& env) {
  if (args.size() < 2) {
    throw UsageError(UsageStyle::Syntax, "controlvm", "Not enough parameters.", k_exit_syntax);
  }
  auto& hv = env.hypervisor(Access::ReadWrite);
  auto vm = vm::find_machine(
      hv, args[0], {"FindMachine(Bstr(a->argv[0]).raw(), machine.asOutParam())", k_file, 365});
  auto state = hv.state(vm);
  if (!vm::is_locked(state)) {
    throw Error(fmt::format("Machine '{}' is not currently running.", args[0]));
  }
  if (args[1] == "guestmemoryballoon") {
    return guest_memory_balloon(args, env, hv, vm, state);
  }
  auto forget_live_balloon = [&] {
    env.store().put_live_balloon({hv.hostname(), vm.uuid}, vm.name, vm.id, std::nullopt);
  };
  if (args[1] == "savestate") {
    save_state(env, hv, vm, state);
    forget_live_balloon();
    return k_exit_success;
  }
  for (const auto& verb : k_power_verbs) {
    if (args[1] != verb.name) {
      continue;
    }
    vm::check_console_call(verb.call, state, verb.site);
    if (verb.failed.empty()) {
      hv.power(vm, verb.action);
    } else {
      with_progress(env, verb.failed, [&] { hv.power(vm, verb.action); });
    }
    if (verb.action == backend::PowerAction::PowerOff) {
      forget_live_balloon();
    }
    return k_exit_success;
  }
  syntax(fmt::format("Invalid parameter '{}'.", args[1]));
}

} // namespace vbm::cli
