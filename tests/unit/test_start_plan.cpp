// vm/start_plan: what startvm decides before asking libvirt (the backing of large pages), as
// pure functions of figures; and start_machine carrying the decision out on the fake hypervisor.

#include "pagefusion/host.hpp"
#include "support/fake_hypervisor.hpp"
#include "vm/session.hpp"
#include "vm/start_plan.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace vbm::test {
namespace {

using testing::HasSubstr;

// A 128 MiB VM with large pages, no page fusion, no balloon: what hugetlbfs suits.
backend::DomainMemory large_pages_vm() {
  backend::DomainMemory m;
  m.memory_kib = m.current_kib = 128 * 1024;
  m.nosharepages = true;
  m.hugepages = true;
  return m;
}

TEST(ChooseBacking, APoolThatCoversAllRamGivesHugetlbfs) {
  auto b = vm::choose_backing(large_pages_vm(), backend::HugePagePool{2048, 64, 64});
  EXPECT_TRUE(b.hugetlbfs);
  EXPECT_EQ(b.why, "");
}

TEST(ChooseBacking, OnePageShortGivesTransparentHugePagesAndTheSysctl) {
  auto b = vm::choose_backing(large_pages_vm(), backend::HugePagePool{2048, 80, 63});
  EXPECT_FALSE(b.hugetlbfs);
  EXPECT_EQ(b.why, "the host's huge page pool has 63 free 2048 KiB pages, 64 needed (reserve "
                   "them: sysctl vm.nr_hugepages=81)");
}

TEST(ChooseBacking, RamThatIsNotAWholeNumberOfPagesRoundsUp) {
  auto m = large_pages_vm();
  m.memory_kib = m.current_kib = 129 * 1024; // 64.5 pages
  EXPECT_FALSE(vm::choose_backing(m, backend::HugePagePool{2048, 64, 64}).hugetlbfs);
  EXPECT_TRUE(vm::choose_backing(m, backend::HugePagePool{2048, 65, 65}).hugetlbfs);
}

TEST(ChooseBacking, NoPoolAtAll) {
  auto b = vm::choose_backing(large_pages_vm(), backend::HugePagePool{2048, 0, 0});
  EXPECT_FALSE(b.hugetlbfs);
  EXPECT_THAT(b.why, HasSubstr("has 0 free 2048 KiB pages, 64 needed"));
  EXPECT_THAT(b.why, HasSubstr("vm.nr_hugepages=64"));
  EXPECT_EQ(vm::choose_backing(large_pages_vm(), backend::HugePagePool{}).why,
            "the host has no huge pages");
}

TEST(ChooseBacking, AnUnknownPoolIsTried) {
  EXPECT_TRUE(vm::choose_backing(large_pages_vm(), std::nullopt).hugetlbfs);
}

TEST(ChooseBacking, WhatNeedsSmallPagesWinsOverThePool) {
  backend::HugePagePool plenty{2048, 1000, 1000};
  auto fusion = large_pages_vm();
  fusion.nosharepages = false;
  EXPECT_EQ(vm::choose_backing(fusion, plenty).why,
            "page fusion is on (KSM merges no hugetlbfs page)");
  auto balloon = large_pages_vm();
  balloon.current_kib = 100 * 1024;
  EXPECT_EQ(vm::choose_backing(balloon, plenty).why,
            "a memory balloon is set (hugetlbfs pages never return to the host)");
}

TEST(ChooseBacking, PageSizesTheAdminNamedAreLibvirts) {
  auto m = large_pages_vm();
  m.hugepages_sized = true;
  m.nosharepages = false;
  EXPECT_TRUE(vm::choose_backing(m, backend::HugePagePool{}).hugetlbfs);
}

// ---- admission: the arithmetic (vm::admit, vm::guest_floor) -----------------------------------

backend::DomainMemory ram_mb(std::uint64_t mb) {
  backend::DomainMemory m;
  m.memory_kib = m.current_kib = mb * 1024;
  return m;
}

TEST(GuestFloor, RamLessTheLargestBalloonVirtualBoxAccepts) {
  // 1024 MB: the balloon may take up to floor(9·1024/10) − 1 = 920 MB, so 104 MB stay.
  EXPECT_EQ(vm::guest_floor("g", ram_mb(1024), false).floor_kib, 104u * 1024);
  // 4 MB (the least VirtualBox accepts): floor(36/10) − 1 = 2 MB may go.
  EXPECT_EQ(vm::guest_floor("g", ram_mb(4), false).floor_kib, 2u * 1024);
}

TEST(GuestFloor, ABalloonThatCannotTakeAnythingLeavesAllOfRam) {
  auto none = ram_mb(1024);
  none.balloon_device = false;
  EXPECT_EQ(vm::guest_floor("g", none, false).floor_kib, 1024u * 1024);
  auto deflates = ram_mb(1024);
  deflates.autodeflate = true; // the guest takes it back when it needs it
  EXPECT_EQ(vm::guest_floor("g", deflates, false).floor_kib, 1024u * 1024);
  EXPECT_EQ(vm::guest_floor("g", ram_mb(1024), true).floor_kib, 1024u * 1024);
}

TEST(GuestFloor, ABalloonConfiguredLargerThanRamDoesNotMatter) {
  // <currentMemory> below what VirtualBox would accept (virsh): the floor is from RAM alone.
  auto m = ram_mb(1024);
  m.current_kib = 1024; // a balloon of 1023 MB
  EXPECT_EQ(vm::guest_floor("g", m, false).floor_kib, 104u * 1024);
  // RAM below a whole MB and tiny: never below 0.
  backend::DomainMemory tiny;
  tiny.memory_kib = tiny.current_kib = 512;
  EXPECT_EQ(vm::guest_floor("g", tiny, false).floor_kib, 512u);
}

vm::GuestFloor guest(const char* name, std::uint64_t memory_mb, std::uint64_t floor_mb,
                     bool hugetlbfs = false) {
  return {name, memory_mb * 1024, floor_mb * 1024, hugetlbfs};
}

TEST(Admit, FitsExactlyAndOneMbOver) {
  vm::HostMemory host{4096 * 1024, 0, 0};
  std::vector<vm::GuestFloor> running{guest("a", 8192, 3000)};
  EXPECT_FALSE(vm::admit(host, running, guest("vm", 2048, 1096), {}).refusal);
  auto a = vm::admit(host, running, guest("vm", 2048, 1097), {});
  ASSERT_TRUE(a.refusal);
  EXPECT_EQ(*a.refusal, "'vm' does not fit: it keeps at least 1097 MB that no balloon can take, "
                        "the running guests 3000 MB, 4097 MB in all, above the host's 4096 MB (RAM "
                        "4096 MB + swap 0 MB); stop a guest or give this VM less memory, or start "
                        "it anyway with startvm --force");
}

TEST(Admit, SwapCountsAndAnUnknownSwapIsSaid) {
  std::vector<vm::GuestFloor> running{guest("a", 8192, 3000)};
  EXPECT_FALSE(
      vm::admit({4096 * 1024, 2048 * 1024, 0}, running, guest("vm", 2048, 2000), {}).refusal);
  // A remote host (libvirt's node figures): no swap figure, RAM alone.
  auto a = vm::admit({4096 * 1024, std::nullopt, 0}, running, guest("vm", 2048, 2000), {});
  ASSERT_TRUE(a.refusal);
  EXPECT_THAT(*a.refusal, HasSubstr("above the host's 4096 MB (RAM 4096 MB (swap not known))"));
}

TEST(Admit, TheHugePagePoolIsNotRamForOthersAndItsGuestsAreNotCounted) {
  vm::HostMemory host{4096 * 1024, 0, 1024 * 1024};
  std::vector<vm::GuestFloor> running{guest("huge", 1024, 1024, true)};
  auto a = vm::admit(host, running, guest("vm", 3072, 3072), {});
  EXPECT_EQ(a.capacity_kib, 3072u * 1024);
  EXPECT_EQ(a.running_floors_kib, 0u);
  EXPECT_FALSE(a.refusal);
  a = vm::admit(host, running, guest("vm", 3073, 3073), {});
  ASSERT_TRUE(a.refusal);
  EXPECT_THAT(*a.refusal, HasSubstr("(RAM 4096 MB - huge page pool 1024 MB + swap 0 MB)"));
  // A hugetlbfs-backed VM itself is the pool's (choose_backing checked it).
  EXPECT_FALSE(vm::admit(host, running, guest("vm", 8192, 8192, true), {}).refusal);
}

TEST(Admit, TheOvercommitLimitCountsAllGuestRam) {
  vm::HostMemory host{4096 * 1024, 0, 0};
  vm::AdmissionPolicy policy{150, "/etc/vboxkvm/memory.conf"};
  std::vector<vm::GuestFloor> running{guest("a", 4096, 400), guest("b", 1024, 100)};
  auto ok = vm::admit(host, running, guest("vm", 1024, 100), policy);
  EXPECT_FALSE(ok.refusal);
  EXPECT_EQ(ok.limit_kib, 6144u * 1024);
  auto a = vm::admit(host, running, guest("vm", 1025, 100), policy);
  ASSERT_TRUE(a.refusal);
  EXPECT_EQ(*a.refusal, "'vm' would commit 6145 MB of guest RAM (running guests 5120 MB + its "
                        "1025 MB), above the overcommit limit of 150% of the host's 4096 MB RAM = "
                        "6144 MB (/etc/vboxkvm/memory.conf); stop a guest or give this VM less "
                        "memory, or start it anyway with startvm --force");
  EXPECT_FALSE(vm::admit(host, running, guest("vm", 1025, 100), {}).refusal); // no policy
}

TEST(Admit, NothingRunning) {
  EXPECT_FALSE(vm::admit({1024 * 1024, 0, 0}, {}, guest("vm", 1024, 1024), {}).refusal);
  EXPECT_TRUE(vm::admit({1024 * 1024, 0, 0}, {}, guest("vm", 1025, 1025), {}).refusal);
}

constexpr const char* k_uuid = "11111111-2222-3333-4444-555555555555";
const vm::CallSite k_site{"LaunchVMProcess", "VBoxManageMisc.cpp", 880};

struct StartTest : testing::Test {
  FakeHypervisor hv;
  store::SettingsStore st{":memory:"};
  std::vector<std::string> warnings;
  vm::StartRequest req;
  StartTest() {
    auto& v = hv.add("vm", k_uuid, 128);
    v.memory.hugepages = true;
    v.memory.nosharepages = true;
  }
  std::optional<backend::VmRef> start() {
    return vm::start_machine(
        hv, st, hv.vm("vm").ref, "headless", k_site, req, [](bool) {},
        [&](const std::string& w) { warnings.push_back(w); });
  }
};

TEST_F(StartTest, NoPoolStartsOnTransparentHugePagesAndSaysWhy) {
  ASSERT_TRUE(start());
  EXPECT_FALSE(hv.vm("vm").live.hugepages);
  EXPECT_TRUE(hv.vm("vm").memory.hugepages); // the definition is left as it is
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "'vm' runs on transparent huge pages, not hugetlbfs: the host's huge "
                         "page pool has 0 free 2048 KiB pages, 64 needed (reserve them: sysctl "
                         "vm.nr_hugepages=64)");
}

