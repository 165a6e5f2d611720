// libFuzzer harness over the whole argv → result path: cli::run_app on a FakeHypervisor with a
// few VMs in every state (and awkward names), an in-memory store, a fake clock and StringOutput.
//
// Input: argv words separated by NUL bytes — exactly what main() can receive (a word holds any
// byte but NUL); the empty input is no words. At most k_max_words words and k_max_commands commands
// per input. A word that starts with \x01 is a harness directive, not an argv word:
//   \x01              end of this command line; the next words are another command, run on the
//                     same host, store and clock (so modifyvm → showvminfo sequences are reached)
//   \x01fail=METHOD   the fake's next call of METHOD (start, power, list_vms, host_info,
//                     persistent_memory, set_persistent_memory, set_live_balloon_target) fails
//   \x01kill          the next definition in libvirt "kills" the process right after it
//                     (modifyvm's crash window); that command's output is discarded
//   \x01tty           stderr is a terminal (controlvm --wait prints progress)
//   \x01width=N       IPRT_SCREEN_WIDTH for the usage text (1..999; default 80)
// Other \x01 words are ignored. State is fresh for every input, so runs are deterministic.
// With VBM_FUZZ_VERBOSE=1 in the environment, each command's words, exit code and output are
// printed (run the fuzzer on one file to see what that input does).
//
// Invariants checked after every command (abort() on violation, which libFuzzer reports):
//  - run_app throws nothing (only the injected "kill" may escape) and returns 0, 1, 2 or 130;
//  - every stderr line that says "error:" starts with "VBoxManage: error: ", and none says
//    "internal error:" (only a bug reaches that branch of the catch ladder);
//  - exit 0 prints no error line; a non-zero exit prints something;
//  - exit 2 (syntax) never opened the hypervisor or the store (they are opened lazily), except
//    setextradata's "Too many parameters" and showvminfo's "Option --log is exclusive", both
//    after their VM was found;
//  - a read-only connection is never asked to change anything;
//  - output holds no NUL, and is valid UTF-8 when every input word so far is (a command may
//    print what an earlier one of the same input stored);
//  - output that starts with '{' (showvminfo --json) is valid JSON;
//  - __complete writes nothing to stderr when it succeeds;
//  - no modifyvm intent is left in the store unless a process was "killed".

#include "cli/app.hpp"
#include "cli/exit_codes.hpp"
#include "store/settings_store.hpp"
#include "support/fake_hypervisor.hpp"
#include "support/fake_ksm.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using namespace vbm;
using backend::VmState;

constexpr size_t k_max_words = 64;
constexpr size_t k_max_commands = 8;
constexpr std::string_view k_prog = "VBoxManage"; // StringOutput's program name
// controlvm --wait polls every 100 ms for up to a day of fake time. After this many sleeps in one
// command, every sleep moves the clock a day on, so any deadline passes at the next poll.
constexpr int k_sleep_budget = 600;
constexpr std::int64_t k_day_ms = 86'400'000;

bool g_verbose = false;
// `pagefusion` reads KSM from this fake tree and keeps its host files (VBOXKVM_ETC_DIR and
// VBOXKVM_RUN_DIR) in it: the fuzzer never touches the real KSM, /etc or /run.
vbm::test::FakeKsmTree* g_ksm = nullptr;

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "fuzz_argv invariant violated: %s\n%s\n", what, detail.c_str());
  std::abort();
}

/// Stands for the process being killed (thrown past run_app, like tests/unit/test_modifyvm.cpp).
struct Killed {};

/// The fake, plus a check that a read-only connection is never asked to change anything.
class Host : public test::FakeHypervisor {
public:
  bool read_only = false;

  void set_persistent_memory(const backend::VmRef& ref, const backend::DomainMemory& mem) override {
    writable("set_persistent_memory");
    FakeHypervisor::set_persistent_memory(ref, mem);
  }
  void set_live_balloon_target(const backend::VmRef& ref, std::uint64_t kib) override {
    writable("set_live_balloon_target");
    FakeHypervisor::set_live_balloon_target(ref, kib);
  }
  backend::VmRef start(const backend::VmRef& ref) override {
    writable("start");
    return FakeHypervisor::start(ref);
  }
  void power(const backend::VmRef& ref, backend::PowerAction action) override {
    writable("power");
    FakeHypervisor::power(ref, action);
  }

private:
  void writable(const char* method) {
    if (read_only) {
      fail("a read-only connection was asked to change something", method);
    }
  }
};

