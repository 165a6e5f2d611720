// The hidden `__complete CWORD WORDS…` request the shell completion scripts are built on.

#include "cli/modifyvm.hpp"
#include "store/extradata_store.hpp"
#include "support/cli_fixture.hpp"

#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include <regex>
#include <set>

using testing::ElementsAre;
using testing::ElementsAreArray;
using testing::IsEmpty;
using testing::UnorderedElementsAre;
using testing::UnorderedElementsAreArray;

namespace vbm::test {
namespace {

struct CompleteTest : CliTest {
  CompleteTest() {
    hv.add("off1", "00000000-0000-4000-8000-000000000001");
    hv.add("my vm", "00000000-0000-4000-8000-000000000002");
    hv.add("it\"s 'odd'", "00000000-0000-4000-8000-000000000003");
    hv.add("run1", "00000000-0000-4000-8000-000000000004");
    hv.add("paused1", "00000000-0000-4000-8000-000000000005");
    hv.add("saved1", "00000000-0000-4000-8000-000000000006").state = backend::VmState::Saved;
    hv.run("run1");
    hv.run("paused1").state = backend::VmState::Paused;
    services.existing_store = [this] { return &st.connection(); };
  }

  /// The candidates for the last of `words` (the program name is added in front).
  std::vector<std::string> complete(std::vector<std::string> words) {
    words.insert(words.begin(), "vboxmanage");
    std::vector<std::string> args{"__complete", std::to_string(words.size() - 1)};
    args.insert(args.end(), words.begin(), words.end());
    EXPECT_EQ(run_args(args), 0);
    EXPECT_EQ(out.stderr_text, "");
    std::vector<std::string> lines;
    std::istringstream in(out.stdout_text);
    for (std::string l; std::getline(in, l);) {
      lines.push_back(l);
    }
    return lines;
  }

