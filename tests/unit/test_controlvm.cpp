// controlvm guestmemoryballoon and power actions, startvm (spec §3), on the fake hypervisor.

#include "cli/getopt.hpp"
#include "support/cli_fixture.hpp"

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
  EXPECT_EQ(run("startvm vm"), 1);
  EXPECT_THAT(out.stderr_text,
              StartsWith("VBoxManage: error: The machine 'vm' is already locked by a "
                         "session (or being locked or unlocked)\n"));
  EXPECT_EQ(run("startvm --type bogus vm"), 2);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Invalid session type 'bogus'\n");
  EXPECT_EQ(run("startvm --type headless"), 2);
  EXPECT_THAT(out.stderr_text, HasSubstr("error: at least one VM name or UUID required"));
  EXPECT_EQ(run("startvm nope"), 1);
  EXPECT_THAT(out.stderr_text, StartsWith("VBoxManage: error: Could not find a registered machine "
                                          "named 'nope'"));
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
