// controlvm guestmemoryballoon and power actions, startvm (spec §3), on the fake hypervisor.

#include "cli/getopt.hpp"
#include "support/cli_fixture.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>

using testing::HasSubstr;
using testing::StartsWith;

namespace vbm::test {
namespace {

constexpr const char* k_uuid = "11111111-2222-3333-4444-555555555555";

struct ControlVmTest : CliTest {
  ControlVmTest() { hv.add("vm", k_uuid, 1024); }
  FakeHypervisor::Vm& vm() { return hv.vm("vm"); }
};

TEST_F(ControlVmTest, StoppedVmIsNotRunningWithTheNameAsTyped) {
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 100"), 1);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Machine 'vm' is not currently running.\n");
  EXPECT_EQ(run("controlvm {11111111-2222-3333-4444-555555555555} guestmemoryballoon"), 1);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Machine '{11111111-2222-3333-4444-555555555555}' "
                             "is not currently running.\n");
}

TEST_F(ControlVmTest, NotEnoughParametersIsExit2WithFullUsage) {
  EXPECT_EQ(run("controlvm"), 1); // no arguments at all: the brief usage on stdout, exit 1
  EXPECT_THAT(out.stdout_text, StartsWith("Usage - Change state and settings"));
  for (const char* line : {"controlvm vm", "controlvm --help"}) {
    EXPECT_EQ(run(line), 2) << line;
    EXPECT_THAT(out.stderr_text,
                HasSubstr("VBoxManage: error: Not enough parameters.\n\nUsage - "
                          "Change state and settings for a running virtual machine:"));
    EXPECT_THAT(out.stderr_text, HasSubstr("controlvm <uuid | vmname> poweroff"));
  }
  EXPECT_TRUE(hv.calls.empty());
}

