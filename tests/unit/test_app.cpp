// The global frame: help words, version, unknown commands, --connect (spec §1.1).

#include "support/cli_fixture.hpp"
#include "vm/os_types.hpp"

#include <gmock/gmock.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using testing::HasSubstr;
using testing::StartsWith;

namespace vbm::test {
namespace {

TEST_F(CliTest, HelpAsLastWordIsExit0ToStdout) {
  for (const char* w : {"help", "--help", "-h", "-?", "-help"}) {
    EXPECT_EQ(run(w), 0) << w;
    EXPECT_THAT(out.stdout_text, StartsWith("vboxkvm Command Line Management Interface Version"));
    EXPECT_THAT(out.stdout_text, HasSubstr("modifyvm <uuid | vmname>"));
    EXPECT_EQ(out.stderr_text, "");
  }
}

TEST_F(CliTest, BareAndOnlyNologoIsLogoAndUsageExit0) {
  // VBoxManage.cpp main(): with no command left, showLogo (unconditionally) and the usage on
  // stdout, RTEXITCODE_SUCCESS.
  for (const char* line : {"", "-q", "--nologo", "-nologo", "-q -q", "-q help", "-d"}) {
    EXPECT_EQ(run(line), 0) << line;
    EXPECT_THAT(out.stdout_text, StartsWith("vboxkvm Command Line Management Interface Version"))
        << line;
    EXPECT_THAT(out.stdout_text, HasSubstr("VBoxManage modifyvm <uuid | vmname>")) << line;
    EXPECT_EQ(out.stderr_text, "") << line;
  }
}

TEST_F(CliTest, NologoOnlyCountsAfterTheHelpWord) {
  // help sets fShowLogo; -q after it clears it; -q before it does not (main()).
  EXPECT_EQ(run("help -q list"), 1);
  EXPECT_THAT(out.stdout_text, StartsWith("Usage - View system information"));
  EXPECT_EQ(run("-q help list"), 1);
  EXPECT_THAT(out.stdout_text, StartsWith("vboxkvm Command Line"));
  // The logo is printed once per process: help's on stdout, then none before the error.
  EXPECT_EQ(run("help nope"), 2);
  EXPECT_THAT(out.stdout_text, StartsWith("vboxkvm Command Line"));
  EXPECT_THAT(out.stderr_text, StartsWith("VBoxManage: error: Invalid command 'nope'\n"));
  // errorSyntax prints the logo on stderr whatever -q said.
  EXPECT_EQ(run("-q nope"), 2);
  EXPECT_THAT(out.stderr_text, StartsWith("vboxkvm Command Line"));
}

int usage_error_lines(const std::string& err, const std::string& line) {
  int n = 0;
  for (size_t at = err.find(line); at != std::string::npos; at = err.find(line, at + 1)) {
    ++n;
  }
  return n;
}

TEST_F(CliTest, ErrorRepeatedAfterALongUsage) {
  // errorSyntax/errorGetOpt repeat the error after a usage of 16 lines or more (VirtualBox's
  // length for modifyvm and controlvm; ours elsewhere), so it is the last line of stderr.
  hv.add("vm", "11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(run("modifyvm vm --bogus"), 1);
  EXPECT_EQ(usage_error_lines(out.stderr_text, "VBoxManage: error: Unknown option: --bogus\n"), 2);
  EXPECT_THAT(out.stderr_text,
              testing::EndsWith("\n\nVBoxManage: error: Unknown option: --bogus\n"));
  EXPECT_EQ(run("controlvm vm"), 2);
  EXPECT_THAT(out.stderr_text,
              testing::EndsWith("\n\nVBoxManage: error: Not enough parameters.\n"));
  EXPECT_EQ(run("list bogus"), 2); // list's usage is short, in VirtualBox too
  EXPECT_EQ(usage_error_lines(out.stderr_text, "error: Unknown subcommand"), 1);
  EXPECT_EQ(run("nope"), 2); // the global usage is long
  EXPECT_THAT(out.stderr_text,
              testing::EndsWith("\n\nVBoxManage: error: Invalid command 'nope'\n"));
}

struct TempDir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("vbm-app-" + std::to_string(::getpid()));
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name, std::ios::binary) << text;
    return (path / name).string();
  }
};

