// showvminfo and list output formats (spec §1.7, §5) and drift reporting.

#include "support/cli_fixture.hpp"
#include "vm/info.hpp"

#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

using testing::HasSubstr;

namespace vbm::test {
namespace {

struct ShowVmInfoTest : CliTest {
  ShowVmInfoTest() {
    auto& a = hv.add("zeta", "aaaaaaaa-0000-0000-0000-000000000001", 1024);
    a.memory.nosharepages = true;
    auto& b = hv.add("alpha one", "bbbbbbbb-0000-0000-0000-000000000002", 2048);
    b.memory.current_kib = 1536 * 1024;
    b.memory.hugepages = true;
    b.state = backend::VmState::Running;
    hv.add("mid", "cccccccc-0000-0000-0000-000000000003").state = backend::VmState::Paused;
    hv.add("saved", "dddddddd-0000-0000-0000-000000000004").state = backend::VmState::Saved;
  }
};

// VBoxManageInfo.cpp showVMInfo: its order, the 7.0 encryption line, the running guest's
// IGuest lines (run level 0, no facilities) and the closing blank line.
TEST_F(ShowVmInfoTest, HumanLabelsPaddingAndUnits) {
  EXPECT_EQ(run_args({"showvminfo", "alpha one"}), 0);
  EXPECT_EQ(out.stdout_text,
            "Name:                        alpha one\n"
            "Encryption:     disabled\n"
            "Groups:                      /\n"
            "UUID:                        bbbbbbbb-0000-0000-0000-000000000002\n"
            "Memory size:                 2048MB\n"
            "Page Fusion:                 enabled\n"
            "Number of CPUs:              1\n"
            "Large Pages:                 enabled\n"
            "Large Pages backing:         transparent huge pages\n"
            "Free Page Reporting:         disabled\n"
            "Balloon Deflate on OOM:      disabled\n"
            "State:                       running (since 2023-11-14T22:13:20.123000000)\n"
            // No <interface>: VirtualBox's 8 PIIX3 adapter slots, all empty.
            "NIC 1:                       disabled\n"
            "NIC 2:                       disabled\n"
            "NIC 3:                       disabled\n"
            "NIC 4:                       disabled\n"
            "NIC 5:                       disabled\n"
            "NIC 6:                       disabled\n"
            "NIC 7:                       disabled\n"
            "NIC 8:                       disabled\n"
            "* Guest:\n"
            "Configured memory balloon:   512MB\n"
            "Additions run level:         0\n"
            "Guest Facilities:            <none>\n"
            "\n");
  EXPECT_EQ(out.stderr_text, "");
}

// What libvirt says beyond the sizing: the libosinfo OS (as VirtualBox's type), the file of a
// persistent definition, the managed-save image of a saved VM (machine-readable only), the
// vCPUs, and the groups kept in extra data.
TEST_F(ShowVmInfoTest, OsTypeConfigFileStateFileCpusAndGroups) {
  auto& v = hv.vm("saved");
  v.memory.vcpus = v.memory.current_vcpus = 4;
  v.details = {"x86_64",
               "http://ubuntu.com/ubuntu/22.04",
               "/etc/libvirt/qemu/saved.xml",
               "/var/lib/libvirt/qemu/save/saved.save",
               "",
               {}};
  EXPECT_EQ(run_args({"setextradata", "saved", "VBoxKVM/Groups", "/web, /db"}), 0);
  EXPECT_EQ(run("showvminfo saved"), 0);
  EXPECT_EQ(out.stdout_text,
            "Name:                        saved\n"
            "Encryption:     disabled\n"
            "Groups:                      /web,/db\n"
            "Guest OS:                    Ubuntu (64-bit)\n"
            "UUID:                        dddddddd-0000-0000-0000-000000000004\n"
            "Config file:                 /etc/libvirt/qemu/saved.xml\n"
            "Memory size:                 1024MB\n"
            "Page Fusion:                 enabled\n"
            "Number of CPUs:              4\n"
            "Large Pages:                 disabled\n"
            "Free Page Reporting:         disabled\n"
            "Balloon Deflate on OOM:      disabled\n"
            "State:                       saved (since 2023-11-14T22:13:20.123000000)\n"
            // No <interface>: VirtualBox's 8 PIIX3 adapter slots, all empty.
            "NIC 1:                       disabled\n"
            "NIC 2:                       disabled\n"
            "NIC 3:                       disabled\n"
            "NIC 4:                       disabled\n"
            "NIC 5:                       disabled\n"
            "NIC 6:                       disabled\n"
            "NIC 7:                       disabled\n"
            "NIC 8:                       disabled\n"
            "* Guest:\n"
            "Configured memory balloon:   0MB\n"
            "\n");
  EXPECT_EQ(run("showvminfo saved --machinereadable"), 0);
  EXPECT_EQ(out.stdout_text, "name=\"saved\"\n"
                             "Encryption:     disabled\n"
                             "groups=\"/web,/db\"\n"
                             "ostype=\"Ubuntu (64-bit)\"\n"
                             "UUID=\"dddddddd-0000-0000-0000-000000000004\"\n"
                             "CfgFile=\"/etc/libvirt/qemu/saved.xml\"\n"
                             "memory=1024\n"
                             "pagefusion=\"on\"\n"
                             "cpus=4\n"
                             "largepages=\"off\"\n"
                             "freepagereporting=\"off\"\n"
                             "balloondeflateonoom=\"off\"\n"
                             "VMState=\"saved\"\n"
                             "VMStateChangeTime=\"2023-11-14T22:13:20.123000000\"\n"
                             "VMStateFile=\"/var/lib/libvirt/qemu/save/saved.save\"\n"
                             "nic1=\"none\"\n"
                             "nic2=\"none\"\n"
                             "nic3=\"none\"\n"
                             "nic4=\"none\"\n"
                             "nic5=\"none\"\n"
                             "nic6=\"none\"\n"
                             "nic7=\"none\"\n"
                             "nic8=\"none\"\n"
                             "GuestMemoryBalloon=0\n");
  // Running, IGuest's OS type is the machine's id; no state file once it runs.
  v.state = backend::VmState::Running;
  EXPECT_EQ(run("showvminfo saved --machinereadable"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("GuestMemoryBalloon=0\n"
                                         "GuestOSType=\"Ubuntu_64\"\n"
                                         "GuestAdditionsRunLevel=0\n"));
  EXPECT_THAT(out.stdout_text, testing::Not(HasSubstr("VMStateFile")));
  EXPECT_EQ(run("showvminfo saved --json"), 0);
  auto j = nlohmann::json::parse(out.stdout_text);
  EXPECT_EQ(j["cpus"], 4);
  EXPECT_EQ(j["groups"], nlohmann::json::array({"/web", "/db"}));
  EXPECT_EQ(j["ostype"], "Ubuntu (64-bit)");
  EXPECT_EQ(j["GuestOSType"], "Ubuntu_64");
  EXPECT_EQ(j["GuestAdditionsRunLevel"], 0);
}

// Only a clear mapping gives a VirtualBox OS type; anything else leaves the line out.
TEST(OsTypeTest, LibosinfoIdsMapOnlyWhereVirtualBoxHasAClearType) {
  auto id = [](std::string_view os, std::string_view arch) {
    auto t = vm::vbox_os_type(os, arch);
    return t ? std::string(t->id) : std::string("-");
  };
  EXPECT_EQ(id("http://ubuntu.com/ubuntu/22.04", "x86_64"), "Ubuntu_64");
  EXPECT_EQ(id("http://ubuntu.com/ubuntu/22.04", "i686"), "Ubuntu");
  EXPECT_EQ(id("http://debian.org/debian/12", "x86_64"), "Debian_64");
  EXPECT_EQ(id("http://microsoft.com/win/10", "x86_64"), "Windows10_64");
  EXPECT_EQ(id("http://microsoft.com/win/11", "x86_64"), "Windows11_64");
  EXPECT_EQ(id("http://microsoft.com/win/11", "i686"), "-"); // VirtualBox has no 32-bit one
  EXPECT_EQ(id("http://microsoft.com/win/10.1", "x86_64"), "-");
  EXPECT_EQ(id("http://ubuntu.com/ubuntu/22.04", "aarch64"), "-"); // 7.0 runs x86 guests
  EXPECT_EQ(id("http://alpinelinux.org/alpinelinux/3.18", "x86_64"), "-");
  EXPECT_EQ(id("http://ubuntu.com/ubuntu/", "x86_64"), "-");
  // Every mapping names a type of the one table (os_types.cpp), description included.
  for (const char* os :
       {"http://ubuntu.com/ubuntu/1", "http://debian.org/debian/1",
        "http://fedoraproject.org/fedora/1", "http://redhat.com/rhel/1", "http://oracle.com/ol/1",
        "http://opensuse.org/opensuse/1", "http://archlinux.org/archlinux/1",
        "http://gentoo.org/gentoo/1", "http://mageia.org/mageia/1", "http://microsoft.com/win/7",
        "http://microsoft.com/win/8", "http://microsoft.com/win/8.1", "http://microsoft.com/win/10",
        "http://microsoft.com/win/11", "http://microsoft.com/win/2k16",
        "http://microsoft.com/win/2k19", "http://microsoft.com/win/2k22"}) {
    auto t = vm::vbox_os_type(os, "x86_64");
    ASSERT_TRUE(t) << os;
    EXPECT_EQ(vm::find_guest_os_type(t->id)->description, t->description);
    EXPECT_TRUE(t->is_64bit) << os;
  }
  EXPECT_EQ(vm::vbox_os_type("http://redhat.com/rhel/9", "i686")->description, "Red Hat (32-bit)");
  EXPECT_EQ(vm::find_guest_os_type("ubuntu_64"), nullptr); // ids are matched exactly
}

TEST_F(ShowVmInfoTest, MachineReadable) {
  EXPECT_EQ(run("showvminfo zeta --machinereadable"), 0);
  EXPECT_EQ(out.stdout_text, "name=\"zeta\"\n"
                             "Encryption:     disabled\n"
                             "groups=\"/\"\n"
                             "UUID=\"aaaaaaaa-0000-0000-0000-000000000001\"\n"
                             "memory=1024\n"
                             "pagefusion=\"off\"\n"
                             "cpus=1\n"
                             "largepages=\"off\"\n"
                             "freepagereporting=\"off\"\n"
                             "balloondeflateonoom=\"off\"\n"
                             "VMState=\"poweroff\"\n"
                             "VMStateChangeTime=\"2023-11-14T22:13:20.123000000\"\n"
                             "nic1=\"none\"\n"
                             "nic2=\"none\"\n"
                             "nic3=\"none\"\n"
                             "nic4=\"none\"\n"
                             "nic5=\"none\"\n"
                             "nic6=\"none\"\n"
                             "nic7=\"none\"\n"
                             "nic8=\"none\"\n"
                             "GuestMemoryBalloon=0\n");
  EXPECT_EQ(run("showvminfo -machinereadable saved"), 0); // options before the VM, single dash
  EXPECT_THAT(out.stdout_text, HasSubstr("VMState=\"saved\"\n"));
}

TEST_F(ShowVmInfoTest, MachineReadableEscapesQuotesAndBackslashes) {
  hv.add("a\"b\\c", "eeeeeeee-0000-0000-0000-000000000005");
  EXPECT_EQ(run_args({"showvminfo", "a\"b\\c", "--machinereadable"}), 0);
  EXPECT_THAT(out.stdout_text, testing::StartsWith("name=\"a\\\"b\\\\c\"\n"));
}

TEST_F(ShowVmInfoTest, JsonCarriesTheSameFields) {
  EXPECT_EQ(run_args({"showvminfo", "alpha one", "--json"}), 0);
  auto j = nlohmann::json::parse(out.stdout_text);
  EXPECT_EQ(j["name"], "alpha one");
  EXPECT_EQ(j["memory"], 2048);
  EXPECT_EQ(j["GuestMemoryBalloon"], 512);
  EXPECT_EQ(j["pagefusion"], true);
  EXPECT_EQ(j["largepages"], true);
  EXPECT_EQ(j["largepagesbacking"], "thp");
  EXPECT_EQ(j["freepagereporting"], false);
  EXPECT_EQ(j["balloondeflateonoom"], false);
  EXPECT_EQ(j["VMState"], "running");
  EXPECT_EQ(j["VMStateChangeTime"], "2023-11-14T22:13:20.123000000");
}

// What the running VM's RAM really got (its live XML): only with a session, only with large
// pages on.
TEST_F(ShowVmInfoTest, LargePagesBackingIsTheLiveOne) {
  hv.vm("alpha one").live.hugepages = true;
  EXPECT_EQ(run_args({"showvminfo", "--machinereadable", "alpha one"}), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("largepages=\"on\"\nlargepagesbacking=\"hugetlbfs\"\n"));
  EXPECT_EQ(run_args({"showvminfo", "alpha one"}), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("Large Pages backing:         hugetlbfs\n"));
  EXPECT_EQ(run("list vms --long"), 0);
  EXPECT_THAT(out.stdout_text, testing::Not(HasSubstr("backing")));
  hv.vm("alpha one").memory.free_page_reporting = true;
  hv.vm("alpha one").memory.autodeflate = true;
  EXPECT_EQ(run_args({"showvminfo", "alpha one", "--machinereadable"}), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("freepagereporting=\"on\"\nballoondeflateonoom=\"on\"\n"));
}

TEST_F(ShowVmInfoTest, StateSinceIsKeptUntilTheStateChanges) {
  EXPECT_EQ(run("showvminfo zeta --machinereadable"), 0);
  now += 60000;
  EXPECT_EQ(run("showvminfo zeta --machinereadable"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("VMStateChangeTime=\"2023-11-14T22:13:20.123000000\""));
  hv.vm("zeta").state = backend::VmState::Running;
  EXPECT_EQ(run("showvminfo zeta --machinereadable"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("VMStateChangeTime=\"2023-11-14T22:14:20.123000000\""));
}

TEST_F(ShowVmInfoTest, DriftShowsLibvirtTruthAndWarns) {
  EXPECT_EQ(run("modifyvm zeta --memory 512 --guest-memory-balloon 100"), 0);
  EXPECT_EQ(run("showvminfo zeta"), 0);
  EXPECT_EQ(out.stderr_text, "");
  EXPECT_THAT(out.stdout_text, HasSubstr("Configured memory balloon:   100MB"));
  hv.vm("zeta").memory.memory_kib = 1024 * 1024; // virsh setmaxmem 1G --config
  EXPECT_EQ(run("showvminfo zeta"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("Memory size:                 1024MB\n"));
  EXPECT_THAT(out.stdout_text, HasSubstr("Configured memory balloon:   612MB\n"));
  EXPECT_EQ(out.stderr_text,
            "VBoxManage: warning: the libvirt configuration of 'zeta' was changed outside "
            "vboxmanage (<memory> 524288 KiB, now 1048576 KiB); showing libvirt's values\n");
}

TEST_F(ShowVmInfoTest, Errors) {
  EXPECT_EQ(run("showvminfo zeta extra"), 2);
  EXPECT_THAT(out.stderr_text, HasSubstr("VBoxManage: error: Invalid parameter 'extra'\n"));
  EXPECT_EQ(run("showvminfo --details"), 2);
  EXPECT_THAT(out.stderr_text, HasSubstr("VBoxManage: error: VM name or UUID required\n"));
  EXPECT_EQ(run("showvminfo zeta --help"), 2);
  EXPECT_THAT(out.stderr_text, HasSubstr("VBoxManage: error: Unknown option: --help\n"));
  EXPECT_EQ(run("showvminfo nope"), 1);
  EXPECT_THAT(out.stderr_text, HasSubstr("Context: \"FindMachine(Bstr(VMNameOrUuid).raw(), "
                                         "machine.asOutParam())\""));
}

TEST_F(ShowVmInfoTest, ListVmsRunningInStartOrderThenByNameOrSorted) {
  EXPECT_EQ(run("list vms"), 0);
  EXPECT_EQ(out.stdout_text, "\"alpha one\" {bbbbbbbb-0000-0000-0000-000000000002}\n"
                             "\"mid\" {cccccccc-0000-0000-0000-000000000003}\n"
                             "\"saved\" {dddddddd-0000-0000-0000-000000000004}\n"
                             "\"zeta\" {aaaaaaaa-0000-0000-0000-000000000001}\n");
  EXPECT_EQ(run("list --sorted vms"), 0);
  EXPECT_THAT(out.stdout_text, testing::StartsWith("\"alpha one\""));
  EXPECT_EQ(run("list -s runningvms"), 0);
  EXPECT_EQ(out.stdout_text, "\"alpha one\" {bbbbbbbb-0000-0000-0000-000000000002}\n"
                             "\"mid\" {cccccccc-0000-0000-0000-000000000003}\n");
}

TEST_F(ShowVmInfoTest, ListLongPrintsEachReport) {
  EXPECT_EQ(run("list -l runningvms"), 0);
  EXPECT_EQ(std::count(out.stdout_text.begin(), out.stdout_text.end(), '*'), 2);
  EXPECT_THAT(out.stdout_text, HasSubstr("Name:                        mid\n"));
}

TEST_F(ShowVmInfoTest, ListErrors) {
  EXPECT_EQ(run("list bogus"), 2);
  EXPECT_THAT(out.stderr_text,
              HasSubstr("VBoxManage: error: Unknown subcommand \"bogus\".\n\nUsage"));
  EXPECT_EQ(run("list"), 1);
  EXPECT_THAT(out.stdout_text, testing::StartsWith("Usage - View system information"));
}

TEST_F(ShowVmInfoTest, EmptyHostListsNothing) {
  FakeHypervisor empty;
  services.hypervisor = [&](const std::optional<std::string>&,
                            cli::Access) -> backend::Hypervisor& { return empty; };
  EXPECT_EQ(run("list vms"), 0);
  EXPECT_EQ(out.stdout_text, "");
}

} // namespace
} // namespace vbm::test
