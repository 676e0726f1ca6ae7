#include "ct/service_table.h"

#include <cstdlib>
#include <cstring>

#include "errors.h"

namespace nfct {
namespace ct {

namespace {

// A tag on the External, so that another External handed in as `services` is not mistaken for one.
const napi_type_tag kTag = {0x6e666374736572ull, 0x76696365746162ull};

// serviceTable(text): one line per Service port, fields split by tabs:
//   protonum|*  address  port|*  name  endpoints (space-separated: 10.0.0.1:53, [fd00::1]:53, 10.0.0.1)
Napi::Value MakeServiceTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowTypeError(env, "serviceTable(text: string)");
    return env.Undefined();
  }
  const std::string text = info[0].As<Napi::String>().Utf8Value();
  auto* table = new ServiceTable();
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(at, nl - at);
    at = nl + 1;
    std::string f[5];
    size_t p = 0;
    for (int i = 0; i < 5; i++) {
      const size_t tab = i < 4 ? line.find('\t', p) : std::string::npos;
      f[i] = line.substr(p, tab == std::string::npos ? std::string::npos : tab - p);
      if (tab == std::string::npos) break;
      p = tab + 1;
    }
    if (f[0].empty() || f[1].empty()) continue;
    ServicePortEntry e;
    e.proto = f[0] == "*" ? 0 : static_cast<unsigned>(strtoul(f[0].c_str(), nullptr, 10));
    e.port = f[2] == "*" ? -1 : static_cast<int>(strtol(f[2].c_str(), nullptr, 10));
    e.address = f[1];
    e.name = f[3];
    size_t q = 0;
    while (q < f[4].size()) {
      size_t sp = f[4].find(' ', q);
      if (sp == std::string::npos) sp = f[4].size();
      const std::string ep = f[4].substr(q, sp - q);
      q = sp + 1;
      if (ep.empty()) continue;
      if (ep[0] == '[') {
        const size_t close = ep.find(']');
        if (close == std::string::npos) continue;
        const int port = close + 2 < ep.size() ? static_cast<int>(strtol(ep.c_str() + close + 2, nullptr, 10)) : -1;
        e.endpoints.emplace_back(ep.substr(1, close - 1), port);
      } else {
        const size_t colon = ep.find(':');
        if (colon == std::string::npos) e.endpoints.emplace_back(ep, -1);
        else
          e.endpoints.emplace_back(ep.substr(0, colon), static_cast<int>(strtol(ep.c_str() + colon + 1, nullptr, 10)));
      }
    }
    table->Add(std::move(e));
  }
  table->Seal();
  napi_value ext;
  napi_create_external(
      env, table, [](napi_env, void* data, void*) { delete static_cast<ServiceTable*>(data); }, nullptr, &ext);
  napi_type_tag_object(env, ext, &kTag);
  return Napi::Value(env, ext);
}

}  // namespace

void ServiceTable::Add(ServicePortEntry e) {
  if (e.proto == 0 || e.port < 0) wildcards_ = true;
  entries_.push_back(std::move(e));
}

uint64_t ServiceTable::Hash(unsigned proto, const char* addr, size_t addr_len, int port) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (size_t i = 0; i < addr_len; i++) h = (h ^ static_cast<uint8_t>(addr[i])) * 1099511628211ull;
  h = (h ^ proto) * 1099511628211ull;
  h = (h ^ static_cast<uint32_t>(port)) * 1099511628211ull;
  return h ^ (h >> 29);
}

void ServiceTable::Seal() {
  size_t size = 16;
  while (size < entries_.size() * 2) size <<= 1;
  slots_.assign(size, -1);
  for (size_t i = 0; i < entries_.size(); i++) {
    const ServicePortEntry& e = entries_[i];
    size_t s = Hash(e.proto, e.address.data(), e.address.size(), e.port) & (size - 1);
    while (slots_[s] >= 0) s = (s + 1) & (size - 1);
    slots_[s] = static_cast<int32_t>(i);
  }
}

const ServicePortEntry* ServiceTable::Probe(unsigned proto, const char* addr, size_t addr_len, int port) const {
  if (slots_.empty()) return nullptr;
  const size_t mask = slots_.size() - 1;
  for (size_t s = Hash(proto, addr, addr_len, port) & mask;; s = (s + 1) & mask) {
    const int32_t i = slots_[s];
    if (i < 0) return nullptr;
    const ServicePortEntry& e = entries_[static_cast<size_t>(i)];
    if (e.proto == proto && e.port == port && e.address.size() == addr_len &&
        memcmp(e.address.data(), addr, addr_len) == 0)
      return &e;
  }
}

const ServicePortEntry* ServiceTable::Find(unsigned proto, const char* addr, size_t addr_len, unsigned port) const {
  const ServicePortEntry* e = Probe(proto, addr, addr_len, static_cast<int>(port));
  if (e != nullptr || !wildcards_) return e;
  if ((e = Probe(0, addr, addr_len, static_cast<int>(port))) != nullptr) return e;
  if ((e = Probe(proto, addr, addr_len, -1)) != nullptr) return e;
  return Probe(0, addr, addr_len, -1);
}

bool ServiceTable::IsEndpoint(const ServicePortEntry& e, const char* addr, size_t addr_len, unsigned port) {
  for (const auto& [a, p] : e.endpoints) {
    if ((p < 0 || p == static_cast<int>(port)) && a.size() == addr_len && memcmp(a.data(), addr, addr_len) == 0)
      return true;
  }
  return false;
}

const ServiceTable* ServiceTableOf(napi_env env, napi_value value) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(env, value, &kTag, &tagged) != napi_ok || !tagged) return nullptr;
  void* data = nullptr;
  if (napi_get_value_external(env, value, &data) != napi_ok) return nullptr;
  return static_cast<const ServiceTable*>(data);
}

void InitServiceTable(Napi::Env env, Napi::Object exports) {
  exports.Set("serviceTable", Napi::Function::New(env, MakeServiceTable, "serviceTable"));
}

}  // namespace ct
}  // namespace nfct