TEST_F(CliTest, ResponseFileWordsGoWhereTheAtWordWas) {
  // main()'s @file: RTGetOptArgvFromString (Bourne shell) words inserted after it; they may
  // hold global options and the command.
  hv.add("my vm", "11111111-2222-3333-4444-555555555555");
  TempDir dir;
  auto f = dir.write("args", "-q list\n  'vms'\n");
  EXPECT_EQ(run_args({"@" + f}), 0);
  EXPECT_EQ(out.stdout_text, "\"my vm\" {11111111-2222-3333-4444-555555555555}\n");
  auto g = dir.write("cmd", "showvminfo \"my vm\" --machinereadable");
  EXPECT_EQ(run_args({"-q", "@" + g}), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("name=\"my vm\"\n"));
  // Only in the global position: after the command it is an ordinary word.
  EXPECT_EQ(run_args({"showvminfo", "@" + g}), 1);
  EXPECT_THAT(out.stderr_text, HasSubstr("Could not find a registered machine named '@"));
  // A file of global options only, so that the loop reaches the second @ word.
  auto q = dir.write("globals", "-q");
  EXPECT_EQ(run_args({"@" + q, "@" + q, "list", "vms"}), 1);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Only one response file allowed\n");
  EXPECT_EQ(run_args({"@" + (dir.path / "missing").string(), "list", "vms"}), 1);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Error reading response file '" +
                                 (dir.path / "missing").string() + "': VERR_FILE_NOT_FOUND\n");
  // RTFileReadAllEx reads the file's size: a device reads as empty, a directory fails.
  EXPECT_EQ(run_args({"@/dev/zero", "list", "vms"}), 0);
  EXPECT_EQ(run_args({"@" + dir.path.string()}), 1);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Error reading response file '" +
                                 dir.path.string() + "': VERR_IS_A_DIRECTORY\n");
  auto bad = dir.write("bad", "list \xff vms");
  EXPECT_EQ(run_args({"@" + bad}), 1);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Invalid response file ('" + bad +
                                 "') encoding: VERR_INVALID_UTF8_ENCODING\n");
}

TEST_F(CliTest, DetailedProgressAndSettingsPasswords) {
  hv.add("vm", "11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(run("-d --detailed-progress list vms"), 0);
  EXPECT_EQ(out.stderr_text, "");
  // --settingspw: accepted, said once, right before the command runs.
  EXPECT_EQ(run("--settingspw secret list vms"), 0);
  EXPECT_EQ(out.stderr_text,
            "VBoxManage: warning: --settingspw ignored: vboxkvm keeps no encrypted settings\n");
  EXPECT_THAT(out.stdout_text, HasSubstr("\"vm\""));
  EXPECT_EQ(run("--settingspw"), 1);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Password expected\n");
  EXPECT_EQ(run("--settingspwfile"), 1);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: No password file specified\n");
  // main() does not step over the value: the word after it is the command even when it looks
  // like a global option.
  EXPECT_EQ(run("--settingspw pw -q list vms"), 2);
  EXPECT_THAT(out.stderr_text, HasSubstr("error: Invalid command '-q'"));
  EXPECT_EQ(run("--settingspw=pw list vms"), 2);
  EXPECT_THAT(out.stderr_text, HasSubstr("error: Invalid command '--settingspw=pw'"));
  TempDir dir;
  auto pw = dir.write("pw", "secret\nsecond line\n");
  EXPECT_EQ(run_args({"--settingspwfile", pw, "list", "vms"}), 0);
  EXPECT_EQ(out.stderr_text,
            "VBoxManage: warning: --settingspwfile ignored: vboxkvm keeps no encrypted settings\n");
  auto missing = (dir.path / "nope").string();
  EXPECT_EQ(run_args({"--settingspwfile", missing, "list", "vms"}), 1);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Cannot open password file '" + missing +
                                 "' (VERR_FILE_NOT_FOUND)\n");
  EXPECT_EQ(out.stdout_text, "");
  EXPECT_EQ(run_args({"--settingspwfile", dir.path.string(), "list", "vms"}), 1);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Cannot read password from file '" +
                                 dir.path.string() + "': VERR_READ_ERROR\n");
  // Both only when a value is itself the other option (and the command is then two words on,
  // as main() counts 2 for each); --settingspw wins, the file ("--settingspw") is not read.
  EXPECT_EQ(run("--settingspwfile --settingspw x list vms"), 2);
  EXPECT_THAT(out.stderr_text, HasSubstr("error: Invalid command 'vms'"));
  EXPECT_EQ(run("--settingspwfile --settingspw x y list vms"), 0);
  EXPECT_EQ(out.stderr_text,
            "VBoxManage: warning: --settingspw ignored: vboxkvm keeps no encrypted settings\n");
  // A usage path never reaches the password (no warning with the usage).
  EXPECT_EQ(run("--settingspw x list"), 1);
  EXPECT_EQ(out.stderr_text, "");
}