/// The VMs of every input: the golden tests' node (tests/data/node.xml) and some awkward ones.
void populate(Host& hv) {
  hv.add("off1", "aaaaaaaa-1111-4111-8111-000000000001", 1024);
  auto& run1 = hv.add("run1", "aaaaaaaa-1111-4111-8111-000000000002", 2048);
  run1.memory.current_kib = 1536 * 1024;
  hv.run("run1");
  hv.add("saved1", "aaaaaaaa-1111-4111-8111-000000000003", 512).state = VmState::Saved;
  hv.add("paused1", "aaaaaaaa-1111-4111-8111-000000000004", 256);
  hv.run("paused1").state = VmState::Paused;
  auto& nofusion = hv.add("nofusion with space", "aaaaaaaa-1111-4111-8111-000000000005");
  nofusion.memory = {1048576, 943718, true, false,
                     false}; // not whole MB; <memballoon model='none'>
  // Running without a balloon driver: controlvm --wait runs into its deadline.
  hv.add("nodriver", "aaaaaaaa-1111-4111-8111-000000000006", 1024).driver = false;
  hv.run("nodriver");
  auto& huge = hv.add("huge", "aaaaaaaa-1111-4111-8111-000000000007", 4096);
  huge.memory.hugepages = true;
  hv.run("huge");
  // A name that is another VM's UUID (FindMachine looks UUID-shaped words up by UUID only).
  hv.add("aaaaaaaa-1111-4111-8111-000000000001", "bbbbbbbb-2222-4222-8222-000000000008", 64);
  hv.add("Ünï \"cödé\" \\ 🐧 'q'", "bbbbbbbb-2222-4222-8222-000000000009", 128).state =
      VmState::Aborted;
  hv.add("-dash", "bbbbbbbb-2222-4222-8222-00000000000a", 4).state = VmState::Stopping;
  auto& tiny = hv.add("tiny", "bbbbbbbb-2222-4222-8222-00000000000b");
  tiny.memory = {3, 1, false, false, true}; // below 1 MB
  hv.add("odd", "bbbbbbbb-2222-4222-8222-00000000000c", 8).state = VmState::Unknown;
  auto& big = hv.add("big", "bbbbbbbb-2222-4222-8222-00000000000d");
  big.memory = {std::uint64_t{1} << 32, std::uint64_t{1} << 31, false, false, true}; // 4 TiB
  hv.run("big");
}

const std::vector<std::string>& all_uuids() {
  static const std::vector<std::string> uuids = [] {
    Host hv;
    populate(hv);
    std::vector<std::string> out;
    for (const auto& vm : hv.list_vms()) {
      out.push_back(vm.uuid);
    }
    return out;
  }();
  return uuids;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      lo = c == 0xE0 ? 0xA0 : 0x80; // no overlongs
      hi = c == 0xED ? 0x9F : 0xBF; // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      lo = c == 0xF0 ? 0x90 : 0x80;
      hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
      return false;
    }
    if (i + n >= s.size()) {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) {
        return false;
      }
    }
    i += n + 1;
  }
  return true;
}

struct Command {
  std::vector<std::string> args;
  std::optional<std::string> fail_method;
  bool kill = false;
  bool tty = false;
  int width = 80;
};

std::vector<Command> split(const std::uint8_t* data, size_t size) {
  std::vector<Command> commands(1);
  if (size == 0) {
    return commands; // no words at all (else: one empty word)
  }
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t words = 0;
  size_t start = 0;
  while (start <= in.size() && words < k_max_words) {
    size_t end = in.find('\0', start);
    if (end == std::string_view::npos) {
      end = in.size();
    }
    std::string_view word = in.substr(start, end - start);
    start = end + 1;
    ++words;
    if (word.empty() || word[0] != '\x01') {
      commands.back().args.emplace_back(word);
      continue;
    }
    word.remove_prefix(1);
    auto& cmd = commands.back();
    if (word.empty()) {
      if (commands.size() == k_max_commands) {
        break;
      }
      commands.emplace_back();
    } else if (word.starts_with("fail=")) {
      cmd.fail_method = std::string(word.substr(5));
    } else if (word == "kill") {
      cmd.kill = true;
    } else if (word == "tty") {
      cmd.tty = true;
    } else if (word.starts_with("width=") && word.size() > 6 && word.size() <= 9 &&
               word.find_first_not_of("0123456789", 6) == std::string_view::npos) {
      cmd.width = std::max(1, std::atoi(std::string(word.substr(6)).c_str()));
    }
  }
  return commands;
}

