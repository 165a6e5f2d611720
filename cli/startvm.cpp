// startvm: start (or restore) one or more VMs, with VirtualBox's two lines each.

#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "cli/getopt.hpp"
#include "pagefusion/host.hpp"
#include "vm/session.hpp"
#include "vm/state.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace vbm::cli {

namespace {
constexpr std::string_view k_file = "VBoxManageMisc.cpp";
enum Opt { k_type };
constexpr std::string_view k_types[] = {"headless", "gui", "sdl", "separate"};
constexpr OptDef k_opts[] = {
    {"--type", k_type, ArgKind::String, k_types},
    {"-type", k_type, ArgKind::String, k_types},
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
  auto started = vm::start_machine(
      hv, env.store(), vm,
      {"LaunchVMProcess(a->session, sessionType.raw(), ComSafeArrayAsInParam(aBstrEnv), "
       "progress.asOutParam())",
       k_file, 881},
      [&] {
        if (type != "headless") {
          env.out.warning(fmt::format("no {} window on KVM: starting '{}' headless (virt-viewer "
                                      "shows its display)",
                                      type, vm.name));
        }
        env.out.out(fmt::format("Waiting for VM \"{}\" to power on...\n", name));
      });
  env.out.out(fmt::format("VM \"{}\" has been successfully started.\n", name));
  hand_to_page_fusion(env, hv, started);
}
} // namespace

Grammar startvm_grammar() { return {k_opts, {}, {}, Grammar::Vm::Startable}; }

CommandHelp startvm_help() {
  return {"startvm",
          "start a virtual machine",
          {"<uuid | vmname>... [--type= gui | headless | sdl | separate ]"},
          "Options:\n"
          "  --type TYPE   headless (the default). KVM guests have no VirtualBox window: gui, sdl\n"
          "                and separate also start headless, with a warning (use virt-viewer).\n"
          "The balloon configured with modifyvm is in effect from the start.\n"};
}

int run_startvm(std::span<const std::string> args, Env& env) {
  std::vector<std::string> names;
  std::string type = "headless";
  GetOpt opts(args, k_opts);
  try {
    while (auto item = opts.next()) {
      if (!item->def) {
        names.push_back(item->text);
      } else {
        type = item->text;
      }
    }
  } catch (const GetOptError& e) {
    throw UsageError(UsageStyle::GetOpt, "startvm", e.what(), k_exit_syntax);
  }
  if (names.empty()) {
    throw UsageError(UsageStyle::Syntax, "startvm", "at least one VM name or UUID required",
                     k_exit_syntax);
  }
  if (std::find(std::begin(k_types), std::end(k_types), type) == std::end(k_types)) {
    throw UsageError(UsageStyle::Argument, "startvm",
                     fmt::format("Invalid session type '{}'", type), k_exit_syntax);
  }
  auto& hv = env.hypervisor(Access::ReadWrite);
  int rc = k_exit_success;
  // Like VirtualBox, a VM that cannot be started is reported and the next one is still tried.
  for (const auto& name : names) {
    try {
      auto vm = vm::find_machine(
          hv, name, {"FindMachine(Bstr(VMName).raw(), machine.asOutParam())", k_file, 760});
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
