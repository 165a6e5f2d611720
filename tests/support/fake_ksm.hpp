#pragma once
// A fake host tree for backend::Ksm: sys/kernel/mm/ksm with the files of a 6.x kernel and a
// ksmd in proc/ with a schedstat, in a temporary directory (removed with the object, kept
// when the test failed).
//
// What it deliberately does not do: it has no ksmd. Counters move only when the test sets
// them (scan() is a shorthand for "ksmd did one full scan"), and the kernel's rules are not
// enforced: writing pages_to_scan while the advisor is on succeeds, and turning the advisor
// off does not reset pages_to_scan. Files hold what was last written, with a newline.

#include "support/temp_dir.hpp"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace vbm::test {

class FakeKsmTree {
public:
  FakeKsmTree() {
    std::filesystem::create_directories(dir());
    std::filesystem::create_directories(m_root / "proc/37");
    std::filesystem::create_directories(m_root / "proc/1");
    put_proc("1/comm", "init\n");
    put_proc("37/comm", "ksmd\n");
    set_ksmd_ns(0);
    for (auto [name, value] : {std::pair{"run", "0"},
                               {"pages_to_scan", "100"},
                               {"sleep_millisecs", "20"},
                               {"smart_scan", "1"},
                               {"pages_shared", "0"},
                               {"pages_sharing", "0"},
                               {"pages_scanned", "0"},
                               {"full_scans", "0"},
                               {"general_profit", "0"}}) {
      set(name, value);
    }
    set("advisor_mode", "[none] scan-time");
  }
  FakeKsmTree(const FakeKsmTree&) = delete;
  FakeKsmTree& operator=(const FakeKsmTree&) = delete;

  const std::filesystem::path& root() const { return m_root; }
  std::filesystem::path dir() const { return m_root / "sys/kernel/mm/ksm"; }

  void set(const std::string& name, const std::string& value) {
    std::ofstream(dir() / name) << value << "\n";
  }
  void set(const std::string& name, std::uint64_t value) { set(name, std::to_string(value)); }
  /// A file's content without its newline ("" if it does not exist).
  std::string get(const std::string& name) const {
    std::ifstream in(dir() / name);
    std::string s;
    std::getline(in, s);
    return s;
  }
  std::uint64_t num(const std::string& name) const { return std::stoull(get(name)); }
  void remove(const std::string& name) { std::filesystem::remove(dir() / name); }

  /// ksmd finished a full scan of `scanned` pages that merged `merged` more pages.
  void scan(std::uint64_t scanned, std::int64_t merged) {
    set("full_scans", num("full_scans") + 1);
    set("pages_scanned", num("pages_scanned") + scanned);
    set("pages_sharing",
        static_cast<std::uint64_t>(static_cast<std::int64_t>(num("pages_sharing")) + merged));
  }
  void set_ksmd_ns(std::uint64_t ns) { put_proc("37/schedstat", std::to_string(ns) + " 0 0\n"); }
  std::uint64_t ksmd_ns() const {
    std::ifstream in(m_root / "proc/37/schedstat");
    std::uint64_t ns = 0;
    in >> ns;
    return ns;
  }

private:
  void put_proc(const std::string& rel, const std::string& text) {
    std::ofstream(m_root / "proc" / rel) << text;
  }
  TempDir m_tmp{"vbm-fake-ksm"};
  std::filesystem::path m_root = m_tmp.path();
};

} // namespace vbm::test