TEST_F(StartTest, APoolBacksItWithHugetlbfsSilently) {
  hv.pool = backend::HugePagePool{2048, 64, 64};
  ASSERT_TRUE(start());
  EXPECT_TRUE(hv.vm("vm").live.hugepages);
  EXPECT_TRUE(warnings.empty());
}

TEST_F(StartTest, LibvirtRefusingHugetlbfsFallsBackWithItsReason) {
  hv.pool = backend::HugePagePool{2048, 64, 64};
  hv.fail_next("start", "failed to start 'vm': internal error: hugetlbfs filesystem is not "
                        "mounted or disabled by administrator config");
  ASSERT_TRUE(start());
  EXPECT_FALSE(hv.vm("vm").live.hugepages);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("libvirt could not back it with huge pages (failed to start "
                                     "'vm': internal error: hugetlbfs filesystem is not mounted"));
}

// Page fusion with large pages: the run is on transparent huge pages whatever the pool, so the
// page-fusion controller counts it (pagefusion::is_page_fusion_guest reads the live XML); one on
// hugetlbfs it does not.
TEST_F(StartTest, PageFusionCountsWhatTheRunReallyGot) {
  hv.pool = backend::HugePagePool{2048, 1000, 1000};
  hv.vm("vm").memory.nosharepages = false;
  ASSERT_TRUE(start());
  EXPECT_TRUE(pagefusion::is_page_fusion_guest(hv.vm("vm").live));
  hv.power(hv.vm("vm").ref, backend::PowerAction::PowerOff);
  hv.vm("vm").memory.nosharepages = true;
  ASSERT_TRUE(start());
  EXPECT_TRUE(hv.vm("vm").live.hugepages);
  EXPECT_FALSE(pagefusion::is_page_fusion_guest(hv.vm("vm").live));
}

