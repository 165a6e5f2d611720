#include "pagefusion/state.hpp"

#include "sys/files.hpp"

#include <nlohmann/json.hpp>

namespace vbm::pagefusion {

namespace {
using nlohmann::json;

json rate_json(const Rate& r) {
  return {{"pages_to_scan", r.pages_to_scan}, {"sleep_millisecs", r.sleep_millisecs}};
}
Rate rate_from(const json& j) {
  return {j.at("pages_to_scan").get<std::uint64_t>(), j.at("sleep_millisecs").get<std::uint64_t>()};
}
Mode mode_from(const std::string& name) {
  for (Mode m : {Mode::Burst, Mode::Idle, Mode::Unmanaged}) {
    if (mode_name(m) == name) {
      return m;
    }
  }
  throw json::other_error::create(501, "unknown mode " + name, nullptr);
}
} // namespace

std::string StateFile::to_json() const {
  json j;
  j["version"] = k_version;
  j["pid"] = pid;
  j["updated_ms"] = updated_ms;
  j["manage_ksm"] = manage_ksm;
  j["uri"] = uri;
  j["connected"] = connected;
  j["mode"] = mode_name(mode);
  j["mode_since_ms"] = mode_since_ms;
  j["rate"] = rate_json(rate);
  if (ksmd_cpu_percent) {
    j["ksmd_cpu_percent"] = *ksmd_cpu_percent;
  }
  j["guests"] = json::array();
  for (const auto& g : guests) {
    j["guests"].push_back({{"name", g.name}, {"uuid", g.uuid}});
  }
  if (last_gain) {
    const auto& g = *last_gain;
    json gain{{"ms", g.ms}, {"pages_sharing", g.pages_sharing}, {"full_scans", g.full_scans}};
    if (g.pages_scanned) {
      gain["pages_scanned"] = *g.pages_scanned;
    }
    if (g.general_profit) {
      gain["general_profit"] = *g.general_profit;
    }
    j["last_gain"] = gain;
  }
  if (prior) {
    j["prior"] = *prior;
  }
  j["decisions"] = json::array();
  for (const auto& d : decisions) {
    j["decisions"].push_back({{"at_ms", d.at_ms},
                              {"mode", mode_name(d.mode)},
                              {"rate", rate_json(d.rate)},
                              {"reason", d.reason}});
  }
  return j.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::optional<StateFile> StateFile::from_json(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object() || j.value("version", 0) != k_version) {
    return std::nullopt;
  }
  try {
    StateFile s;
    s.pid = j.at("pid").get<int>();
    s.updated_ms = j.at("updated_ms").get<std::int64_t>();
    s.manage_ksm = j.at("manage_ksm").get<bool>();
    s.uri = j.at("uri").get<std::string>();
    s.connected = j.at("connected").get<bool>();
    s.mode = mode_from(j.at("mode").get<std::string>());
    s.mode_since_ms = j.at("mode_since_ms").get<std::int64_t>();
    s.rate = rate_from(j.at("rate"));
    if (j.contains("ksmd_cpu_percent")) {
      s.ksmd_cpu_percent = j["ksmd_cpu_percent"].get<double>();
    }
    for (const auto& g : j.at("guests")) {
      s.guests.push_back({g.at("uuid").get<std::string>(), g.at("name").get<std::string>()});
    }
    if (j.contains("last_gain")) {
      const auto& g = j["last_gain"];
      Gain gain;
      gain.ms = g.at("ms").get<std::int64_t>();
      gain.pages_sharing = g.at("pages_sharing").get<std::int64_t>();
      gain.full_scans = g.at("full_scans").get<std::uint64_t>();
      if (g.contains("pages_scanned")) {
        gain.pages_scanned = g["pages_scanned"].get<std::uint64_t>();
      }
      if (g.contains("general_profit")) {
        gain.general_profit = g["general_profit"].get<std::int64_t>();
      }
      s.last_gain = gain;
    }
    if (j.contains("prior")) {
      s.prior = j["prior"].get<std::string>();
    }
    for (const auto& d : j.at("decisions")) {
      s.decisions.push_back({d.at("at_ms").get<std::int64_t>(),
                             mode_from(d.at("mode").get<std::string>()), rate_from(d.at("rate")),
                             d.at("reason").get<std::string>()});
    }
    return s;
  } catch (const json::exception&) {
    return std::nullopt; // not ours (the file was edited)
  }
}

std::optional<StateFile> read_state(const std::filesystem::path& path) {
  auto text = sys::read_text_file(path, false);
  return text ? StateFile::from_json(*text) : std::nullopt;
}

void write_state(const std::filesystem::path& path, const StateFile& state) {
  sys::write_file_atomic(path, state.to_json(), 0644, false);
}

} // namespace vbm::pagefusion
