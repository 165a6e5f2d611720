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
enum Opt { k_type, k_force, k_dry_run };
// What completion offers: VirtualBox's documented types that 7.0 accepts (not sdl) and capture.
// LaunchVMProcess takes more (vm::parse_frontend): GUI/Qt, gui/separate, GUI/Qt/separate, vrdp,
// and the hidden emergencystop.
constexpr std::string_view k_types[] = {"headless", "gui", "separate", "capture"};
constexpr OptDef k_opts[] = {
    {"--type", k_type, ArgKind::String, k_types},
    {"-type", k_type, ArgKind::String, k_types},
    {"-t", k_type, ArgKind::String, k_types},
    // vboxkvm's admission (vm/admission.hpp): start anyway, or only show the figures.
    {"--force", k_force, ArgKind::None},
    {"--dry-run", k_dry_run, ArgKind::None},
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

constexpr vm::CallSite k_launch{"LaunchVMProcess(a->session, sessionType.raw(), "
                                "ComSafeArrayAsInParam(aBstrEnv), progress.asOutParam())",
                                k_file, 880};

void start_one(Env& env, backend::Hypervisor& hv, const backend::VmRef& vm, const std::string& name,
               const std::string& type, const vm::StartRequest& req) {
  auto kind = vm::parse_frontend(type);
  auto started = vm::start_machine(
      hv, env.store(), vm, type, k_launch, req,
      [&](bool joining) {
        if (kind == vm::Frontend::Window || kind == vm::Frontend::SeparateWindow) {
          auto what = joining ? fmt::format("'{}' runs headless", vm.name)
                              : fmt::format("starting '{}' headless", vm.name);
          env.out.warning(
              fmt::format("no {} window on KVM: {} (virt-viewer shows its display)", type, what));
        }
        env.out.out(fmt::format("Waiting for VM \"{}\" to power on...\n", name));
      },
      [&](const std::string& text) { env.out.warning(text); });
  if (started) {
    env.out.out(fmt::format("VM \"{}\" has been successfully started.\n", name));
    hand_to_page_fusion(env, hv, *started);
  }
}

std::string mb(std::uint64_t kib) { return fmt::format("{} MB", kib / 1024); }

// startvm --dry-run: what admission and the large-pages choice say, one VM. Returns whether it
// would start.
bool print_plan(Env& env, const vm::StartPlan& plan, const std::string& name, bool force) {
  auto row = [&](std::string_view label, const std::string& value) {
    env.out.out(fmt::format("{:<24}{}\n", label, value));
  };
  env.out.out(fmt::format("Admission of \"{}\" (dry run: nothing is started)\n", name));
  if (!plan.host || !plan.admission) {
    row("Host memory:", "not known (libvirt does not say): not checked");
  } else {
    const auto& h = *plan.host;
    const auto& a = *plan.admission;
    row("Host memory:",
        fmt::format("{} = RAM {}{}{}", mb(a.capacity_kib), mb(h.ram_kib),
                    h.hugetlb_pool_kib > 0
                        ? fmt::format(" - huge page pool {}", mb(h.hugetlb_pool_kib))
                        : "",
                    h.swap_kib ? " + swap " + mb(*h.swap_kib) : " (swap not known)"));
    row("Running guests:",
        fmt::format("floors {}, RAM {}", mb(a.running_floors_kib), mb(a.running_memory_kib)));
    row("This VM:", fmt::format("floor {}, RAM {}", mb(a.vm_floor_kib), mb(a.vm_memory_kib)));
    row("Floors in all:",
        fmt::format("{} of {}", mb(a.running_floors_kib + a.vm_floor_kib), mb(a.capacity_kib)));
    row("Overcommit limit:", a.limit_kib
                                 ? fmt::format("{} of guest RAM in all, {}", mb(*a.limit_kib),
                                               mb(a.running_memory_kib + a.vm_memory_kib))
                                 : std::string("none"));
  }
  if (plan.backing) {
    row("Large pages:", plan.backing->hugetlbfs ? std::string("hugetlbfs")
                                                : "transparent huge pages: " + plan.backing->why);
  }
  bool refused = plan.admission && plan.admission->refusal;
  row("Verdict:", !refused ? std::string("would start")
                           : fmt::format("{}: {}", force ? "would start (--force)" : "refused",
                                         *plan.admission->refusal));
  return !refused || force;
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
          {"<uuid | vmname>... [--type= gui | headless | separate | capture ] [--force] "
           "[--dry-run]"},
          "Options:\n"
          "  -t, --type TYPE  headless (the default), capture, vrdp; gui, separate (also GUI/Qt,\n"
          "                   gui/separate, GUI/Qt/separate) start headless too, with a warning:\n"
          "                   KVM guests have no VirtualBox window (use virt-viewer). Any case.\n"
          "                   emergencystop stops a running VM at once.\n"
          "  --force          vboxkvm: start a VM that admission refuses (the host cannot back\n"
          "                   it, /etc/vboxkvm/memory.conf's overcommit limit), with a warning.\n"
          "  --dry-run        vboxkvm: print the admission figures and the large-pages backing,\n"
          "                   start nothing; exit 1 if a VM would be refused.\n"
          "The balloon configured with modifyvm is in effect from the start.\n"};
}

int run_startvm(std::span<const std::string> args, Env& env) {
  std::vector<std::string> names;
  std::string type = "headless"; // VirtualBox's default frontend is its GUI; on KVM, headless
  vm::StartRequest req;
  bool dry_run = false;
  GetOpt opts(args, k_opts);
  try {
    while (auto item = opts.next()) {
      if (!item->def) {
        names.push_back(item->text);
      } else if (item->def->id == k_force) {
        req.force = true;
      } else if (item->def->id == k_dry_run) {
        dry_run = true;
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
  req.policy = vm::read_admission_policy(pagefusion::host_paths().etc_dir / "memory.conf");
  auto& hv = env.hypervisor(dry_run ? Access::ReadOnly : Access::ReadWrite);
  int rc = k_exit_success;
  // Like VirtualBox, a VM that cannot be started is reported and the next one is still tried.
  for (const auto& name : names) {
    try {
      auto vm = vm::find_machine(
          hv, name, {"FindMachine(Bstr(pszVM).raw(), machine.asOutParam())", k_file, 867});
      if (dry_run) {
        if (!print_plan(env, vm::plan_machine_start(hv, env.store(), vm, k_launch, req.policy),
                        name, req.force)) {
          rc = k_exit_failure;
        }
      } else {
        start_one(env, hv, vm, name, type, req);
      }
    } catch (const vm::ApiError& e) {
      print_error(e, env.out);
      rc = k_exit_failure;
    } catch (const backend::BackendError& e) {
      print_error(e, env.out);
      rc = k_exit_failure;
    } catch (const Error& e) { // admission's refusal: this VM is not started, the next one is
      print_error(e, env.out);
      rc = k_exit_failure;
    }
  }
  return rc;
}

} // namespace vbm::cli