TEST_F(ControlVmTest, InflatesLiveOnlyAndSilently) {
  hv.run("vm");
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 300"), 0);
  EXPECT_EQ(out.stdout_text + out.stderr_text, "");
  EXPECT_EQ(vm().target_kib, (1024u - 300) * 1024);
  EXPECT_EQ(vm().memory.current_kib, 1024u * 1024) << "not persisted";
  EXPECT_EQ(run("showvminfo vm --machinereadable"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("GuestMemoryBalloon=300\n"));
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 0"), 0); // deflate
  EXPECT_EQ(vm().target_kib, 1024u * 1024);
}

TEST_F(ControlVmTest, AutoBaseNumbers) {
  hv.run("vm");
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 0100"), 0); // octal
  EXPECT_EQ(vm().target_kib, (1024u - 64) * 1024);
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 0x20"), 0);
  EXPECT_EQ(vm().target_kib, (1024u - 32) * 1024);
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 08"), 0);
  EXPECT_EQ(vm().target_kib, (1024u - 8) * 1024);
  for (const char* bad : {"512MB", "-1", "0108", "abc"}) {
    EXPECT_EQ(run_args({"controlvm", "vm", "guestmemoryballoon", bad}), 1) << bad;
    EXPECT_THAT(
        out.stderr_text,
        HasSubstr(std::string("VBoxManage: error: Error parsing guest memory balloon size '") +
                  bad +
                  "'.\n\nUsage:\n\n  VBoxManage controlvm <uuid | vmname> "
                  "guestmemoryballoon <balloon-size>"));
  }
}

TEST_F(ControlVmTest, ArgumentCountAndUnknownSubcommand) {
  hv.run("vm");
  EXPECT_EQ(run("controlvm vm guestmemoryballoon"), 1);
  EXPECT_THAT(out.stderr_text, HasSubstr("error: Incorrect number of parameters.\n\nUsage:\n"));
  EXPECT_THAT(out.stderr_text, testing::Not(HasSubstr("poweroff")));
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 1 2"), 1);
  EXPECT_EQ(run("controlvm vm frobnicate"), 1);
  EXPECT_THAT(out.stderr_text, HasSubstr("error: Invalid parameter 'frobnicate'.\n\nUsage - Change "
                                         "state and settings for a running virtual machine:"));
  EXPECT_EQ(run("controlvm vm GuestMemoryBalloon 1"), 1); // case-sensitive
}

TEST_F(ControlVmTest, LimitAgainstTheRunningRam) {
  hv.run("vm");
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 921"), 1);
  EXPECT_EQ(
      out.stderr_text,
      "VBoxManage: error: Invalid memory balloon size: 921 MB (must be in range [0, 921] MB)\n"
      "VBoxManage: error: Details: code NS_ERROR_INVALID_ARG (0x80070057), component "
      "SessionMachine, interface IMachine, callee nsISupports\n"
      "VBoxManage: error: Context: \"COMSETTER(MemoryBalloonSize)(uVal)\" at line 1666 of file "
      "VBoxManageControlVM.cpp\n");
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 920"), 0);
}

TEST_F(ControlVmTest, RefusalsLeaveTheGuestAlone) {
  hv.run("vm").live.hugepages = true;
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 100"), 1);
  EXPECT_THAT(out.stderr_text, StartsWith("VBoxManage: error: Memory ballooning does not work with "
                                          "large pages enabled"));
  vm().live.hugepages = false;
  vm().live.balloon_device = false;
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 100"), 1);
  EXPECT_THAT(out.stderr_text, HasSubstr("has no memory balloon device"));
  vm().live.balloon_device = true;
  hv.host = {false}; // an i686 host
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 0"), 1);
  EXPECT_THAT(out.stderr_text,
              StartsWith("VBoxManage: error: Memory ballooning is only supported on "
                         "64-bit hosts\n"));
  EXPECT_EQ(std::count_if(hv.calls.begin(), hv.calls.end(),
                          [](const std::string& c) { return c.starts_with("set_live"); }),
            0);
}

TEST_F(ControlVmTest, PausedVmCanBeBallooned) {
  hv.run("vm");
  EXPECT_EQ(run("controlvm vm pause"), 0);
  EXPECT_EQ(vm().state, backend::VmState::Paused);
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 10"), 0);
  EXPECT_EQ(run("controlvm vm resume"), 0);
  EXPECT_EQ(vm().state, backend::VmState::Running);
}

TEST_F(ControlVmTest, WaitSucceedsWhenTheGuestMoves) {
  hv.run("vm");
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 512 --wait"), 0);
  EXPECT_EQ(vm().actual_kib, 512u * 1024);
  EXPECT_EQ(out.stderr_text, "");
}

TEST_F(ControlVmTest, WaitShowsProgressOnATerminal) {
  hv.run("vm");
  stderr_tty = true;
  hv.balloon_step_kib = 32 * 1024;
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 320 --wait 5"), 0);
  EXPECT_EQ(out.stderr_text, "0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%\n");
}

TEST_F(ControlVmTest, WaitTimesOutWithoutADriver) {
  hv.run("vm").driver = false;
  auto t0 = now;
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 512 --wait 3"), 1);
  EXPECT_GE(now - t0, 3000);
  EXPECT_LT(now - t0, 3300);
  EXPECT_THAT(out.stderr_text,
              StartsWith("VBoxManage: error: the guest of 'vm' did not move its balloon to 512 MB "
                         "within 3 s (it has 1024 MB); usually its virtio-balloon driver"));
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 512 --wait 0"), 1);
  EXPECT_THAT(out.stderr_text, HasSubstr("Invalid --wait timeout '0'"));
}

TEST_F(ControlVmTest, WarnsWithoutWaitWhenTheGuestNeverReported) {
  hv.run("vm").driver = false;
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 100"), 0);
  EXPECT_THAT(out.stderr_text,
              StartsWith("VBoxManage: warning: the guest of 'vm' has never reported "
                         "balloon statistics"));
  EXPECT_EQ(vm().target_kib, (1024u - 100) * 1024);
}

TEST_F(ControlVmTest, LiveRequestIsForgottenWhenTheVmRestarts) {
  EXPECT_EQ(run("modifyvm vm --guest-memory-balloon 50"), 0);
  EXPECT_EQ(run("startvm vm"), 0);
  EXPECT_EQ(vm().actual_kib, (1024u - 50) * 1024) << "the configured balloon applies at start";
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 200"), 0);
  EXPECT_EQ(run("controlvm vm poweroff"), 0);
  EXPECT_EQ(vm().state, backend::VmState::PoweredOff);
  EXPECT_EQ(run("startvm vm --type headless"), 0);
  EXPECT_EQ(run("showvminfo vm --machinereadable"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("GuestMemoryBalloon=50\n"));
}

TEST_F(ControlVmTest, StartVmLinesAndErrors) {
  EXPECT_EQ(run("startvm vm"), 0);
  EXPECT_EQ(out.stdout_text, "Waiting for VM \"vm\" to power on...\n"
                             "VM \"vm\" has been successfully started.\n");
  // Machine::i_launchVMProcess: the lock before the frontend name, nothing on stdout.
  for (const char* line : {"startvm vm", "startvm vm --type bogus"}) {
    EXPECT_EQ(run(line), 1) << line;
    EXPECT_EQ(out.stdout_text, "");
    EXPECT_EQ(
        out.stderr_text,
        "VBoxManage: error: The machine 'vm' is already locked by a session (or being "
        "locked or unlocked)\n"
        "VBoxManage: error: Details: code VBOX_E_INVALID_OBJECT_STATE (0x80bb0007), component "
        "MachineWrap, interface IMachine, callee nsISupports\n"
        "VBoxManage: error: Context: \"LaunchVMProcess(a->session, sessionType.raw(), "
        "ComSafeArrayAsInParam(aBstrEnv), progress.asOutParam())\" at line 880 of file "
        "VBoxManageMisc.cpp\n");
  }
  EXPECT_EQ(run("startvm --type headless"), 2);
  EXPECT_THAT(out.stderr_text, HasSubstr("error: at least one VM name or uuid required\n\nUsage"));
  // FindMachine before the frontend name.
  EXPECT_EQ(run("startvm nope --type bogus"), 1);
  EXPECT_EQ(out.stderr_text,
            "VBoxManage: error: Could not find a registered machine named 'nope'\n"
            "VBoxManage: error: Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component "
            "VirtualBoxWrap, interface IVirtualBox, callee nsISupports\n"
            "VBoxManage: error: Context: \"FindMachine(Bstr(pszVM).raw(), machine.asOutParam())\" "
            "at line 867 of file VBoxManageMisc.cpp\n");
}

TEST_F(ControlVmTest, StartVmTypesAsLaunchVMProcessTakesThem) {
  // Every frontend name of 7.0, in any case: headless on KVM, a warning for the windowed ones.
  for (const char* type : {"headless", "HEADLESS", "capture", "Capture", "vrdp", "VRDP"}) {
    EXPECT_EQ(run_args({"startvm", "vm", "--type", type}), 0) << type;
    EXPECT_EQ(out.stderr_text, "") << type;
    EXPECT_EQ(vm().state, backend::VmState::Running);
    hv.power(vm().ref, backend::PowerAction::PowerOff);
  }
  for (const char* type : {"gui", "Gui", "GUI/Qt", "gui/qt", "separate", "SEPARATE", "gui/separate",
                           "GUI/Qt/separate"}) {
    EXPECT_EQ(run_args({"startvm", "vm", "-t", type}), 0) << type;
    EXPECT_THAT(out.stderr_text, StartsWith("VBoxManage: warning: no ")) << type;
    EXPECT_THAT(out.stderr_text, HasSubstr(" window on KVM: starting 'vm' headless"));
    EXPECT_EQ(vm().state, backend::VmState::Running);
    hv.power(vm().ref, backend::PowerAction::PowerOff);
  }
  // VBoxManage passes gui, capture and headless on in lower case.
  EXPECT_EQ(run("startvm vm --type=GUI"), 0);
  EXPECT_THAT(out.stderr_text, StartsWith("VBoxManage: warning: no gui window on KVM"));
  hv.power(vm().ref, backend::PowerAction::PowerOff);
  // No SDL frontend in 7.0; emergencystop only in that case. Nothing started, nothing on stdout.
  for (const char* type : {"sdl", "bogus", "EmergencyStop", ""}) {
    EXPECT_EQ(run_args({"startvm", "vm", "--type", type}), 1) << type;
    EXPECT_EQ(out.stdout_text, "");
    EXPECT_EQ(out.stderr_text,
              fmt::format("VBoxManage: error: Invalid frontend name: '{}'\n"
                          "VBoxManage: error: Details: code NS_ERROR_INVALID_ARG (0x80070057), "
                          "component MachineWrap, interface IMachine, callee nsISupports\n"
                          "VBoxManage: error: Context: \"LaunchVMProcess(a->session, "
                          "sessionType.raw(), ComSafeArrayAsInParam(aBstrEnv), "
                          "progress.asOutParam())\" at line 880 of file VBoxManageMisc.cpp\n",
                          type));
    EXPECT_EQ(vm().state, backend::VmState::PoweredOff);
  }
}

TEST_F(ControlVmTest, StartVmUnknownOptionInItsOwnWords) {
  EXPECT_EQ(run("startvm vm --bogus"), 2);
  EXPECT_THAT(out.stderr_text, HasSubstr("\nVBoxManage: error: unknown option: --bogus\n\nUsage"));
  EXPECT_EQ(run("startvm vm --type"), 2);
  EXPECT_THAT(out.stderr_text,
              HasSubstr("error: --type: RTGetOpt: Command line option needs argument.\n\nUsage"));
  EXPECT_TRUE(hv.calls.empty());
}

TEST_F(ControlVmTest, StartVmSeparateJoinsARunningVm) {
  hv.run("vm");
  hv.calls.clear();
  EXPECT_EQ(run("startvm vm --type separate"), 0);
  EXPECT_EQ(out.stdout_text, "Waiting for VM \"vm\" to power on...\n"
                             "VM \"vm\" has been successfully started.\n");
  EXPECT_EQ(out.stderr_text, "VBoxManage: warning: no separate window on KVM: 'vm' runs "
                             "headless (virt-viewer shows its display)\n");
  EXPECT_TRUE(hv.calls.empty()) << "nothing to start";
  // The name is checked after the state: "…separate" that is no frontend.
  EXPECT_EQ(run("startvm vm --type notseparate"), 1);
  EXPECT_THAT(out.stderr_text, StartsWith("VBoxManage: error: Invalid frontend name: "
                                          "'notseparate'\n"));
}

TEST_F(ControlVmTest, StartVmEmergencyStop) {
  EXPECT_EQ(run("startvm vm --type emergencystop"), 1);
  EXPECT_EQ(out.stdout_text, "");
  EXPECT_THAT(out.stderr_text,
              StartsWith("VBoxManage: error: The machine 'vm' is not locked by a session\n"
                         "VBoxManage: error: Details: code VBOX_E_INVALID_OBJECT_STATE"));
  hv.run("vm").state = backend::VmState::Paused;
  EXPECT_EQ(run("startvm vm --type emergencystop"), 0);
  EXPECT_EQ(out.stdout_text + out.stderr_text, "");
  EXPECT_EQ(vm().state, backend::VmState::PoweredOff);
}

TEST_F(ControlVmTest, StartVmGoesOnAfterAVmThatCannotStart) {
  hv.add("other", "22222222-2222-3333-4444-555555555555");
  hv.fail_next("start", "failed to start 'vm': no huge pages reserved");
  EXPECT_EQ(run("startvm nope vm other"), 1);
  EXPECT_THAT(out.stderr_text, StartsWith("VBoxManage: error: Could not find a registered machine "
                                          "named 'nope'\n"));
  EXPECT_THAT(out.stderr_text, HasSubstr("VBoxManage: error: failed to start 'vm': no huge pages "
                                         "reserved\n"));
  EXPECT_EQ(out.stdout_text, "Waiting for VM \"vm\" to power on...\n"
                             "Waiting for VM \"other\" to power on...\n"
                             "VM \"other\" has been successfully started.\n");
  EXPECT_EQ(hv.vm("other").state, backend::VmState::Running);
}

TEST_F(ControlVmTest, StartVmGuiStartsHeadlessWithAWarning) {
  EXPECT_EQ(run("startvm vm --type gui"), 0);
  EXPECT_THAT(out.stderr_text, StartsWith("VBoxManage: warning: no gui window on KVM"));
  EXPECT_EQ(vm().state, backend::VmState::Running);
}

TEST_F(ControlVmTest, ModifyVmRefusedWhileRunningAcceptedAfterPowerOff) {
  hv.run("vm");
  auto before = hv.vm("vm").memory;
  EXPECT_EQ(run("modifyvm vm --memory 512"), 1);
  EXPECT_EQ(hv.vm("vm").memory, before); // refused: nothing written
  EXPECT_EQ(run("controlvm vm acpipowerbutton"), 0);
  EXPECT_EQ(hv.vm("vm").state, backend::VmState::PoweredOff);
  EXPECT_EQ(run("modifyvm vm --memory 512"), 0);
  EXPECT_EQ(hv.vm("vm").memory.memory_kib, 512u * 1024);
}

// The three lines CHECK_ERROR prints for an IConsole state error.
std::string console_error(const std::string& text, const std::string& context, int line) {
  return fmt::format("VBoxManage: error: {}\n"
                     "VBoxManage: error: Details: code VBOX_E_INVALID_VM_STATE (0x80bb0002), "
                     "component ConsoleWrap, interface IConsole, callee nsISupports\n"
                     "VBoxManage: error: Context: \"{}\" at line {} of file "
                     "VBoxManageControlVM.cpp\n",
                     text, context, line);
}
constexpr const char* k_progress =
    "0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%\n";

TEST_F(ControlVmTest, PausingAPausedVmIsAlreadyPaused) {
  hv.run("vm");
  EXPECT_EQ(run("controlvm vm pause"), 0);
  EXPECT_EQ(out.stdout_text + out.stderr_text, "");
  hv.calls.clear();
  EXPECT_EQ(run("controlvm vm pause"), 1);
  EXPECT_EQ(out.stdout_text, "");
  EXPECT_EQ(out.stderr_text, console_error("Already paused", "Pause()", 390));
  EXPECT_TRUE(hv.calls.empty());
  EXPECT_EQ(vm().state, backend::VmState::Paused);
}

TEST_F(ControlVmTest, StateErrorsOfTheOtherVerbs) {
  hv.run("vm");
  EXPECT_EQ(run("controlvm vm resume"), 1);
  EXPECT_EQ(out.stderr_text,
            console_error("Cannot resume the machine as it is not paused (machine state: Running)",
                          "Resume()", 395));
  vm().state = backend::VmState::Paused;
  hv.calls.clear();
  EXPECT_EQ(run("controlvm vm acpipowerbutton"), 1);
  EXPECT_EQ(out.stderr_text, console_error("Invalid machine state: Paused", "PowerButton()", 660));
  EXPECT_EQ(run("controlvm vm reset"), 1);
  EXPECT_EQ(out.stderr_text, console_error("Invalid machine state: Paused", "Reset()", 400));
  EXPECT_EQ(run("controlvm vm shutdown"), 1);
  EXPECT_EQ(out.stderr_text,
            "VBoxManage: error: Invalid machine state: Paused\n"
            "VBoxManage: error: Details: code VBOX_E_INVALID_VM_STATE (0x80bb0002), component "
            "GuestWrap, interface IGuest, callee nsISupports\n"
            "VBoxManage: error: Context: \"Shutdown(ComSafeArrayAsInParam(aShutdownFlags))\" at "
            "line 696 of file VBoxManageControlVM.cpp\n");
  EXPECT_TRUE(hv.calls.empty());
  vm().state = backend::VmState::Stopping;
  EXPECT_EQ(run("controlvm vm pause"), 1);
  EXPECT_EQ(out.stderr_text, console_error("Invalid machine state: Stopping", "Pause()", 390));
  EXPECT_EQ(run("controlvm vm poweroff"), 1);
  EXPECT_EQ(out.stderr_text, console_error("The virtual machine is being powered down",
                                           "PowerDown(progress.asOutParam())", 604));
  EXPECT_EQ(run("controlvm vm savestate"), 1);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Machine in invalid state 12 -- stopping.\n");
  EXPECT_TRUE(hv.calls.empty());
  vm().state = backend::VmState::Saved;
  EXPECT_EQ(run("controlvm vm savestate"), 1);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Machine 'vm' is not currently running.\n");
}

TEST_F(ControlVmTest, ExtraWordsAfterAPowerVerbAreIgnored) {
  hv.run("vm");
  EXPECT_EQ(run("controlvm vm pause now please"), 0);
  EXPECT_EQ(vm().state, backend::VmState::Paused);
  EXPECT_EQ(run("controlvm vm resume --force"), 0);
  EXPECT_EQ(run("controlvm vm reset x"), 0);
  EXPECT_EQ(vm().resets, 1);
  EXPECT_EQ(run("controlvm vm shutdown --frce"), 0);
  EXPECT_EQ(out.stdout_text + out.stderr_text, "");
  EXPECT_EQ(vm().state, backend::VmState::PoweredOff);
  hv.run("vm");
  EXPECT_EQ(run("controlvm vm shutdown --force y"), 0);
  EXPECT_EQ(vm().state, backend::VmState::PoweredOff);
  hv.run("vm");
  EXPECT_EQ(run("controlvm vm poweroff 1 2 3"), 0);
  EXPECT_EQ(out.stderr_text, k_progress);
  EXPECT_EQ(vm().state, backend::VmState::PoweredOff);
}

TEST_F(ControlVmTest, ResetRebootsTheRunningGuest) {
  hv.run("vm");
  EXPECT_EQ(run("controlvm vm reset"), 0);
  EXPECT_EQ(out.stdout_text + out.stderr_text, "");
  EXPECT_EQ(vm().resets, 1);
  EXPECT_EQ(vm().state, backend::VmState::Running);
}

TEST_F(ControlVmTest, PowerOffShowsVirtualBoxsProgressOnStderr) {
  hv.run("vm");
  EXPECT_EQ(run("controlvm vm poweroff"), 0);
  EXPECT_EQ(out.stdout_text, "");
  EXPECT_EQ(out.stderr_text, k_progress);
  hv.run("vm");
  hv.fail_next("power", "failed to power off 'vm': internal error: QEMU is stuck");
  EXPECT_EQ(run("controlvm vm poweroff"), 1);
  EXPECT_EQ(out.stderr_text, "0%...\n"
                             "VBoxManage: error: Failed to power off machine.\n"
                             "VBoxManage: error: failed to power off 'vm': internal error: QEMU "
                             "is stuck\n");
}

TEST_F(ControlVmTest, SaveStateThenStartVmRestores) {
  hv.run("vm");
  EXPECT_EQ(run("controlvm vm guestmemoryballoon 100"), 0);
  EXPECT_EQ(run("controlvm vm savestate"), 0);
  EXPECT_EQ(out.stdout_text, "");
  EXPECT_EQ(out.stderr_text, k_progress);
  EXPECT_EQ(vm().state, backend::VmState::Saved);
  EXPECT_EQ(run("showvminfo vm --machinereadable"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("VMState=\"saved\"\n"));
  EXPECT_EQ(run("controlvm vm pause"), 1);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Machine 'vm' is not currently running.\n");
  EXPECT_EQ(run("startvm vm"), 0);
  EXPECT_EQ(vm().state, backend::VmState::Running);
  EXPECT_EQ(run("showvminfo vm --machinereadable"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("GuestMemoryBalloon=0\n"));
}

TEST_F(ControlVmTest, SaveStateOfAPausedVmSaysNothingOfThePause) {
  hv.run("vm").state = backend::VmState::Paused;
  EXPECT_EQ(run("controlvm vm savestate"), 0);
  EXPECT_EQ(out.stderr_text, k_progress);
  EXPECT_EQ(vm().state, backend::VmState::Saved);
}

TEST_F(ControlVmTest, SaveStateThatFails) {
  hv.run("vm");
  hv.fail_next("power", "failed to save the state of 'vm': No space left on device");
  EXPECT_EQ(run("controlvm vm savestate"), 1);
  EXPECT_EQ(out.stderr_text, "0%...\n"
                             "VBoxManage: error: Failed to save machine state.\n"
                             "VBoxManage: error: failed to save the state of 'vm': No space left "
                             "on device\n");
  EXPECT_EQ(vm().state, backend::VmState::Running);
}

TEST_F(ControlVmTest, EveryVerbOnAStoppedVmIsNotRunning) {
  for (const char* verb : {"pause", "resume", "reset", "poweroff", "savestate", "acpipowerbutton",
                           "shutdown", "frobnicate"}) {
    EXPECT_EQ(run_args({"controlvm", "vm", verb}), 1) << verb;
    EXPECT_EQ(out.stderr_text, "VBoxManage: error: Machine 'vm' is not currently running.\n");
  }
  EXPECT_TRUE(hv.calls.empty());
}

TEST(AutoBase, Parsing) {
  EXPECT_EQ(cli::parse_uint32_auto("0100"), 64u);
  EXPECT_EQ(cli::parse_uint32_auto("08"), 8u);
  EXPECT_EQ(cli::parse_uint32_auto("0"), 0u);
  EXPECT_EQ(cli::parse_uint32_auto("+0x10"), 16u);
  EXPECT_EQ(cli::parse_uint32_auto("512"), 512u);
  EXPECT_FALSE(cli::parse_uint32_auto("0108").has_value());
  EXPECT_FALSE(cli::parse_uint32_auto("512 ").has_value());
  EXPECT_FALSE(cli::parse_uint32_auto("").has_value());
  EXPECT_FALSE(cli::parse_uint32_auto("4294967296").has_value());
}

} // namespace
} // namespace vbm::test