TEST_F(CliTest, ListLongShowsTheRegisteredMachineWithoutASession) {
  // VBoxManageList.cpp: showVMInfo(…, VMINFO_STANDARD) with no session: no running-guest
  // lines, and the configured balloon, not controlvm's live request.
  auto& v = hv.add("vm", "11111111-2222-3333-4444-555555555555", 2048);
  auto ref = hv.start(v.ref);
  st.put_live_balloon({"fakehost", ref.uuid}, "vm", ref.id, 300);
  EXPECT_EQ(run("showvminfo vm"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("Configured memory balloon:   300MB\n"));
  EXPECT_EQ(run("list -l vms"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("Configured memory balloon:   0MB\n"));
  for (const char* guest_line : {"OS type:", "Additions run level:", "Guest Facilities:"}) {
    EXPECT_THAT(out.stdout_text, testing::Not(HasSubstr(guest_line)));
  }
}

TEST_F(CliTest, ListSeveralTypesLastWinsOrMultiple) {
  // handleList: the last list named is the one produced; -m/--multiple produces each under a
  // [name] header; -m after a list produces it again as [--multiple].
  hv.add("off", "11111111-2222-3333-4444-555555555555");
  auto& r = hv.add("run", "22222222-2222-3333-4444-555555555555");
  hv.start(r.ref);
  EXPECT_EQ(run("list vms runningvms"), 0);
  EXPECT_EQ(out.stdout_text, "\"run\" {22222222-2222-3333-4444-555555555555}\n");
  EXPECT_EQ(run("list runningvms vms"), 0);
  EXPECT_EQ(std::count(out.stdout_text.begin(), out.stdout_text.end(), '\n'), 2);
  EXPECT_EQ(run("list -m runningvms vms"), 0);
  EXPECT_EQ(out.stdout_text, "[runningvms]\n"
                             "\"run\" {22222222-2222-3333-4444-555555555555}\n"
                             "\n[vms]\n"
                             "\"run\" {22222222-2222-3333-4444-555555555555}\n"
                             "\"off\" {11111111-2222-3333-4444-555555555555}\n");
  EXPECT_EQ(run("list runningvms --multiple"), 0);
  EXPECT_EQ(out.stdout_text, "[--multiple]\n\"run\" {22222222-2222-3333-4444-555555555555}\n");
  // Combined short flags; --sorted sorts vms only.
  EXPECT_EQ(run("list -ls runningvms"), 0);
  EXPECT_THAT(out.stdout_text, StartsWith("Name:                        run\n"));
  EXPECT_EQ(run("list -sm vms"), 0);
  EXPECT_THAT(out.stdout_text, StartsWith("[vms]\n\"off\""));
  EXPECT_EQ(run("list -lx vms"), 2);
  EXPECT_THAT(out.stderr_text, HasSubstr("VBoxManage: error: Unknown option: x\n"));
}

TEST_F(CliTest, ListSystemPropertiesAnswersWhatKvmKnows) {
  // listSystemProperties (VBoxManageList.cpp): its labels and padding, only the truthful lines;
  // the limits are modifyvm's (32-bit host: 3584 MB), the folder libvirt's when known.
  hv.host = {true, "/etc/libvirt/qemu"};
  EXPECT_EQ(run("list systemproperties"), 0);
  EXPECT_EQ(out.stdout_text, "API version:                     7_0\n"
                             "Minimum guest RAM size:          4 Megabytes\n"
                             "Maximum guest RAM size:          2097152 Megabytes\n"
                             "Minimum guest CPU count:         1\n"
                             "Maximum guest CPU count:         64\n"
                             "Default machine folder:          /etc/libvirt/qemu\n");
  hv.host = {false, std::nullopt};
  EXPECT_EQ(run("list systemproperties"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("Maximum guest RAM size:          3584 Megabytes\n"));
  EXPECT_THAT(out.stdout_text, testing::Not(HasSubstr("Default machine folder")));
  hv.fail_next("host_info", "cannot connect");
  EXPECT_EQ(run("list systemproperties"), 1);
}

TEST_F(CliTest, ListOsTypesAndHostOnlyInterfaces) {
  // produceList kListOsTypes: one record per Global::sOSTypes entry, a blank line after each.
  EXPECT_EQ(run("list ostypes"), 0);
  EXPECT_THAT(out.stdout_text, StartsWith("ID:          Other\n"
                                          "Description: Other/Unknown\n"
                                          "Family ID:   Other\n"
                                          "Family Desc: Other\n"
                                          "64 bit:      false\n\n"
                                          "ID:          Other_64\n"));
  EXPECT_THAT(out.stdout_text,
              HasSubstr("ID:          Ubuntu22_LTS_64\n"
                        "Description: Ubuntu 22.04 LTS (Jammy Jellyfish) (64-bit)\n"
                        "Family ID:   Linux\n"
                        "Family Desc: Linux\n"
                        "64 bit:      true\n\n"));
  EXPECT_EQ(std::count(out.stdout_text.begin(), out.stdout_text.end(), '\n'),
            6 * static_cast<long>(vm::guest_os_types().size()));
  // No VirtualBox host-only adapters on KVM: nothing, exit 0, libvirt not asked.
  hv.fail_next("list_vms", "must not be called");
  EXPECT_EQ(run("list hostonlyifs"), 0);
  EXPECT_EQ(out.stdout_text, "");
}

TEST_F(CliTest, ListNatNetworksAndDhcpServersFromLibvirtNetworks) {
  // printNATNetwork / listDhcpServers: only NAT networks with IPv4 are NAT networks; a network
  // with a DHCP range is a DHCP server whatever its forward mode; by name; inactive = No.
  backend::NetworkInfo nat;
  nat.name = "zeta";
  nat.forward_mode = "nat";
  nat.ipv4_address = "10.1.2.129";
  nat.ipv4_prefix = 25;
  backend::NetworkInfo isolated;
  isolated.name = "alpha";
  isolated.active = true;
  isolated.ipv4_address = "10.9.0.1";
  isolated.ipv4_prefix = 16;
  isolated.dhcp_start = "10.9.0.10";
  isolated.dhcp_end = "10.9.0.20";
  backend::NetworkInfo v6only;
  v6only.name = "beta";
  v6only.forward_mode = "nat";
  v6only.ipv6_address = "fd00::1";
  v6only.ipv6_prefix = 64;
  hv.networks = {nat, isolated, v6only};
  EXPECT_EQ(run("list -l natnets"), 0);
  EXPECT_EQ(out.stdout_text, "Name:         zeta\n"
                             "Enabled:      No\n"
                             "Network:      10.1.2.128/25\n"
                             "Gateway:      10.1.2.129\n"
                             "DHCP Server:  No\n"
                             "IPv6:         No\n"
                             "IPv6 Prefix:  \n"
                             "IPv6 Default: No\n\n");
  EXPECT_EQ(run("list dhcpservers"), 0);
  EXPECT_EQ(out.stdout_text, "NetworkName:    alpha\n"
                             "Dhcpd IP:       10.9.0.1\n"
                             "LowerIPAddress: 10.9.0.10\n"
                             "UpperIPAddress: 10.9.0.20\n"
                             "NetworkMask:    255.255.0.0\n"
                             "Enabled:        Yes\n"
                             "Global Configuration:\n"
                             "    minLeaseTime:     default\n"
                             "    defaultLeaseTime: default\n"
                             "    maxLeaseTime:     default\n"
                             "    Forced options:   None\n"
                             "    Suppressed opts.: None\n"
                             "        1/legacy: 255.255.0.0\n"
                             "Groups:               None\n"
                             "Individual Configs:   None\n");
  hv.networks.clear();
  EXPECT_EQ(run("list dhcpservers"), 0);
  EXPECT_EQ(out.stdout_text, "");
  hv.fail_next("list_networks", "cannot connect");
  EXPECT_EQ(run("list natnets"), 1);
}

TEST_F(CliTest, HelpForACommandIsExit1) {
  EXPECT_EQ(run("help modifyvm"), 1);
  EXPECT_THAT(out.stdout_text,
              HasSubstr("Usage - Change settings for a virtual machine that is stopped:"));
  EXPECT_THAT(out.stdout_text, HasSubstr("--guest-memory-balloon, --guestmemoryballoon"));
  EXPECT_EQ(run("-q --help list"), 1);
  EXPECT_THAT(out.stdout_text, HasSubstr("Usage - View system information"));
}

TEST_F(CliTest, VersionSpellings) {
  for (const char* w : {"--version", "-V", "-v", "-version", "-Version"}) {
    EXPECT_EQ(run(w), 0);
    EXPECT_THAT(out.stdout_text, testing::MatchesRegex("7\\.0\\.14_vboxkvm[0-9.]+r[0-9]+\n"));
  }
}

TEST_F(CliTest, CommandWithoutArgumentsPrintsBriefUsageExit1) {
  EXPECT_EQ(run("modifyvm"), 1);
  EXPECT_THAT(out.stdout_text, StartsWith("Usage - Change settings"));
  EXPECT_EQ(out.stderr_text, "");
}

TEST_F(CliTest, InvalidCommandIsSyntaxExit2) {
  EXPECT_EQ(run("list2"), 2);
  EXPECT_THAT(out.stderr_text,
              HasSubstr("\nVBoxManage: error: Invalid command 'list2'\n\nUsage - "));
  EXPECT_EQ(run("--bogus list vms"), 2);
  EXPECT_THAT(out.stderr_text, HasSubstr("error: Invalid command '--bogus'"));
}

TEST_F(CliTest, ConnectReachesTheHypervisorFactory) {
  hv.add("vm", "11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(run("-c test:///default list vms"), 0);
  EXPECT_EQ(run("--connect=qemu+tcp://h/system list vms"), 0);
  EXPECT_EQ(run("-q list vms"), 0);
  ASSERT_EQ(uris_seen.size(), 3u);
  EXPECT_EQ(uris_seen[0], "test:///default");
  EXPECT_EQ(uris_seen[1], "qemu+tcp://h/system");
  EXPECT_EQ(uris_seen[2], std::nullopt);
  EXPECT_EQ(run("-c"), 2);
  EXPECT_THAT(out.stderr_text, HasSubstr("VBoxManage: error: "));
}

TEST_F(CliTest, BackendErrorsAreOneLineExit1) {
  hv.fail_next("list_vms", "failed to list domains: connection lost");
  EXPECT_EQ(run("list vms"), 1);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: failed to list domains: connection lost\n");
}

TEST_F(CliTest, ProgramNameIsThePrefix) {
  cli::StringOutput named;
  struct Renamed : cli::Output {
    using Output::Output;
    std::string text;
    void out(std::string_view t) override { text += t; }
    void err(std::string_view t) override { text += t; }
  } o("vboxmanage");
  EXPECT_EQ(cli::run_app({"showvminfo", "x"}, o, services), 1);
  EXPECT_THAT(o.text, StartsWith("vboxmanage: error: Could not find"));
}

} // namespace
} // namespace vbm::test