void check_output(const Command& cmd, int rc, const cli::StringOutput& out, bool opened,
                  bool input_utf8) {
  if (rc != cli::k_exit_success && rc != cli::k_exit_failure && rc != cli::k_exit_syntax &&
      rc != cli::k_exit_interrupted) {
    fail("exit code outside 0, 1, 2, 130", std::to_string(rc));
  }
  const std::string error_prefix = std::string(k_prog) + ": error: ";
  bool error_line = false;
  std::string_view err = out.stderr_text;
  for (size_t pos = 0; pos < err.size();) {
    size_t nl = err.find('\n', pos);
    std::string_view line = err.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    if (line.starts_with(error_prefix)) {
      error_line = true;
      // Only a bug reaches the catch ladder's last branch: every error of user input, of the
      // store or of libvirt is a vbm::Error with its own words.
      // (Unless the input itself carried the words, echoed back after a newline it held.)
      bool echoed = std::any_of(cmd.args.begin(), cmd.args.end(), [](const std::string& a) {
        return a.find("internal error:") != std::string::npos;
      });
      if (!echoed && line.substr(error_prefix.size()).starts_with("internal error:")) {
        fail("user input reached an internal error", std::string(line));
      }
    } else if (line.find("error:") != std::string_view::npos) {
      fail("an error line without the program prefix", std::string(line));
    }
    pos = nl == std::string_view::npos ? err.size() : nl + 1;
  }
  if (rc == cli::k_exit_success && error_line) {
    fail("exit 0 with an error message", out.stderr_text);
  }
  if (rc != cli::k_exit_success && out.stdout_text.empty() && out.stderr_text.empty()) {
    fail("a failure that says nothing", std::to_string(rc));
  }
  // setextradata and showvminfo's --log are the exceptions: VirtualBox looks the VM up before
  // it counts the words ("Too many parameters" only for a VM that exists) or checks that --log
  // is exclusive (handleShowVMInfo).
  bool looks_up_first =
      std::find(cmd.args.begin(), cmd.args.end(), "setextradata") != cmd.args.end() ||
      out.stderr_text.find("error: Option --log is exclusive") != std::string::npos;
  if (rc == cli::k_exit_syntax && opened && !looks_up_first) {
    fail("a syntax error (exit 2) opened the hypervisor or the store");
  }
  for (const std::string* text : {&out.stdout_text, &out.stderr_text}) {
    if (text->find('\0') != std::string::npos) {
      fail("a NUL byte in the output", *text);
    }
    if (input_utf8 && !valid_utf8(*text)) {
      fail("invalid UTF-8 output from valid UTF-8 input", *text);
    }
  }
  if (out.stdout_text.starts_with("{") && !nlohmann::json::accept(out.stdout_text)) {
    fail("output that starts with '{' is not JSON", out.stdout_text);
  }
  if (!cmd.args.empty() && cmd.args[0] == "__complete" && rc == cli::k_exit_success &&
      !out.stderr_text.empty()) {
    fail("__complete succeeded with something on stderr", out.stderr_text);
  }
}

