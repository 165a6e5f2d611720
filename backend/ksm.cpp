#include "backend/ksm.hpp"

#include "backend/local_host.hpp"
#include "sys/files.hpp"
#include "sys/parse.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sstream>
#include <unistd.h>

namespace vbm::backend {

using sys::parse_i64;
using sys::parse_u64;
using sys::read_text_file;

namespace {
constexpr const char* k_u64_knobs[] = {"run", "pages_to_scan", "sleep_millisecs", "smart_scan"};

// The knob called `name`, in a KsmKnobs or a const one.
template <class Knobs>
auto& field(Knobs& k, std::string_view name) {
  if (name == "run") {
    return k.run;
  }
  if (name == "pages_to_scan") {
    return k.pages_to_scan;
  }
  if (name == "sleep_millisecs") {
    return k.sleep_millisecs;
  }
  return k.smart_scan;
}

} // namespace

std::string KsmKnobs::to_text() const {
  std::string out;
  for (const char* name : k_u64_knobs) {
    if (auto v = field(*this, name)) {
      out += fmt::format("{}={}\n", name, *v);
    }
  }
  if (advisor_mode) {
    out += fmt::format("advisor_mode={}\n", *advisor_mode);
  }
  return out;
}

std::string KsmKnobs::to_line() const {
  std::string line = to_text();
  std::replace(line.begin(), line.end(), '\n', ' ');
  if (!line.empty()) {
    line.pop_back(); // the last newline
  }
  return line;
}

KsmKnobs KsmKnobs::parse(const std::string& text) {
  KsmKnobs k;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq == std::string::npos) {
      continue;
    }
    std::string name = line.substr(0, eq);
    std::string value = line.substr(eq + 1);
    if (name == "advisor_mode") {
      k.advisor_mode = value;
      continue;
    }
    for (const char* known : k_u64_knobs) {
      if (name == known) {
        field(k, name) = parse_u64(value);
      }
    }
  }
  return k;
}

Ksm::Ksm(std::filesystem::path root) : m_dir(root / "sys/kernel/mm/ksm"), m_root(std::move(root)) {}

std::optional<std::string> Ksm::read(const std::string& name) const {
  return read_text_file(m_dir / name);
}

bool Ksm::available() const { return read("run").has_value(); }

KsmKnobs Ksm::knobs() const {
  KsmKnobs k;
  for (const char* name : k_u64_knobs) {
    if (auto text = read(name)) {
      field(k, name) = parse_u64(*text);
    }
  }
  // "[none] scan-time": the selected mode is the bracketed one (a plain word in a fake tree).
  if (auto text = read("advisor_mode")) {
    auto open = text->find('[');
    auto close = text->find(']');
    if (open != std::string::npos && close > open) {
      k.advisor_mode = text->substr(open + 1, close - open - 1);
    } else if (auto end = text->find_first_of(" \n"); end > 0) {
      k.advisor_mode = text->substr(0, end);
    }
  }
  return k;
}

std::optional<KsmCounters> Ksm::counters() const {
  auto shared = read("pages_shared");
  auto sharing = read("pages_sharing");
  if (!shared || !sharing) {
    return std::nullopt;
  }
  KsmCounters c;
  c.pages_shared = parse_u64(*shared).value_or(0);
  c.pages_sharing = parse_u64(*sharing).value_or(0);
  if (auto t = read("pages_scanned")) {
    c.pages_scanned = parse_u64(*t);
  }
  if (auto t = read("full_scans")) {
    c.full_scans = parse_u64(*t);
  }
  if (auto t = read("general_profit")) {
    c.general_profit = parse_i64(*t);
  }
  return c;
}

void Ksm::write(const std::string& name, const std::string& value) const {
  auto path = m_dir / name;
  int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  int err = 0;
  if (fd < 0) {
    err = errno;
  } else {
    std::string text = value + "\n";
    if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      err = errno != 0 ? errno : EIO;
    }
    if (close(fd) != 0 && err == 0) {
      err = errno;
    }
  }
  if (err != 0) {
    throw KsmError(fmt::format("cannot set KSM's {} to {} ({}): {}", name, value, path.string(),
                               std::strerror(err)));
  }
}

void Ksm::apply(const KsmKnobs& k) const {
  if (k.advisor_mode) {
    write("advisor_mode", *k.advisor_mode);
  }
  // While the kernel's advisor runs, it owns pages_to_scan (writes fail with EINVAL).
  bool advisor_on = k.advisor_mode && *k.advisor_mode != "none";
  if (k.pages_to_scan && !advisor_on) {
    write("pages_to_scan", std::to_string(*k.pages_to_scan));
  }
  if (k.sleep_millisecs) {
    write("sleep_millisecs", std::to_string(*k.sleep_millisecs));
  }
  if (k.smart_scan) {
    write("smart_scan", std::to_string(*k.smart_scan));
  }
  if (k.run) {
    write("run", std::to_string(*k.run));
  }
}

std::optional<std::uint64_t> Ksm::ksmd_cpu_ns() const {
  auto proc = m_root / "proc";
  auto is_ksmd = [&](const std::string& pid) {
    auto comm = read_text_file(proc / pid / "comm");
    return comm && (*comm == "ksmd\n" || *comm == "ksmd");
  };
  if (!m_ksmd_pid || !is_ksmd(*m_ksmd_pid)) {
    m_ksmd_pid.reset();
    std::error_code ec;
    // ksmd is a kernel thread started at boot: a low PID, found early in the walk.
    for (const auto& entry : std::filesystem::directory_iterator(proc, ec)) {
      auto pid = entry.path().filename().string();
      if (!pid.empty() && pid.find_first_not_of("0123456789") == std::string::npos &&
          is_ksmd(pid)) {
        m_ksmd_pid = pid;
        break;
      }
    }
    if (!m_ksmd_pid) {
      return std::nullopt;
    }
  }
  // schedstat's first field is the time spent on a CPU, in ns: finer than stat's ticks.
  if (auto text = read_text_file(proc / *m_ksmd_pid / "schedstat")) {
    if (auto ns = parse_u64(*text)) {
      return ns;
    }
  }
  auto cpu = LocalHost(m_root).process_cpu(std::stoi(*m_ksmd_pid));
  if (!cpu) {
    return std::nullopt;
  }
  return cpu->user_ns + cpu->system_ns;
}

std::uint64_t Ksm::page_size() const {
  long ps = sysconf(_SC_PAGESIZE);
  return ps > 0 ? static_cast<std::uint64_t>(ps) : 4096;
}

} // namespace vbm::backend
