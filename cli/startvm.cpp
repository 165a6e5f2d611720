// startvm: start (or restore) one or more VMs, with VirtualBox's two lines each.

#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "cli/getopt.hpp"
#include "pagefusion/host.hpp"
#include "vm/session.hpp"
#include "vm/state.hpp"

#include <fmt/format.h>

#include <strings.h>

namespace vbm::cli {

namespace {
constexpr std::string_view k_file = "VBoxManageMisc.cpp";
enum Opt { k_type };
// What completion offers: VirtualBox's documented types that 7.0 accepts (not sdl) and capture.
// LaunchVMProcess takes more (vm::parse_frontend): GUI/Qt, gui/separate, GUI/Qt/separate, vrdp,
// and the hidden emergencystop.
constexpr std::string_view k_types[] = {"headless", "gui", "separate", "capture"};
constexpr OptDef k_opts[] = {
    {"--type", k_type, ArgKind::String, k_types},
    {"-type", k_type, ArgKind::String, k_types},
    {"-t", k_type, ArgKind::String, k_types},
};
// Page fusion on KVM is the host's KSM: a guest whose memory may be merged is handed to the
// host's page-fusion controller, which runs KSM while such guests run (unless the admin set
// manage-ksm = no). Only QEMU guests of this host, and only root can steer KSM. Never fails
// the start.
void hand_to_page_fusion(Env& env, backend::Hypervisor& hv, const backend::VmRef& vm) {
  try {
    if (!pagefusion::is_page_fusion_guest(hv.live_memory(vm)) || !pagefusion::is_local_qemu(hv) ||
        !pagefusion::read_settings(pagefusion::host_paths().settings()).manage_ksm) {
      return;
    }
    env.services.ensure_pagefusiond(hv.uri());
  } catch (const std::exception& e) {
    env.out.warning(fmt::format("page fusion for '{}' is not managed: {}", vm.name, e.what()));
  }
}

void start_one(Env& env, backend::Hypervisor& hv, const backend::VmRef& vm, const std::string& name,
               const std::string& type) {
  auto kind = vm::parse_frontend(type);
  auto started = vm::start_machine(
      hv, env.store(), vm, type,
      {"LaunchVMProcess(a->session, sessionType.raw(), ComSafeArrayAsInParam(aBstrEnv), "
       "progress.asOutParam())",
       k_file, 880},
      [&](bool joining) {
        if (kind == vm::Frontend::Window || kind == vm::Frontend::SeparateWindow) {
          auto what = joining ? fmt::format("'{}' runs headless", vm.name)
                              : fmt::format("starting '{}' headless", vm.name);
          env.out.warning(
              fmt::format("no {} window on KVM: {} (virt-viewer shows its display)", type, what));
        }
        env.out.out(fmt::format("Waiting for VM \"{}\" to power on...\n", name));
      });
  if (started) {
    env.out.out(fmt::format("VM \"{}\" has been successfully started.\n", name));
    hand_to_page_fusion(env, hv, *started);
  }
}

// handleStartVM passes gui, capture and headless on in lower case, anything else as typed.
std::string session_type(const std::string& typed) {
  for (std::string_view word : {"gui", "capture", "headless"}) {
    if (typed.size() == word.size() && strncasecmp(typed.c_str(), word.data(), word.size()) == 0) {
      return std::string(word);
    }
  }
  return typed;
}
} // namespace

Grammar startvm_grammar() { return {k_opts, {}, {}, Grammar::Vm::Startable}; }

CommandHelp startvm_help() {
  return {"startvm",
          "start a virtual machine",
          {"<uuid | vmname>... [--type= gui | headless | separate | capture ]"},
          "Options:\n"
          "  -t, --type TYPE  headless (the default), capture, vrdp; gui, separate (also GUI/Qt,\n"
          "                   gui/separate, GUI/Qt/separate) start headless too, with a warning:\n"
          "                   KVM guests have no VirtualBox window (use virt-viewer). Any case.\n"
          "                   emergencystop stops a running VM at once.\n"
          "The balloon configured with modifyvm is in effect from the start.\n"};
}

int run_startvm(std::span<const std::string> args, Env& env) {
  std::vector<std::string> names;
  std::string type = "headless"; // VirtualBox's default frontend is its GUI; on KVM, headless
  GetOpt opts(args, k_opts);
  try {
    while (auto item = opts.next()) {
      if (!item->def) {
        names.push_back(item->text);
      } else {
        type = session_type(item->text);
      }
    }
  } catch (const GetOptError& e) {
    // handleStartVM words an unknown option itself, in lower case, through errorSyntax.
    std::string msg = e.what();
    constexpr std::string_view k_unknown = "Unknown option: ";
    if (msg.starts_with(k_unknown)) {
      msg = "unknown option: " + msg.substr(k_unknown.size());
    }
    throw UsageError(UsageStyle::Syntax, "startvm", msg, k_exit_syntax);
  }
  if (names.empty()) {
    throw UsageError(UsageStyle::Syntax, "startvm", "at least one VM name or uuid required",
                     k_exit_syntax);
  }
  // The type is checked by LaunchVMProcess, for each VM after FindMachine and the lock.
  auto& hv = env.hypervisor(Access::ReadWrite);
  int rc = k_exit_success;
  // Like VirtualBox, a VM that cannot be started is reported and the next one is still tried.
  for (const auto& name : names) {
    try {
      auto vm = vm::find_machine(
          hv, name, {"FindMachine(Bstr(pszVM).raw(), machine.asOutParam())", k_file, 867});
      start_one(env, hv, vm, name, type);
    } catch (const vm::ApiError& e) {
      print_error(e, env.out);
      rc = k_exit_failure;
    } catch (const backend::BackendError& e) {
      print_error(e, env.out);
      rc = k_exit_failure;
    }
  }
  return rc;
}

} // namespace vbm::cli