TEST_F(StartTest, WithoutLargePagesNothingIsDecided) {
  hv.vm("vm").memory.hugepages = false;
  hv.fail_next("huge_page_pool", "must not be asked");
  ASSERT_TRUE(start());
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(hv.calls, std::vector<std::string>{"start vm"});
}

// Admission through start_machine, on a remote-looking host (the fake's node figures).
TEST_F(StartTest, AVmThatDoesNotFitIsRefusedBeforeAnythingStarts) {
  hv.add("big", "22222222-2222-3333-4444-555555555555", 1000);
  hv.run("big"); // floor 1000 − 899 = 101 MB
  auto& v = hv.vm("vm");
  v.memory.hugepages = false;
  v.memory.balloon_device = false; // all of its 128 MB are its floor
  hv.node.mem_total_kib = 200 * 1024;
  bool starting = false;
  try {
    vm::start_machine(
        hv, st, v.ref, "headless", k_site, req, [&](bool) { starting = true; },
        [&](const std::string& w) { warnings.push_back(w); });
    FAIL() << "admitted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("'vm' does not fit: it keeps at least 128 MB that no balloon "
                                    "can take, the running guests 101 MB, 229 MB in all, above "
                                    "the host's 200 MB (RAM 200 MB (swap not known))"));
  }
  EXPECT_FALSE(starting);
  EXPECT_EQ(hv.vm("vm").state, backend::VmState::PoweredOff);
  // --force: started, the refusal as a warning.
  req.force = true;
  ASSERT_TRUE(start());
  EXPECT_EQ(hv.vm("vm").state, backend::VmState::Running);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], testing::StartsWith("starting anyway (--force): 'vm' does not fit"));
}

