// modifyvm against VirtualBox's rules (spec §2), on the fake hypervisor and an in-memory store.

#include "cli/modifyvm.hpp"
#include "support/cli_fixture.hpp"
#include "vm/settings.hpp"

#include <gmock/gmock.h>

using testing::HasSubstr;
using testing::StartsWith;

namespace vbm::test {
namespace {

constexpr const char* k_uuid = "11111111-2222-3333-4444-555555555555";

struct ModifyVmTest : CliTest {
  ModifyVmTest() { hv.add("vm", k_uuid, 1024); }
  backend::DomainMemory mem() { return hv.vm("vm").memory; }
  store::Settings stored() { return st.settings({"fakehost", k_uuid}); }
  void expect_unchanged() {
    EXPECT_EQ(mem().memory_kib, 1024u * 1024);
    EXPECT_EQ(mem().current_kib, 1024u * 1024);
    EXPECT_TRUE(stored().empty());
  }
};

TEST_F(ModifyVmTest, BalloonOkIsSilentAndLandsInBoth) {
  EXPECT_EQ(run("modifyvm vm --guest-memory-balloon 512"), 0);
  EXPECT_EQ(out.stdout_text, "");
  EXPECT_EQ(out.stderr_text, "");
  EXPECT_EQ(mem().current_kib, 512u * 1024);
  EXPECT_EQ(stored().at("guestmemoryballoon"), 512);
}

TEST_F(ModifyVmTest, DoneWhenExample) {
  EXPECT_EQ(run("modifyvm vm --memory 512 --guest-memory-balloon 100 --page-fusion off "
                "--large-pages off"),
            0);
  EXPECT_EQ(mem().memory_kib, 524288u);
  EXPECT_EQ(mem().current_kib, 421888u);
  EXPECT_TRUE(mem().nosharepages);
  EXPECT_FALSE(mem().hugepages);
}

TEST_F(ModifyVmTest, BalloonAtPrintedBoundIsRejectedWithDetails) {
  EXPECT_EQ(run("modifyvm vm --guestmemoryballoon=921"), 1);
  EXPECT_EQ(
      out.stderr_text,
      "VBoxManage: error: Invalid memory balloon size: 921 MB (must be in range [0, 921] MB)\n"
      "VBoxManage: error: Details: code NS_ERROR_INVALID_ARG (0x80070057), component "
      "SessionMachine, interface IMachine, callee nsISupports\n"
      "VBoxManage: error: Context: \"COMSETTER(MemoryBalloonSize)(ValueUnion.u32)\" at line "
      "1003 of file VBoxManageModifyVM.cpp\n");
  expect_unchanged();
}

TEST_F(ModifyVmTest, BalloonBoundaryAndAllThreeValueForms) {
  EXPECT_EQ(run("modifyvm vm --guest-memory-balloon 920"), 0);
  EXPECT_EQ(run("modifyvm vm --guestmemoryballoon:10"), 0);
  EXPECT_EQ(stored().at("guestmemoryballoon"), 10);
  EXPECT_EQ(run("modifyvm vm --guest-memory-balloon=0x10"), 0);
  EXPECT_EQ(stored().at("guestmemoryballoon"), 16);
  EXPECT_EQ(run("modifyvm vm --memory 0512"), 0); // decimal, not octal
  EXPECT_EQ(stored().at("memory"), 512);
}

TEST_F(ModifyVmTest, BalloonLimitUsesRamAsOfThatPointInTheCommand) {
  EXPECT_EQ(run("modifyvm vm --memory 4096 --guest-memory-balloon 3000"), 0);
  EXPECT_EQ(mem().current_kib, (4096u - 3000) * 1024);
  EXPECT_EQ(run("modifyvm vm --memory 1024"), 0);
  EXPECT_EQ(run("modifyvm vm --guest-memory-balloon 3000 --memory 4096"), 1);
  EXPECT_THAT(first_err_line(), HasSubstr("must be in range [0, 921] MB"));
}

TEST_F(ModifyVmTest, FailingLaterOptionLeavesEarlierOnesUnsaved) {
  EXPECT_EQ(run("modifyvm vm --memory 2048 --guest-memory-balloon 99999"), 1);
  EXPECT_THAT(first_err_line(), HasSubstr("must be in range [0, 1843] MB"));
  expect_unchanged();
  EXPECT_TRUE(hv.calls.empty());
}

TEST_F(ModifyVmTest, BalloonStaysConstantWhenMemoryChanges) {
  EXPECT_EQ(run("modifyvm vm --guest-memory-balloon 200"), 0);
  EXPECT_EQ(run("modifyvm vm --memory 2048"), 0);
  EXPECT_EQ(mem().memory_kib, 2048u * 1024);
  EXPECT_EQ(mem().current_kib, (2048u - 200) * 1024);
  EXPECT_EQ(stored().at("guestmemoryballoon"), 200);
}

TEST_F(ModifyVmTest, OnOffValues) {
  EXPECT_EQ(run("modifyvm vm --page-fusion OFF --largepages On"), 0);
  EXPECT_TRUE(mem().nosharepages);
  EXPECT_TRUE(mem().hugepages);
  EXPECT_EQ(run("modifyvm vm --pagefusion on --large-pages=off"), 0);
  EXPECT_FALSE(mem().nosharepages);
  EXPECT_FALSE(mem().hugepages);
}

TEST_F(ModifyVmTest, PageFusionOnWarns) {
  EXPECT_EQ(run("modifyvm vm --page-fusion on"), 0);
  EXPECT_THAT(out.stderr_text, StartsWith("VBoxManage: warning: page fusion"));
  EXPECT_EQ(std::count(out.stderr_text.begin(), out.stderr_text.end(), '\n'), 1);
  EXPECT_EQ(run("modifyvm vm --page-fusion off"), 0);
  EXPECT_EQ(out.stderr_text, "");
  // Whenever it is turned on: every spelling, and again when it already was on.
  for (const char* line : {"modifyvm vm --pagefusion=ON", "modifyvm vm --page-fusion:on",
                           "modifyvm vm --memory 2048 --pagefusion on"}) {
    EXPECT_EQ(run(line), 0) << line;
    EXPECT_THAT(out.stderr_text, StartsWith("VBoxManage: warning: page fusion")) << line;
  }
  // Not when the command fails and nothing was turned on.
  EXPECT_EQ(run("modifyvm vm --page-fusion on --memory 1"), 1);
  EXPECT_THAT(out.stderr_text, Not(HasSubstr("warning: page fusion")));
}

TEST_F(ModifyVmTest, BadOnOffValueIsUnknownOptionWithUsageExit1) {
  for (const char* v : {"maybe", "true", "1", "yes"}) {
    EXPECT_EQ(run(std::string("modifyvm vm --large-pages ") + v), 1);
    EXPECT_THAT(out.stderr_text, StartsWith("vboxkvm Command Line Management Interface"));
    EXPECT_THAT(out.stderr_text, HasSubstr(std::string("\nVBoxManage: error: Unknown option: ") +
                                           v + "\nUsage - Change settings for a virtual machine"));
  }
  expect_unchanged();
}

TEST_F(ModifyVmTest, MissingValue) {
  EXPECT_EQ(run("modifyvm vm --page-fusion"), 1);
  EXPECT_THAT(out.stderr_text,
              HasSubstr("VBoxManage: error: --page-fusion: RTGetOpt: Command line option needs "
                        "argument.\nUsage"));
  EXPECT_EQ(run("modifyvm vm --pagefusion"), 1); // the spelling typed is the one printed
  EXPECT_THAT(out.stderr_text, HasSubstr("error: --pagefusion: RTGetOpt"));
}

TEST_F(ModifyVmTest, BadNumbersAndUnknownOptions) {
  for (const char* v : {"abc", "-1", "512MB", "4294967296", "+0x200", "1e3"}) {
    EXPECT_EQ(run_args(std::vector<std::string>{"modifyvm", "vm", "--memory", v}), 1) << v;
    EXPECT_THAT(out.stderr_text, HasSubstr("VBoxManage: error: Invalid argument format: ")) << v;
  }
  EXPECT_EQ(run("modifyvm vm --bogus on"), 1);
  EXPECT_THAT(out.stderr_text, HasSubstr("VBoxManage: error: Unknown option: --bogus\n"));
  EXPECT_EQ(run("modifyvm vm --help"), 1);
  EXPECT_THAT(out.stderr_text, HasSubstr("Unknown option: --help"));
  EXPECT_EQ(run("modifyvm vm stray"), 1);
  EXPECT_THAT(out.stderr_text, HasSubstr("error: Invalid parameter 'stray'"));
  expect_unchanged();
}

TEST_F(ModifyVmTest, MemoryRange) {
  EXPECT_EQ(run("modifyvm vm --memory 3"), 1);
  EXPECT_EQ(first_err_line(),
            "VBoxManage: error: Invalid RAM size: 3 MB (must be in range [4, 2097152] MB)");
  EXPECT_EQ(run("modifyvm vm --memory 2097153"), 1);
  EXPECT_EQ(run("modifyvm vm --memory 4"), 0);
  EXPECT_EQ(run("modifyvm vm --memory 2097152"), 0);
}

TEST_F(ModifyVmTest, NotEnoughParametersIsSyntaxExit2WithBlankLine) {
  EXPECT_EQ(run("modifyvm vm"), 2);
  EXPECT_THAT(out.stderr_text,
              HasSubstr("VBoxManage: error: Not enough parameters\n\nUsage - Change settings"));
  EXPECT_TRUE(hv.calls.empty());
}

TEST_F(ModifyVmTest, UnknownVm) {
  EXPECT_EQ(run("modifyvm X --memory 512"), 1);
  EXPECT_EQ(out.stderr_text,
            "VBoxManage: error: Could not find a registered machine named 'X'\n"
            "VBoxManage: error: Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component "
            "VirtualBoxWrap, interface IVirtualBox, callee nsISupports\n"
            "VBoxManage: error: Context: \"FindMachine(Bstr(a->argv[0]).raw(), "
            "machine.asOutParam())\" at line 547 of file VBoxManageModifyVM.cpp\n");
  EXPECT_EQ(run("modifyvm {11111111-2222-3333-4444-000000000000} --memory 512"), 1);
  EXPECT_EQ(first_err_line(), "VBoxManage: error: Could not find a registered machine with UUID "
                              "{11111111-2222-3333-4444-000000000000}");
}

TEST_F(ModifyVmTest, ByUuidWithBracesAnyCase) {
  EXPECT_EQ(run("modifyvm {11111111-2222-3333-4444-555555555555} --memory 300"), 0);
  EXPECT_EQ(run("modifyvm 11111111-2222-3333-4444-555555555555 --memory 301"), 0);
  EXPECT_EQ(mem().memory_kib, 301u * 1024);
}

TEST_F(ModifyVmTest, RunningPausedStoppingAreLockedEvenWithBadOptions) {
  for (auto s : {backend::VmState::Running, backend::VmState::Paused, backend::VmState::Stopping}) {
    hv.vm("vm").state = s;
    EXPECT_EQ(run("modifyvm vm --large-pages maybe"), 1);
    EXPECT_EQ(out.stderr_text,
              "VBoxManage: error: The machine 'vm' is already locked for a session (or being "
              "unlocked)\n"
              "VBoxManage: error: Details: code VBOX_E_INVALID_OBJECT_STATE (0x80bb0007), "
              "component MachineWrap, interface IMachine, callee nsISupports\n"
              "VBoxManage: error: Context: \"LockMachine(a->session, LockType_Write)\" at line 573 "
              "of file VBoxManageModifyVM.cpp\n");
  }
  expect_unchanged();
}

TEST_F(ModifyVmTest, SavedVmIsNotMutable) {
  hv.vm("vm").state = backend::VmState::Saved;
  EXPECT_EQ(run("modifyvm vm --page-fusion on"), 1);
  EXPECT_EQ(first_err_line(), "VBoxManage: error: The machine is not mutable (state is Saved)");
  EXPECT_THAT(out.stderr_text, HasSubstr("Details: code VBOX_E_INVALID_VM_STATE (0x80bb0002), "
                                         "component SessionMachine, interface IMachine"));
  EXPECT_EQ(run("modifyvm vm --guest-memory-balloon 10"), 1);
  EXPECT_EQ(first_err_line(),
            "VBoxManage: error: The machine is not mutable or running (state is Saved)");
  expect_unchanged();
}

TEST_F(ModifyVmTest, AbortedVmIsMutable) {
  hv.vm("vm").state = backend::VmState::Aborted;
  EXPECT_EQ(run("modifyvm vm --memory 600"), 0);
  EXPECT_EQ(hv.vm("vm").memory.memory_kib, 600u * 1024);
  EXPECT_EQ(st.settings({"fakehost", hv.vm("vm").ref.uuid}).at("memory"), 600);
}

TEST_F(ModifyVmTest, Non64BitHostRefusesBalloonAndPageFusionAndCapsRam) {
  hv.host = {false}; // an i686 host
  EXPECT_EQ(run("modifyvm vm --guest-memory-balloon 0"), 1);
  EXPECT_EQ(first_err_line(),
            "VBoxManage: error: Memory ballooning is only supported on 64-bit hosts");
  EXPECT_THAT(out.stderr_text, HasSubstr("NS_ERROR_NOT_IMPLEMENTED (0x80004001)"));
  EXPECT_EQ(run("modifyvm vm --page-fusion off"), 1);
  EXPECT_EQ(first_err_line(), "VBoxManage: error: Page fusion is only supported on 64-bit hosts");
  EXPECT_EQ(run("modifyvm vm --memory 4000"), 1);
  EXPECT_THAT(first_err_line(), HasSubstr("must be in range [4, 3584] MB"));
  expect_unchanged();
}

TEST_F(ModifyVmTest, LibvirtFailureLeavesStoreUnchanged) {
  hv.fail_next("set_persistent_memory", "failed to save the configuration of 'vm': boom");
  EXPECT_EQ(run("modifyvm vm --memory 512"), 1);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: failed to save the configuration of 'vm': boom\n");
  expect_unchanged();
}

TEST_F(ModifyVmTest, StartsFromLibvirtTruthAfterDrift) {
  EXPECT_EQ(run("modifyvm vm --guest-memory-balloon 100"), 0);
  hv.vm("vm").memory.memory_kib = 2048 * 1024; // someone ran virsh setmaxmem --config
  hv.vm("vm").memory.current_kib = 2048 * 1024;
  EXPECT_EQ(run("modifyvm vm --page-fusion off"), 0);
  EXPECT_EQ(stored().at("memory"), 2048);
  EXPECT_EQ(stored().at("guestmemoryballoon"), 0);
}

TEST_F(ModifyVmTest, UnchangedSettingsDoNotRedefine) {
  EXPECT_EQ(run("modifyvm vm --memory 1024 --page-fusion on"), 0);
  EXPECT_TRUE(hv.calls.empty());
  EXPECT_EQ(stored().at("memory"), 1024);
}

// A stand-in for a process killed at a given point: not a std::exception, so nothing catches it.
struct Killed {};

TEST_F(ModifyVmTest, KilledAfterLibvirtChangeIsFinishedByTheNextWriter) {
  EXPECT_EQ(run("modifyvm vm --guest-memory-balloon 100"), 0);
  hv.after_define = [] { throw Killed{}; };
  EXPECT_THROW(run("modifyvm vm --memory 2048"), Killed);
  hv.after_define = nullptr;
  EXPECT_EQ(mem().memory_kib, 2048u * 1024);
  EXPECT_EQ(stored().at("memory"), 1024) << "the store's commit never happened";
  // Readers already see the change, with no drift warning.
  EXPECT_EQ(run("showvminfo vm --machinereadable"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("memory=2048\n"));
  EXPECT_THAT(out.stdout_text, HasSubstr("GuestMemoryBalloon=100\n"));
  EXPECT_EQ(out.stderr_text, "");
  // The next writer finishes it.
  EXPECT_EQ(run("modifyvm vm --page-fusion off"), 0);
  EXPECT_EQ(stored().at("memory"), 2048);
  EXPECT_EQ(stored().at("guestmemoryballoon"), 100);
  EXPECT_FALSE(st.pending({"fakehost", k_uuid}).has_value());
}

TEST_F(ModifyVmTest, ConnectionLostDuringTheDefineKeepsTheIntent) {
  // libvirtd applied the definition, then went away before answering.
  hv.after_define = [] { throw backend::BackendError("End of file while reading data", true); };
  EXPECT_EQ(run("modifyvm vm --memory 2048"), 1);
  hv.after_define = nullptr;
  EXPECT_EQ(first_err_line(), "VBoxManage: error: End of file while reading data");
  EXPECT_TRUE(st.pending({"fakehost", k_uuid}).has_value()) << "outcome unknown: keep the intent";
  EXPECT_EQ(run("showvminfo vm --machinereadable"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("memory=2048\n"));
  EXPECT_EQ(out.stderr_text, "") << "libvirt holds the intent's definition: no drift";
  EXPECT_EQ(run("modifyvm vm --page-fusion off"), 0);
  EXPECT_EQ(stored().at("memory"), 2048);
  EXPECT_FALSE(st.pending({"fakehost", k_uuid}).has_value());
}

TEST_F(ModifyVmTest, KilledBeforeLibvirtChangeIsForgotten) {
  hv.fail_next("set_persistent_memory", "connection reset");
  EXPECT_EQ(run("modifyvm vm --memory 2048"), 1);
  EXPECT_FALSE(st.pending({"fakehost", k_uuid}).has_value()) << "a refused change leaves no intent";
  // An intent whose definition never reached libvirt (killed before the call).
  st.put_pending(
      {"fakehost", k_uuid}, "vm",
      {{{"memory", 4096}, {"guestmemoryballoon", 0}, {"pagefusion", 1}, {"largepages", 0}},
       vm::to_record(mem()),
       vm::to_record(vm::to_domain({4096, 0, true, false}, {}))});
  EXPECT_EQ(run("showvminfo vm --machinereadable"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("memory=1024\n"));
  EXPECT_EQ(run("modifyvm vm --large-pages on"), 0);
  EXPECT_EQ(stored().at("memory"), 1024);
  EXPECT_EQ(stored().at("largepages"), 1);
  EXPECT_FALSE(st.pending({"fakehost", k_uuid}).has_value());
}

TEST(VmSettingsMapping, BalloonAboveLimitAfterRamLoweredIsCapped) {
  vm::VmSettings s{.memory_mb = 100, .balloon_mb = 500, .page_fusion = true, .large_pages = false};
  auto d = vm::to_domain(s, {});
  EXPECT_EQ(d.current_kib, (100u - 89) * 1024);
}

TEST(VmSettingsMapping, RoundTripThroughDomainAndStore) {
  vm::VmSettings s{.memory_mb = 512, .balloon_mb = 100, .page_fusion = false, .large_pages = true};
  EXPECT_EQ(vm::from_domain(vm::to_domain(s, {})), s);
  EXPECT_EQ(vm::from_store(vm::to_store(s)), s);
  EXPECT_FALSE(vm::from_store({{"memory", 512}}).has_value());
}

// Machine::setCPUCount: [1, 64] before the state check; VBoxManageModifyVM.cpp line 946.
TEST_F(ModifyVmTest, CpusLandInVcpuWithMemoryInOneCall) {
  EXPECT_EQ(run("modifyvm vm --memory 2048 --cpus 2"), 0);
  EXPECT_EQ(out.stderr_text, "");
  EXPECT_EQ(mem().memory_kib, 2048u * 1024);
  EXPECT_EQ(mem().vcpus, 2u);
  EXPECT_EQ(mem().current_vcpus, 2u);
  EXPECT_EQ(stored().at("cpus"), 2);
  EXPECT_EQ(run("modifyvm vm --cpus=64"), 0);
  EXPECT_EQ(mem().vcpus, 64u);
}

TEST_F(ModifyVmTest, CpusOutOfRangeChangeNothing) {
  for (const char* n : {"0", "65"}) {
    EXPECT_EQ(run(std::string("modifyvm vm --memory 2048 --cpus ") + n), 1);
    EXPECT_EQ(out.stderr_text,
              std::string("VBoxManage: error: Invalid virtual CPU count: ") + n +
                  " (must be in range [1, 64])\n"
                  "VBoxManage: error: Details: code NS_ERROR_INVALID_ARG (0x80070057), component "
                  "SessionMachine, interface IMachine, callee nsISupports\n"
                  "VBoxManage: error: Context: \"COMSETTER(CPUCount)(ValueUnion.u32)\" at line "
                  "946 of file VBoxManageModifyVM.cpp\n");
    expect_unchanged();
    EXPECT_EQ(mem().vcpus, 1u);
  }
}

TEST_F(ModifyVmTest, CpusKeepVcpusOnlineAtStartConsistent) {
  // Set with virsh: 2 of 4 online at start. Fewer stay as many (never above the count); all
  // would stay all.
  hv.vm("vm").memory.vcpus = 4;
  hv.vm("vm").memory.current_vcpus = 2;
  EXPECT_EQ(run("modifyvm vm --memory 2048"), 0);
  EXPECT_EQ(mem().current_vcpus, 2u); // an unrelated change leaves the vCPUs as they were
  EXPECT_EQ(run("modifyvm vm --cpus 8"), 0);
  EXPECT_EQ(mem().vcpus, 8u);
  EXPECT_EQ(mem().current_vcpus, 2u);
  EXPECT_EQ(run("modifyvm vm --cpus 1"), 0);
  EXPECT_EQ(mem().vcpus, 1u);
  EXPECT_EQ(mem().current_vcpus, 1u);
}

// VirtualBox's other modifyvm options (g_aModifyVMOptions) are its options, not typos: one line
// naming the option as typed, exit 1, nothing changed, even after valid options.
TEST_F(ModifyVmTest, VirtualBoxOptionsVboxkvmDoesNotManageAreRefusedByName) {
  const std::string msg =
      ": this VirtualBox setting is not managed by vboxkvm (KVM guests are configured with "
      "virsh edit)\n";
  for (const char* args :
       {"--nic1 nat", "--memory 2048 --nic1=nat", "--nictype2:virtio", "--nic-type2 virtio",
        "--vram 16", "--boot1 disk", "--cpuid-remove-all", "--ostype Ubuntu_64",
        "--natpf1 ssh,tcp,,22,,22", "--cpus 2 --description x", "--idec-ontroller PIIX4"}) {
    EXPECT_EQ(run(std::string("modifyvm vm ") + args), 1) << args;
    std::string word = args;
    word = word.substr(word.rfind("--"));
    word = word.substr(0, word.find_first_of(" =:"));
    EXPECT_EQ(out.stderr_text, "VBoxManage: error: " + word + msg) << args;
    expect_unchanged();
    EXPECT_EQ(mem().vcpus, 1u);
  }
  // The first failure in argv order wins, as in VirtualBox.
  EXPECT_EQ(run("modifyvm vm --memory 1 --nic1 nat"), 1);
  EXPECT_THAT(out.stderr_text, StartsWith("VBoxManage: error: Invalid RAM size: 1 MB"));
  // A typo stays one; so do a name VirtualBox lacks on Linux and a flag given a value.
  for (const char* bad : {"--nic-typo1", "--pci-attach", "--cpuid-remove-all=1", "--Memory"}) {
    EXPECT_EQ(run(std::string("modifyvm vm ") + bad + " x"), 1) << bad;
    EXPECT_THAT(out.stderr_text, HasSubstr(std::string("Unknown option: ") + bad)) << bad;
  }
  // A value that looks like a VirtualBox option is still the value of ours.
  EXPECT_EQ(run("modifyvm vm --memory --nic1"), 1);
  EXPECT_THAT(out.stderr_text, HasSubstr("Invalid argument format: --nic1"));
  EXPECT_EQ(run("modifyvm vm -- --nic1"), 1);
  EXPECT_THAT(out.stderr_text, HasSubstr("Invalid parameter '--nic1'"));
}

TEST(VboxOptionTable, HoldsEveryOptionOfOursAndMatchesAsRtGetOptDoes) {
  for (const auto& row : cli::modifyvm_rows()) {
    if (row.site.context.empty()) { // vboxkvm's own (no VBoxManage call): not VirtualBox's
      EXPECT_FALSE(cli::match_vbox_modifyvm_option(row.flag)) << row.flag;
      continue;
    }
    EXPECT_TRUE(cli::match_vbox_modifyvm_option(row.flag)) << row.flag;
    if (!row.legacy_flag.empty()) {
      EXPECT_TRUE(cli::match_vbox_modifyvm_option(row.legacy_flag)) << row.legacy_flag;
    }
  }
  size_t spellings = 0;
  for (const auto& o : cli::vbox_modifyvm_options()) {
    spellings += o.legacy_name.empty() ? 1 : 2;
  }
  EXPECT_EQ(spellings, 298u); // 7.0.14's 307 OPT entries, less 2 repeats and 7 not built on Linux
  EXPECT_EQ(cli::match_vbox_modifyvm_option("--nic12=nat"), "--nic12");
  EXPECT_EQ(cli::match_vbox_modifyvm_option("--nic"), "--nic"); // VirtualBox: needs an index
  EXPECT_EQ(cli::match_vbox_modifyvm_option("--nicx"), std::nullopt);
  EXPECT_EQ(cli::match_vbox_modifyvm_option("--vram1"), std::nullopt); // not indexed
  EXPECT_EQ(cli::match_vbox_modifyvm_option("--cpuidremoveall"), "--cpuidremoveall");
  EXPECT_EQ(cli::match_vbox_modifyvm_option("--cpuidremoveall:1"), std::nullopt);
}

} // namespace
} // namespace vbm::test

namespace vbm::test {
namespace {

// vboxkvm's balloon features (issue 15 points 3 and 4): <memballoon freePageReporting> and
// autodeflate, shutdown-only, refused where they cannot work.
struct BalloonFeatureTest : CliTest {
  BalloonFeatureTest() { hv.add("vm", k_uuid, 1024); }
  backend::DomainMemory mem() { return hv.vm("vm").memory; }
  store::Settings stored() { return st.settings({"fakehost", k_uuid}); }
};

TEST_F(BalloonFeatureTest, BothLandInLibvirtAndTheStoreSilently) {
  EXPECT_EQ(run("modifyvm vm --free-page-reporting on --balloon-deflate-on-oom=on"), 0);
  EXPECT_EQ(out.stdout_text, "");
  EXPECT_EQ(out.stderr_text, "");
  EXPECT_TRUE(mem().free_page_reporting);
  EXPECT_TRUE(mem().autodeflate);
  EXPECT_EQ(stored().at("freepagereporting"), 1);
  EXPECT_EQ(stored().at("balloondeflateonoom"), 1);
  EXPECT_EQ(run("modifyvm vm --free-page-reporting OFF --balloon-deflate-on-oom:off"), 0);
  EXPECT_FALSE(mem().free_page_reporting);
  EXPECT_FALSE(mem().autodeflate);
  EXPECT_EQ(stored().at("freepagereporting"), 0);
}

TEST_F(BalloonFeatureTest, NoBalloonDeviceIsRefusedAndNothingChanges) {
  hv.vm("vm").memory.balloon_device = false;
  EXPECT_EQ(run("modifyvm vm --memory 2048 --free-page-reporting on"), 1);
  EXPECT_EQ(out.stderr_text,
            "VBoxManage: error: free page reporting needs a memory balloon device: the VM has "
            "<memballoon model='none'> (add a virtio one with virsh edit)\n");
  EXPECT_EQ(mem().memory_kib, 1024u * 1024);
  EXPECT_TRUE(stored().empty());
  // Turning it off needs no device.
  EXPECT_EQ(run("modifyvm vm --free-page-reporting off --balloon-deflate-on-oom off"), 0);
}

TEST_F(BalloonFeatureTest, TooOldLibvirtOrQemuIsRefusedWithBothVersions) {
  hv.versions = {"QEMU", 5000000, 9000000};
  EXPECT_EQ(run("modifyvm vm --free-page-reporting on"), 1);
  EXPECT_EQ(
      first_err_line(),
      "VBoxManage: error: free page reporting needs QEMU 5.1.0 or later (the host has 5.0.0)");
  EXPECT_EQ(run("modifyvm vm --balloon-deflate-on-oom on"), 0); // QEMU 2.7 is enough
  hv.versions = {"QEMU", 7002000, 6008000};
  EXPECT_EQ(run("modifyvm vm --free-page-reporting on"), 1);
  EXPECT_EQ(first_err_line(), "VBoxManage: error: free page reporting needs libvirt 6.9.0 or "
                              "later (the host has 6.8.0)");
  hv.versions = {"QEMU", 2006002, 9000000};
  EXPECT_EQ(run("modifyvm vm --balloon-deflate-on-oom on"), 1);
  EXPECT_EQ(first_err_line(), "VBoxManage: error: deflate-on-OOM needs QEMU 2.7.0 or later (the "
                              "host has 2.6.2)");
  EXPECT_FALSE(mem().free_page_reporting);
}

TEST_F(BalloonFeatureTest, AnotherDriversVersionIsNotQemus) {
  hv.versions = {"TEST", 2, 9000000};
  EXPECT_EQ(run("modifyvm vm --free-page-reporting on"), 0);
}

TEST_F(BalloonFeatureTest, HugetlbfsPinnedByTheAdminIsRefused) {
  hv.vm("vm").memory.hugepages = true;
  hv.vm("vm").memory.hugepages_sized = true;
  EXPECT_EQ(run("modifyvm vm --balloon-deflate-on-oom on"), 1);
  EXPECT_THAT(first_err_line(), HasSubstr("deflate-on-OOM does not work on hugetlbfs"));
  // Large pages off lifts it, in the same command.
  EXPECT_EQ(run("modifyvm vm --large-pages off --balloon-deflate-on-oom on"), 0);
  EXPECT_FALSE(mem().hugepages);
  EXPECT_TRUE(mem().autodeflate);
}

TEST_F(BalloonFeatureTest, ShutdownOnly) {
  hv.vm("vm").state = backend::VmState::Saved;
  EXPECT_EQ(run("modifyvm vm --free-page-reporting on"), 1);
  EXPECT_EQ(out.stderr_text,
            "VBoxManage: error: The machine is not mutable (state is Saved)\n"
            "VBoxManage: error: Details: code VBOX_E_INVALID_VM_STATE (0x80bb0002), component "
            "SessionMachine, interface IMachine, callee nsISupports\n");
}

TEST_F(BalloonFeatureTest, AStoreWrittenBeforeTheFeaturesStillCounts) {
  EXPECT_EQ(run("modifyvm vm --memory 512"), 0);
  st.connection().exec("DELETE FROM vm_setting WHERE key IN ('freepagereporting', "
                       "'balloondeflateonoom')");
  EXPECT_EQ(run("modifyvm vm --guest-memory-balloon 100"), 0);
  EXPECT_EQ(mem().memory_kib, 512u * 1024);
  EXPECT_EQ(stored().at("freepagereporting"), 0);
}

} // namespace
} // namespace vbm::test