  /// The --options of a command's help synopses (what VBoxManage accepts and help shows).
  static std::set<std::string> synopsis_options(std::string_view command) {
    std::set<std::string> opts;
    std::regex flag("--[a-z][a-z-]*");
    for (const auto& syn : cli::find_command(command)->help().synopses) {
      for (std::sregex_iterator it(syn.begin(), syn.end(), flag), end; it != end; ++it) {
        opts.insert(it->str());
      }
    }
    return opts;
  }
};

std::set<std::string> as_set(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST_F(CompleteTest, CommandNamesComeFromTheCommandTable) {
  std::vector<std::string> names;
  for (const auto& cmd : cli::commands()) {
    names.emplace_back(cmd.name);
  }
  names.emplace_back("help");
  EXPECT_THAT(complete({""}), UnorderedElementsAreArray(names));
  EXPECT_THAT(complete({"mo"}), ElementsAre("modifyvm"));
  EXPECT_THAT(complete({"s"}), UnorderedElementsAre("showvminfo", "startvm", "setextradata"));
  EXPECT_THAT(complete({"__"}), IsEmpty()); // hidden
}

TEST_F(CompleteTest, EveryCommandHasACompleter) {
  // A command added to the table (metrics, …) needs its completer in cli/complete.cpp; each
  // one offers at least something for its first argument.
  for (const auto& cmd : cli::commands()) {
    EXPECT_THAT(complete({std::string(cmd.name), ""}), testing::Not(IsEmpty())) << cmd.name;
  }
}

TEST_F(CompleteTest, GlobalOptionsBeforeTheCommand) {
  EXPECT_THAT(complete({"-"}),
              UnorderedElementsAre("--connect", "--nologo", "--version", "--detailed-progress",
                                   "--settingspw", "--settingspwfile", "-c", "-q", "-V", "-d"));
  EXPECT_THAT(complete({"-q", "--"}),
              UnorderedElementsAre("--connect", "--nologo", "--version", "--detailed-progress",
                                   "--settingspw", "--settingspwfile"));
  EXPECT_THAT(complete({"--settingspw", ""}), IsEmpty()); // a password
  EXPECT_THAT(complete({"--settingspwfile", "x", "-q", "st"}), ElementsAre("startvm"));
  EXPECT_THAT(complete({"@args", "st"}), ElementsAre("startvm"));
  EXPECT_THAT(complete({"-q", "st"}), ElementsAre("startvm"));
  EXPECT_THAT(complete({"-c", ""}), IsEmpty()); // a URI
  EXPECT_THAT(complete({"--connect", "q"}), IsEmpty());
  EXPECT_THAT(complete({"-c", "qemu:///system", "-nologo", "li"}), ElementsAre("list"));
}

TEST_F(CompleteTest, HelpTakesOneCommandName) {
  EXPECT_THAT(complete({"help", "mod"}), ElementsAre("modifyvm"));
  EXPECT_THAT(complete({"help", "h"}), IsEmpty());
  EXPECT_THAT(complete({"help", "-"}), IsEmpty());
  EXPECT_THAT(complete({"help", "modifyvm", ""}), IsEmpty());
  EXPECT_THAT(complete({"--help", "list", ""}), IsEmpty());
}

TEST_F(CompleteTest, ConnectUriOnTheLineIsUsedReadOnly) {
  complete({"-c", "test:///default", "showvminfo", ""});
  complete({"--connect=qemu+ssh://h/system", "showvminfo", ""});
  complete({"-cqemu:///session", "showvminfo", ""});
  complete({"showvminfo", ""});
  EXPECT_THAT(uris_seen, ElementsAre("test:///default", "qemu+ssh://h/system", "qemu:///session",
                                     std::nullopt));
}

TEST_F(CompleteTest, ReadOnlyAccess) {
  std::vector<cli::Access> seen;
  services.hypervisor = [&](const std::optional<std::string>&,
                            cli::Access a) -> backend::Hypervisor& {
    seen.push_back(a);
    return hv;
  };
  complete({"startvm", ""});
  EXPECT_THAT(seen, testing::Each(cli::Access::ReadOnly));
  EXPECT_THAT(seen, testing::Not(IsEmpty()));
}

TEST_F(CompleteTest, NoConnectionMeansNoNamesAndNoError) {
  hv.fail_next("list_vms", "cannot connect");
  EXPECT_THAT(complete({"showvminfo", ""}), IsEmpty());
  services.hypervisor = [](const std::optional<std::string>&, cli::Access) -> backend::Hypervisor& {
    throw backend::BackendError("no libvirt");
  };
  EXPECT_THAT(complete({"modifyvm", ""}), IsEmpty());
  EXPECT_THAT(complete({"modifyvm", "x", "--p"}), ElementsAre("--page-fusion"));
}

TEST_F(CompleteTest, List) {
  EXPECT_THAT(complete({"list", ""}),
              UnorderedElementsAre("vms", "runningvms", "ostypes", "hostifs", "bridgedifs",
                                   "hostonlyifs", "natnetworks", "natnets", "hostinfo",
                                   "systemproperties", "dhcpservers", "--long", "--multiple",
                                   "--sorted"));
  EXPECT_THAT(complete({"list", "--long", "r"}), ElementsAre("runningvms"));
  EXPECT_THAT(complete({"list", "-l", ""}),
              UnorderedElementsAre("vms", "runningvms", "ostypes", "hostifs", "bridgedifs",
                                   "hostonlyifs", "natnetworks", "natnets", "hostinfo",
                                   "systemproperties", "dhcpservers", "--multiple", "--sorted"));
  EXPECT_THAT(complete({"list", "s"}), ElementsAre("systemproperties"));
  EXPECT_THAT(complete({"list", "vms", ""}),
              UnorderedElementsAre("--long", "--multiple", "--sorted"));
  EXPECT_THAT(complete({"list", "vms", "--long", "-"}), ElementsAre("--multiple", "--sorted"));
  EXPECT_THAT(complete({"list", "vms", "v"}), IsEmpty());
}

TEST_F(CompleteTest, ShowvminfoNamesAreRawAndAllOfThem) {
  EXPECT_THAT(complete({"showvminfo", ""}),
              ElementsAre("it\"s 'odd'", "my vm", "off1", "paused1", "run1", "saved1"));
  EXPECT_THAT(complete({"showvminfo", "my"}), ElementsAre("my vm"));
  EXPECT_THAT(complete({"showvminfo", "it\""}), ElementsAre("it\"s 'odd'"));
  EXPECT_THAT(complete({"showvminfo", "--details", "o"}), ElementsAre("off1"));
  EXPECT_THAT(complete({"showvminfo", "nosuch"}), IsEmpty());
}

TEST_F(CompleteTest, ShowvminfoOptionsBeforeOrAfterTheVm) {
  // g_aShowVMInfoOptions' long words (the short ones are not offered), and --json.
  EXPECT_THAT(complete({"showvminfo", "off1", ""}),
              UnorderedElementsAre("--details", "--machinereadable", "--log", "--password-id",
                                   "--password", "--json"));
  EXPECT_THAT(complete({"showvminfo", "-"}),
              UnorderedElementsAre("--details", "--machinereadable", "--log", "--password-id",
                                   "--password", "--json"));
  // Exclusive, and no repeats; the legacy spelling counts.
  EXPECT_THAT(complete({"showvminfo", "off1", "--json", ""}),
              ElementsAre("--details", "--log", "--password-id", "--password"));
  EXPECT_THAT(complete({"showvminfo", "-machinereadable", "off1", "-"}),
              ElementsAre("--details", "--log", "--password-id", "--password"));
  EXPECT_THAT(complete({"showvminfo", "off1", "x", ""}), IsEmpty()); // too many VMs already
}

TEST_F(CompleteTest, ModifyvmVmFirstThenTableOptions) {
  EXPECT_THAT(complete({"modifyvm", ""}),
              ElementsAre("it\"s 'odd'", "my vm", "off1", "paused1", "run1", "saved1"));
  EXPECT_THAT(complete({"modifyvm", "-"}), IsEmpty()); // the VM comes first
  std::vector<std::string> flags;
  for (const auto& def : cli::modifyvm_rows()) {
    flags.emplace_back(def.flag);
  }
  EXPECT_THAT(complete({"modifyvm", "off1", ""}), ElementsAreArray(flags));
  EXPECT_THAT(complete({"modifyvm", "off1", "--"}), ElementsAreArray(flags));
  // Options repeat (they apply in order); legacy spellings are understood, never offered.
  EXPECT_THAT(complete({"modifyvm", "off1", "--memory", "2048", "--"}), ElementsAreArray(flags));
  EXPECT_THAT(complete({"modifyvm", "off1", "--memory=2048", "--me"}), ElementsAre("--memory"));
  EXPECT_THAT(complete({"modifyvm", "off1", "--pagefusion", "on", "--l"}),
              ElementsAre("--large-pages"));
  EXPECT_THAT(complete({"modifyvm", "off1", "--page"}), ElementsAre("--page-fusion"));
}

TEST_F(CompleteTest, ModifyvmOnOffValuesComeFromTheTable) {
  for (const auto& def : cli::modifyvm_rows()) {
    for (auto flag : {def.flag, def.legacy_flag}) {
      if (flag.empty()) {
        continue;
      }
      auto values = complete({"modifyvm", "off1", std::string(flag), ""});
      if (def.kind == cli::ArgKind::OnOff) {
        EXPECT_THAT(values, ElementsAre("on", "off")) << flag;
      } else {
        EXPECT_THAT(values, IsEmpty()) << flag; // sizes: nothing to offer
      }
    }
  }
  EXPECT_THAT(complete({"modifyvm", "off1", "--large-pages", "of"}), ElementsAre("off"));
  EXPECT_THAT(complete({"modifyvm", "off1", "--large-pages=o"}),
              ElementsAre("--large-pages=on", "--large-pages=off"));
  EXPECT_THAT(complete({"modifyvm", "off1", "--largepages:"}),
              ElementsAre("--largepages:on", "--largepages:off"));
  EXPECT_THAT(complete({"modifyvm", "off1", "--memory="}), IsEmpty());
  // A value that looks like an option is still the value (GetOpt takes it).
  EXPECT_THAT(complete({"modifyvm", "off1", "--memory", "--x", ""}).size(),
              cli::modifyvm_rows().size());
}

TEST_F(CompleteTest, StartvmOffersVmsThatCanStart) {
  EXPECT_THAT(complete({"startvm", ""}), ElementsAre("it\"s 'odd'", "my vm", "off1", "saved1"));
  EXPECT_THAT(complete({"startvm", "r"}), IsEmpty());
  // Several VMs; one already named is not offered again.
  EXPECT_THAT(complete({"startvm", "off1", ""}), ElementsAre("it\"s 'odd'", "my vm", "saved1"));
  EXPECT_THAT(complete({"startvm", "--type", "gui", "o"}), ElementsAre("off1"));
  EXPECT_THAT(complete({"startvm", "--type=gui", "o"}), ElementsAre("off1"));
}

TEST_F(CompleteTest, StartvmType) {
  EXPECT_THAT(complete({"startvm", "off1", "-"}), ElementsAre("--type", "--force", "--dry-run"));
  EXPECT_THAT(complete({"startvm", "--type", ""}),
              ElementsAre("headless", "gui", "separate", "capture"));
  EXPECT_THAT(complete({"startvm", "-type", "h"}), ElementsAre("headless"));
  EXPECT_THAT(complete({"startvm", "-t", "c"}), ElementsAre("capture"));
  EXPECT_THAT(complete({"startvm", "--type=s"}), ElementsAre("--type=separate"));
  EXPECT_THAT(complete({"startvm", "--type", "gui", "-"}), ElementsAre("--force", "--dry-run"));
  EXPECT_THAT(complete({"startvm", "-t", "gui", "--"}), ElementsAre("--force", "--dry-run"));
}

TEST_F(CompleteTest, ControlvmRunningVmThenSubcommandThenWait) {
  EXPECT_THAT(complete({"controlvm", ""}), ElementsAre("paused1", "run1"));
  EXPECT_THAT(complete({"controlvm", "o"}), IsEmpty());
  EXPECT_THAT(complete({"controlvm", "run1", ""}),
              ElementsAre("pause", "resume", "reset", "poweroff", "savestate", "acpipowerbutton",
                          "shutdown", "guestmemoryballoon"));
  EXPECT_THAT(complete({"controlvm", "run1", "p"}), ElementsAre("pause", "poweroff"));
  EXPECT_THAT(complete({"controlvm", "run1", "shutdown", ""}), ElementsAre("--force"));
  EXPECT_THAT(complete({"controlvm", "run1", "shutdown", "--force", ""}), IsEmpty());
  EXPECT_THAT(complete({"controlvm", "run1", "guestmemoryballoon", "-"}), IsEmpty());
  EXPECT_THAT(complete({"controlvm", "run1", "guestmemoryballoon", ""}), IsEmpty());
  EXPECT_THAT(complete({"controlvm", "run1", "guestmemoryballoon", "512", ""}),
              ElementsAre("--wait"));
  EXPECT_THAT(complete({"controlvm", "run1", "guestmemoryballoon", "512", "--wait", ""}),
              IsEmpty());
  EXPECT_THAT(complete({"controlvm", "run1", "poweroff", ""}), IsEmpty());
  EXPECT_THAT(complete({"controlvm", "run1", "pause", "--"}), IsEmpty());
}

TEST_F(CompleteTest, ControlvmSubcommandsAreThoseOfItsHelp) {
  std::set<std::string> subs;
  for (const auto& syn : cli::find_command("controlvm")->help().synopses) {
    auto rest = syn.substr(syn.find("> ") + 2);
    subs.insert(rest.substr(0, rest.find(' ')));
  }
  EXPECT_EQ(as_set(complete({"controlvm", "run1", ""})), subs);
}

TEST_F(CompleteTest, OptionsOfferedAreThoseOfEachCommandsHelp) {
  EXPECT_EQ(as_set(complete({"list", "-"})), synopsis_options("list"));
  EXPECT_EQ(as_set(complete({"showvminfo", "off1", "-"})), synopsis_options("showvminfo"));
  EXPECT_EQ(as_set(complete({"modifyvm", "off1", "-"})), synopsis_options("modifyvm"));
  EXPECT_EQ(as_set(complete({"startvm", "-"})), synopsis_options("startvm"));
  EXPECT_EQ(as_set(complete({"controlvm", "run1", "guestmemoryballoon", "1", "-"}) +
                   complete({"controlvm", "run1", "shutdown", "-"})),
            synopsis_options("controlvm"));
}

TEST_F(CompleteTest, OfferedOptionsAreAcceptedByTheCommand) {
  auto accepted = [&](const std::string& line) {
    run(line);
    return out.stderr_text.find("Unknown option") == std::string::npos;
  };
  for (const auto& o : complete({"list", "-"})) {
    EXPECT_TRUE(accepted("list " + o + " vms")) << o;
  }
  for (const auto& o : complete({"showvminfo", "off1", "-"})) {
    EXPECT_TRUE(accepted("showvminfo off1 " + o)) << o;
  }
  for (const auto& t : complete({"startvm", "--type", ""})) {
    EXPECT_EQ(run("startvm off1 --type " + t), 0) << t;
    hv.power(hv.vm("off1").ref, backend::PowerAction::PowerOff);
  }
}

TEST_F(CompleteTest, NamesWithANewlineAreLeftOut) {
  hv.add("two\nlines", "00000000-0000-4000-8000-000000000009");
  EXPECT_THAT(complete({"showvminfo", "t"}), IsEmpty());
}

TEST_F(CompleteTest, CwordBeyondTheWordsMeansAnEmptyWord) {
  EXPECT_EQ(run_args({"__complete", "2", "vboxmanage", "controlvm"}), 0);
  EXPECT_EQ(out.stdout_text, "paused1\nrun1\n");
}

TEST_F(CompleteTest, BadRequestIsExit2) {
  EXPECT_EQ(run_args({"__complete"}), 2);
  EXPECT_EQ(run_args({"__complete", "x", "vboxmanage"}), 2);
  EXPECT_EQ(run_args({"__complete", "0", "vboxmanage"}), 2);
  EXPECT_EQ(run_args({"__complete", "5", "vboxmanage", "list"}), 2);
  EXPECT_EQ(out.stdout_text, "");
}

TEST_F(CompleteTest, ExtradataScopeIsGlobalThenTheVms) {
  for (std::string cmd : {"getextradata", "setextradata"}) {
    EXPECT_THAT(complete({cmd, ""}),
                ElementsAre("global", "it\"s 'odd'", "my vm", "off1", "paused1", "run1", "saved1"));
    EXPECT_THAT(complete({cmd, "g"}), ElementsAre("global"));
    EXPECT_THAT(complete({cmd, "-"}), IsEmpty());
  }
}

TEST_F(CompleteTest, ExtradataKeysOfThatScope) {
  auto& xs = st.extradata();
  xs.set(store::k_global_scope, "VBoxInternal/Guest/BalloonEnabled", "1");
  xs.set({"fakehost", "00000000-0000-4000-8000-000000000001"},
         "VBoxInternal2/Watchdog/BalloonCtrl/BalloonSizeMax", "2048");
  xs.set({"fakehost", "00000000-0000-4000-8000-000000000001"}, "VBoxKVM/Balloon/x", "y");
  xs.set({"fakehost", "00000000-0000-4000-8000-000000000001"}, "two\nlines", "y");
  xs.set({"otherhost", "00000000-0000-4000-8000-000000000002"}, "not this host", "y");
  EXPECT_THAT(complete({"getextradata", "global", ""}),
              ElementsAre("enumerate", "VBoxInternal/Guest/BalloonEnabled"));
  EXPECT_THAT(complete({"getextradata", "off1", ""}),
              ElementsAre("enumerate", "VBoxInternal2/Watchdog/BalloonCtrl/BalloonSizeMax",
                          "VBoxKVM/Balloon/x"));
  EXPECT_THAT(complete({"getextradata", "off1", "VBoxK"}), ElementsAre("VBoxKVM/Balloon/x"));
  EXPECT_THAT(complete({"getextradata", "{00000000-0000-4000-8000-000000000001}", "VBoxI"}),
              ElementsAre("VBoxInternal2/Watchdog/BalloonCtrl/BalloonSizeMax"));
  EXPECT_THAT(
      complete({"setextradata", "off1", ""}),
      ElementsAre("VBoxInternal2/Watchdog/BalloonCtrl/BalloonSizeMax", "VBoxKVM/Balloon/x"));
  EXPECT_THAT(complete({"setextradata", "global", "e"}), IsEmpty()) << "no enumerate";
  EXPECT_THAT(complete({"getextradata", "my vm", ""}), ElementsAre("enumerate"));
  EXPECT_THAT(complete({"getextradata", "nosuch", ""}), ElementsAre("enumerate"));
  // A value, or anything after the key: nothing to offer.
  EXPECT_THAT(complete({"setextradata", "off1", "VBoxKVM/Balloon/x", ""}), IsEmpty());
  EXPECT_THAT(complete({"getextradata", "global", "enumerate", ""}), IsEmpty());
}

TEST_F(CompleteTest, ExtradataKeysNeedAStoreThatIsThere) {
  st.extradata().set(store::k_global_scope, "k", "v");
  services.existing_store = [] { return static_cast<store::Connection*>(nullptr); };
  EXPECT_THAT(complete({"getextradata", "global", ""}), ElementsAre("enumerate"));
  // A store without the extradata table (older), or no libvirt for a VM: no keys, no error.
  store::Connection old(":memory:", 100);
  services.existing_store = [&] { return &old; };
  EXPECT_THAT(complete({"setextradata", "global", ""}), IsEmpty());
  services.existing_store = [this] { return &st.connection(); };
  services.hypervisor = [](const std::optional<std::string>&, cli::Access) -> backend::Hypervisor& {
    throw backend::BackendError("no libvirt");
  };
  EXPECT_THAT(complete({"setextradata", "off1", ""}), IsEmpty());
  EXPECT_THAT(complete({"setextradata", "global", ""}), ElementsAre("k"));
}

TEST_F(CompleteTest, NotInHelp) {
  run("help");
  EXPECT_EQ(out.stdout_text.find("__complete"), std::string::npos);
}

} // namespace
} // namespace vbm::test

namespace vbm::test {
namespace {

// Every command, from the table as `__dump-cli` prints it: completion offers each of its options
// (the 7.x "--" spelling of each) and each subcommand and keyword somewhere on the line, and
// offers no option the command does not have.
TEST_F(CompleteTest, EveryCommandsGrammarIsWhatCompletionOffers) {
  ASSERT_EQ(run("__dump-cli"), 0);
  auto dump = nlohmann::json::parse(out.stdout_text);
  ASSERT_FALSE(dump["commands"].empty());
  for (const auto& cmd : dump["commands"]) {
    std::string name = cmd["name"];
    std::vector<std::string> lead{name};
    if (cmd["vm"] != "none") {
      lead.push_back(cmd["vm"] == "running" ? "run1" : "off1");
    }
    std::vector<std::pair<std::vector<std::string>, nlohmann::json>> places; // line, its options
    if (cmd["subcommands"].empty() || !cmd["options"].empty()) {
      places.emplace_back(lead, cmd);
    }
    std::set<std::string> words(cmd["words"].begin(), cmd["words"].end());
    std::set<std::string> offered_words;
    // Keywords that stand where the VM goes (getextradata global) are offered with the VMs.
    for (const auto& w : cmd["vm_words"]) {
      words.insert(w);
    }
    if (!cmd["vm_words"].empty()) {
      auto at_vm = complete({name, ""});
      offered_words.insert(at_vm.begin(), at_vm.end());
    }
    auto first =
        complete(std::vector<std::string>(lead.begin(), lead.end()) + std::vector<std::string>{""});
    offered_words.insert(first.begin(), first.end());
    for (const auto& sub : cmd["subcommands"]) {
      words.insert(sub["name"]);
      for (const auto& w : sub["words"]) {
        words.insert(w);
      }
      auto line = lead;
      line.push_back(sub["name"]);
      auto after = complete(line + std::vector<std::string>{""});
      offered_words.insert(after.begin(), after.end());
      places.emplace_back(line, sub);
    }
    for (const auto& w : words) {
      EXPECT_TRUE(offered_words.contains(w)) << name << ": keyword " << w << " never offered";
    }
    for (const auto& [line, spec] : places) {
      std::set<std::string> names;
      std::map<int, std::string> wanted; // id -> its first "--" spelling
      for (const auto& o : spec["options"]) {
        names.insert(o["name"]);
        if (o["name"].get<std::string>().starts_with("--") && !wanted.contains(o["id"])) {
          wanted[o["id"]] = o["name"];
        }
      }
      // Options go right after the line, or after up to three operand words (a size, a name;
      // guestproperty set VM NAME VALUE --flags).
      std::set<std::string> offered;
      auto probe = line;
      for (int operands = 0; operands <= 3; ++operands) {
        for (const auto& c : complete(probe + std::vector<std::string>{"-"})) {
          EXPECT_TRUE(names.contains(c)) << name << ": offered " << c << ", not an option of it";
          offered.insert(c);
        }
        probe.push_back(operands == 0 ? "100" : "x");
      }
      for (const auto& [id, o] : wanted) {
        EXPECT_TRUE(offered.contains(o)) << name << ": option " << o << " never offered";
      }
    }
  }
}

} // namespace
} // namespace vbm::test
