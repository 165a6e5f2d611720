// vm/: the settings protocol and the session lock, driven directly (not through argv), on the
// fake hypervisor and an in-memory store.

#include "support/fake_hypervisor.hpp"
#include "sys/signals.hpp"
#include "vm/info.hpp"
#include "vm/session.hpp"
#include "vm/state.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vbm::test {
namespace {

using testing::HasSubstr;

constexpr const char* k_uuid = "11111111-2222-3333-4444-555555555555";
const vm::CallSite k_site{"LockMachine(a->session, LockType_Write)", "VBoxManageModifyVM.cpp", 573};

struct VmTest : testing::Test {
  FakeHypervisor hv;
  store::SettingsStore st{":memory:"};
  store::VmKey key{"fakehost", k_uuid};
  VmTest() { hv.add("vm", k_uuid, 1024); }
  ~VmTest() override { sys::set_pause_hook({}); }
  backend::VmRef ref() { return hv.vm("vm").ref; }
  vm::Applied set_memory(std::uint32_t mb) {
    return vm::apply_settings(
        hv, st, ref(), k_site,
        [&](vm::VmSettings& s, const vm::SetterContext&) { s.memory_mb = mb; });
  }
  std::int64_t pending_count() {
    return st.connection().query_int("SELECT count(*) FROM pending_change");
  }
};

TEST_F(VmTest, ApplyWritesLibvirtAndTheStoreTogether) {
  auto applied = set_memory(512);
  EXPECT_EQ(applied.before.memory_mb, 1024u);
  EXPECT_EQ(applied.after.memory_mb, 512u);
  EXPECT_EQ(hv.vm("vm").memory.memory_kib, 512u * 1024);
  EXPECT_EQ(st.settings(key).at("memory"), 512);
  EXPECT_EQ(pending_count(), 0);
}

TEST_F(VmTest, AnEditThatThrowsWritesNothing) {
  EXPECT_THROW(vm::apply_settings(hv, st, ref(), k_site,
                                  [](vm::VmSettings& s, const vm::SetterContext&) {
                                    s.memory_mb = 2048;
                                    throw Error("bad option");
                                  }),
               Error);
  EXPECT_EQ(hv.vm("vm").memory.memory_kib, 1024u * 1024);
  EXPECT_TRUE(st.settings(key).empty());
  EXPECT_EQ(pending_count(), 0);
  EXPECT_TRUE(hv.calls.empty());
}

TEST_F(VmTest, AnActiveVmIsLockedBeforeAnyEdit) {
  hv.run("vm");
  bool edited = false;
  try {
    vm::apply_settings(hv, st, ref(), k_site,
                       [&](vm::VmSettings&, const vm::SetterContext&) { edited = true; });
    FAIL() << "no error";
  } catch (const vm::ApiError& e) {
    EXPECT_THAT(e.what(), HasSubstr("is already locked for a session"));
    EXPECT_EQ(e.line, 573);
  }
  EXPECT_FALSE(edited);
}

TEST_F(VmTest, AVmStartedByAnotherToolJustBeforeTheWriteIsNotChanged) {
  // virsh start needs no session lock: the check once more right before libvirt is written.
  sys::set_pause_hook([&](const char* point) {
    if (std::string_view(point) == "modifyvm-define") {
      hv.run("vm");
    }
  });
  EXPECT_THROW(set_memory(512), vm::ApiError);
  EXPECT_EQ(hv.vm("vm").memory.memory_kib, 1024u * 1024);
  EXPECT_TRUE(st.settings(key).empty());
  EXPECT_EQ(pending_count(), 0);
}

TEST_F(VmTest, LibvirtRefusingForgetsTheIntent) {
  hv.fail_next("set_persistent_memory", "failed to set the maximum memory of 'vm': no");
  EXPECT_THROW(set_memory(512), backend::BackendError);
  EXPECT_EQ(pending_count(), 0);
  EXPECT_TRUE(st.settings(key).empty());
}

TEST_F(VmTest, AConnectionLostMidWriteKeepsTheIntentAndTheNextWriterSettlesIt) {
  hv.after_define = [] { throw backend::BackendError("End of file while reading data", true); };
  EXPECT_THROW(set_memory(512), backend::BackendError);
  hv.after_define = nullptr;
  EXPECT_EQ(pending_count(), 1);
  // A reader already counts it as made (libvirt holds it) ...
  EXPECT_EQ(vm::resolve_settings(st, key, hv.vm("vm").memory).settings.memory_mb, 512u);
  // ... and the next writer commits it.
  set_memory(512);
  EXPECT_EQ(pending_count(), 0);
  EXPECT_EQ(st.settings(key).at("memory"), 512);
}

TEST_F(VmTest, AChangeLeftHalfMadeIsRolledForwardByTheNextWriter) {
  // A killed writer set <memory> (one libvirt call) but not yet <currentMemory> (the next).
  vm::VmSettings wanted{
      .memory_mb = 2048, .balloon_mb = 100, .page_fusion = false, .large_pages = false};
  auto before = hv.vm("vm").memory;
  auto after = vm::to_domain(wanted, {});
  st.put_pending(key, "vm", {vm::to_store(wanted), vm::to_record(before), vm::to_record(after)});
  hv.vm("vm").memory.memory_kib = after.memory_kib;
  auto half = hv.vm("vm").memory;
  // A reader shows the change (no drift warning), since the next writer finishes it.
  auto resolved = vm::resolve_settings(st, key, half);
  EXPECT_FALSE(resolved.drift.has_value());
  EXPECT_EQ(resolved.settings, wanted);
  // The next writer finishes it before its own change.
  vm::apply_settings(hv, st, ref(), k_site,
                     [](vm::VmSettings& s, const vm::SetterContext&) { s.page_fusion = true; });
  EXPECT_EQ(hv.vm("vm").memory.current_kib, (2048u - 100) * 1024);
  EXPECT_EQ(st.settings(key).at("guestmemoryballoon"), 100);
  EXPECT_EQ(st.settings(key).at("pagefusion"), 1);
  EXPECT_EQ(pending_count(), 0);
}

TEST_F(VmTest, AnIntentSomeoneElseOverwroteIsForgotten) {
  vm::VmSettings wanted{
      .memory_mb = 2048, .balloon_mb = 0, .page_fusion = false, .large_pages = false};
  st.put_pending(key, "vm",
                 {vm::to_store(wanted), vm::to_record(hv.vm("vm").memory),
                  vm::to_record(vm::to_domain(wanted, {}))});
  hv.vm("vm").memory.memory_kib = 3000 * 1024; // virsh set something else meanwhile
  auto resolved = vm::resolve_settings(st, key, hv.vm("vm").memory);
  EXPECT_EQ(resolved.settings.memory_mb, 3000u);
  set_memory(1000);
  EXPECT_EQ(pending_count(), 0);
  EXPECT_EQ(st.settings(key).at("memory"), 1000);
}

TEST_F(VmTest, StartMachineFinishesAHalfMadeChangeFirst) {
  vm::VmSettings wanted{
      .memory_mb = 512, .balloon_mb = 0, .page_fusion = false, .large_pages = false};
  auto after = vm::to_domain(wanted, {});
  st.put_pending(key, "vm",
                 {vm::to_store(wanted), vm::to_record(hv.vm("vm").memory), vm::to_record(after)});
  hv.vm("vm").memory.current_kib = after.current_kib; // the first of two calls was made
  bool starting = false;
  auto started = vm::start_machine(
      hv, st, ref(), "headless", k_site, {}, [&](bool) { starting = true; },
      [](const std::string&) {});
  EXPECT_TRUE(starting);
  ASSERT_TRUE(started.has_value());
  EXPECT_GE(started->id, 0);
  EXPECT_EQ(hv.vm("vm").live.memory_kib, 512u * 1024); // started with the whole change
  EXPECT_EQ(pending_count(), 0);
}

TEST_F(VmTest, StartMachineRefusesAnActiveVm) {
  hv.run("vm");
  bool starting = false;
  EXPECT_THROW(vm::start_machine(
                   hv, st, ref(), "headless", k_site, {}, [&](bool) { starting = true; },
                   [](const std::string&) {}),
               vm::ApiError);
  EXPECT_FALSE(starting);
}

TEST(Frontend, LaunchVMProcessNames) {
  using vm::Frontend;
  for (const char* name : {"headless", "Headless", "capture", "CAPTURE", "vrdp", "Vrdp"}) {
    EXPECT_EQ(vm::parse_frontend(name), Frontend::Headless) << name;
  }
  for (const char* name : {"gui", "GUI", "GUI/Qt", "gui/qt"}) {
    EXPECT_EQ(vm::parse_frontend(name), Frontend::Window) << name;
  }
  for (const char* name : {"separate", "Separate", "gui/separate", "GUI/Qt/separate"}) {
    EXPECT_EQ(vm::parse_frontend(name), Frontend::SeparateWindow) << name;
  }
  EXPECT_EQ(vm::parse_frontend("emergencystop"), Frontend::EmergencyStop);
  for (const char* name : {"EmergencyStop", "sdl", "GUI/SDL", "", "gui ", "headles", "xseparate"}) {
    EXPECT_EQ(vm::parse_frontend(name), Frontend::Invalid) << name;
  }
}

TEST_F(VmTest, GatherRecordsTheStateItSawAndKeepsItsTime) {
  auto first = vm::gather(hv, st, ref(), 1000);
  EXPECT_EQ(first.state_since_ms, 1000);
  EXPECT_EQ(vm::gather(hv, st, ref(), 5000).state_since_ms, 1000); // still powered off
  hv.run("vm");
  auto running = vm::gather(hv, st, hv.vm("vm").ref, 9000);
  EXPECT_EQ(running.state, backend::VmState::Running);
  EXPECT_EQ(running.state_since_ms, 9000);
  EXPECT_EQ(st.state(key)->state, "running");
}

TEST_F(VmTest, GatherReportsDriftWithLibvirtsValues) {
  set_memory(512);
  hv.vm("vm").memory.memory_kib = 600 * 1024; // virsh setmaxmem --config
  auto info = vm::gather(hv, st, ref(), 1);
  ASSERT_TRUE(info.drift.has_value());
  EXPECT_THAT(*info.drift, HasSubstr("<memory> 524288 KiB, now 614400 KiB"));
  EXPECT_EQ(info.memory_mb, 600u);
}

TEST(VmState, FindMachineNamesWhatItLookedFor) {
  FakeHypervisor hv;
  try {
    vm::find_machine(hv, "{AAAAAAAA-2222-3333-4444-555555555555}", {"FindMachine(…)", "f.cpp", 7});
    FAIL() << "no error";
  } catch (const vm::ApiError& e) {
    EXPECT_STREQ(
        e.what(),
        "Could not find a registered machine with UUID {aaaaaaaa-2222-3333-4444-555555555555}");
    EXPECT_EQ(e.detail_lines().at(1), "Context: \"FindMachine(…)\" at line 7 of file f.cpp");
  }
}

} // namespace
} // namespace vbm::test