/// Sets a Services member that a later version of cli::Services may have, if it has it.
template <class S, class F>
void set_stop_requested(S& services, F&& stop) {
  if constexpr (requires { services.stop_requested = stop; }) {
    services.stop_requested = std::forward<F>(stop);
  }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  all_uuids();                              // warm the static before leak checking starts
  unsetenv("VBOXKVM_METRICS_TEXTFILE_DIR"); // see --textfile-dir below
  g_ksm = new vbm::test::FakeKsmTree;       // lives as long as the process
  setenv("VBOXKVM_ETC_DIR", (g_ksm->root() / "etc").c_str(), 1);
  setenv("VBOXKVM_RUN_DIR", (g_ksm->root() / "run").c_str(), 1);
  const char* verbose = std::getenv("VBM_FUZZ_VERBOSE");
  g_verbose = verbose && *verbose == '1';
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  auto commands = split(data, size);
  // The metrics collector (`__collector --textfile-dir DIR`, from the metrics work on main)
  // writes a file into DIR from inside run_app: keep the fuzzer off the real file system.
  // -1 keeps such inputs out of the corpus.
  // The page-fusion controller (`__pagefusiond`) connects to the real libvirtd and steers the
  // real KSM: never run it here.
  // The balloon service (`balloonctrl` without `status`) runs until stopped, forks with -b and
  // writes its lock, state, log and -P/-F files on the real file system: never run it here
  // (its command line is covered by the golden cli.balloonctrl and e2e.balloonctrl).
  for (const auto& cmd : commands) {
    for (size_t i = 0; i < cmd.args.size(); ++i) {
      const auto& a = cmd.args[i];
      if (a.starts_with("--textfile-dir") || a == "__pagefusiond" ||
          (a == "balloonctrl" && (i + 1 == cmd.args.size() || cmd.args[i + 1] != "status"))) {
        return -1;
      }
    }
  }
  std::error_code ec;
  std::filesystem::remove(g_ksm->root() / "etc/pagefusion.conf", ec); // fresh for every input

  Host hv;
  populate(hv);
  std::optional<store::SettingsStore> st; // opened lazily, like main.cpp's
  std::int64_t now = 1700000000123;
  int sleeps = 0;
  bool opened = false;
  bool killed_before = false;

  // Built by assignment, not positional aggregate init, so members added to Services later
  // (with defaults) do not break this harness.
  cli::Services services;
  services.hypervisor = [&](const std::optional<std::string>& uri,
                            cli::Access access) -> backend::Hypervisor& {
    opened = true;
    // A URI no driver knows fails to connect, as virConnectOpen does.
    if (uri && !uri->starts_with("test:") && !uri->starts_with("qemu")) {
      throw backend::BackendError("failed to connect to the hypervisor");
    }
    hv.read_only = access == cli::Access::ReadOnly;
    return hv;
  };
  services.store = [&]() -> store::SettingsStore& {
    opened = true;
    if (!st) {
      st.emplace(":memory:");
    }
    return *st;
  };
  services.now_ms = [&] { return now; };
  services.sleep_ms = [&](int ms) {
    now += ++sleeps > k_sleep_budget ? k_day_ms : ms;
    hv.tick();
  };
  bool tty = false;
  services.stderr_is_terminal = [&] { return tty; };
  services.host_root = g_ksm->root();
  // Long-running commands (the coming `metrics collect`, which loops until stopped) are bounded
  // here: once the sleep budget is spent, the harness asks them to stop. Set only if Services
  // has the member. (Any `ensure_collector`-like hook must keep a default that starts nothing.)
  set_stop_requested(services, std::function<bool()>([&] { return sleeps > k_sleep_budget; }));

  // A command prints what an earlier one stored (getextradata after setextradata), so output
  // is held to UTF-8 only while every word of this input so far was.
  bool input_utf8 = true;
  for (const auto& cmd : commands) {
    for (const auto& a : cmd.args) {
      input_utf8 = input_utf8 && valid_utf8(a);
    }
    if (cmd.fail_method) {
      hv.fail_next(*cmd.fail_method, "injected failure");
    }
    hv.after_define = nullptr;
    if (cmd.kill) {
      hv.after_define = [] { throw Killed{}; };
    }
    tty = cmd.tty;
    setenv("IPRT_SCREEN_WIDTH", std::to_string(cmd.width).c_str(), 1);
    opened = false;
    sleeps = 0;

    cli::StringOutput out;
    int rc = 0;
    try {
      rc = cli::run_app(cmd.args, out, services);
    } catch (const Killed&) {
      if (g_verbose) {
        std::fprintf(stderr, "(killed)\n");
      }
      killed_before = true;
      continue; // the process died; what it printed is gone
    } catch (...) {
      fail("run_app threw");
    }
    if (g_verbose) {
      std::string line;
      for (const auto& a : cmd.args) {
        line += " [" + a + "]";
      }
      std::fprintf(stderr, "$%s\n%s%s## exit %d\n", line.c_str(), out.stdout_text.c_str(),
                   out.stderr_text.c_str(), rc);
    }
    check_output(cmd, rc, out, opened, input_utf8);

    // modifyvm is all or nothing: only a killed process leaves its intent behind.
    if (st && !killed_before) {
      for (const auto& uuid : all_uuids()) {
        if (st->pending({"fakehost", uuid})) {
          fail("a modifyvm intent left in the store without a kill", uuid);
        }
      }
    }
  }
  return 0;
}