TEST_F(StartTest, DryRunPlansWithoutStarting) {
  hv.node.mem_total_kib = 4096 * 1024;
  auto plan = vm::plan_machine_start(hv, st, hv.vm("vm").ref, k_site, {});
  ASSERT_TRUE(plan.backing);
  EXPECT_FALSE(plan.backing->hugetlbfs);
  ASSERT_TRUE(plan.admission);
  EXPECT_FALSE(plan.admission->refusal);
  EXPECT_EQ(plan.admission->vm_floor_kib, 128u * 1024 - 114u * 1024);
  EXPECT_EQ(hv.vm("vm").state, backend::VmState::PoweredOff);
  hv.run("vm");
  EXPECT_THROW(vm::plan_machine_start(hv, st, hv.vm("vm").ref, k_site, {}), vm::ApiError);
}

} // namespace
} // namespace vbm::test

namespace vbm::test {
namespace {

// /etc/vboxkvm/memory.conf: overcommit = N%, the admin's alone.
struct PolicyFile : testing::Test {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("vbm-policy-" + std::to_string(::getpid()));
  std::filesystem::path file = dir / "memory.conf";
  PolicyFile() { std::filesystem::create_directories(dir); }
  ~PolicyFile() override { std::filesystem::remove_all(dir); }
  void write(const std::string& text, std::filesystem::perms perms = std::filesystem::perms(0644)) {
    std::ofstream(file) << text;
    std::filesystem::permissions(file, perms);
  }
  std::string error() {
    try {
      vm::read_admission_policy(file);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
};

TEST_F(PolicyFile, AMissingFileIsNoLimit) {
  EXPECT_FALSE(vm::read_admission_policy(file).overcommit_percent);
}

TEST_F(PolicyFile, PercentWithOrWithoutTheSignCommentsAndBlanks) {
  write("# oVirt's server policy\n\n  overcommit = 150%  # comment\n");
  auto p = vm::read_admission_policy(file);
  EXPECT_EQ(p.overcommit_percent, 150u);
  EXPECT_EQ(p.source, file.string());
  write("overcommit=200\n");
  EXPECT_EQ(vm::read_admission_policy(file).overcommit_percent, 200u);
}

TEST_F(PolicyFile, WhatItDoesNotUnderstandIsOneLineNamingTheLine) {
  write("overcommit = lots\n");
  EXPECT_EQ(error(), file.string() + ":1: overcommit must be a percentage of host RAM from 10% to "
                                     "10000% (e.g. 150%), not 'lots'");
  write("\nswap = yes\n");
  EXPECT_EQ(error(), file.string() + ":2: unknown setting 'swap' (known: overcommit)");
  write("overcommit = 5%\n");
  EXPECT_THAT(error(), HasSubstr("not '5%'"));
}

TEST_F(PolicyFile, AFileOthersCanWriteIsNotTrusted) {
  write("overcommit = 100%\n", std::filesystem::perms(0666));
  EXPECT_EQ(error(), "refusing '" + file.string() +
                         "': it must be a regular file of root's that only root can write "
                         "(chown root: and chmod go-w it)");
  std::filesystem::remove(file);
  std::filesystem::create_symlink("/etc/hostname", file);
  EXPECT_THAT(error(), HasSubstr("refusing"));
}

} // namespace
} // namespace vbm::test
