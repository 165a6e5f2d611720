// The global frame: help words, version, unknown commands, --connect (spec §1.1).

#include "support/cli_fixture.hpp"

#include <gmock/gmock.h>

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
