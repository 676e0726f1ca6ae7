#include "ct/service_table.h"

#include <cstring>

#include "errors.h"

namespace nfct {
namespace ct {

namespace {

// A tag on the External, so that another External handed in as `services` is not mistaken for one.
const napi_type_tag kTag = {0x6e666374736572ull, 0x76696365746162ull};

void AppendKey(std::string* s, const char* proto, size_t plen, const char* addr, size_t alen, const char* port, size_t portlen) {
  s->clear();
  s->append(proto, plen);
  s->push_back(' ');
  s->append(addr, alen);
  s->push_back(' ');
  s->append(port, portlen);
}

// serviceTable(text): one line per Service port, fields split by tabs:
//   protonum|*  address  port|*  name  endpoints (space-separated)
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
    if (f[0] == "*" || f[2] == "*") table->wildcards = true;
    ServicePortEntry& e = table->ports[f[0] + " " + f[1] + " " + f[2]];
    e.name = f[3];
    size_t q = 0;
    while (q < f[4].size()) {
      size_t sp = f[4].find(' ', q);
      if (sp == std::string::npos) sp = f[4].size();
      if (sp > q) e.endpoints.insert(f[4].substr(q, sp - q));
      q = sp + 1;
    }
  }
  napi_value ext;
  napi_create_external(env, table, [](napi_env, void* data, void*) { delete static_cast<ServiceTable*>(data); }, nullptr, &ext);
  napi_type_tag_object(env, ext, &kTag);
  return Napi::Value(env, ext);
}

}  // namespace

const ServicePortEntry* ServiceTable::Find(unsigned proto, const char* addr, size_t addr_len, unsigned port, std::string* s) const {
  char pbuf[12];
  char portbuf[12];
  const int pl = snprintf(pbuf, sizeof pbuf, "%u", proto);
  const int portl = snprintf(portbuf, sizeof portbuf, "%u", port);
  AppendKey(s, pbuf, pl, addr, addr_len, portbuf, portl);
  auto it = ports.find(*s);
  if (it != ports.end()) return &it->second;
  if (!wildcards) return nullptr;
  const char* keys[3][2] = {{"*", portbuf}, {pbuf, "*"}, {"*", "*"}};
  for (auto& k : keys) {
    AppendKey(s, k[0], strlen(k[0]), addr, addr_len, k[1], strlen(k[1]));
    it = ports.find(*s);
    if (it != ports.end()) return &it->second;
  }
  return nullptr;
}

bool ServiceTable::IsEndpoint(const ServicePortEntry& e, const char* addr, size_t addr_len, unsigned port, bool v6, std::string* s) const {
  s->clear();
  if (v6) s->push_back('[');
  s->append(addr, addr_len);
  if (v6) s->push_back(']');
  char portbuf[12];
  const int portl = snprintf(portbuf, sizeof portbuf, ":%u", port);
  s->append(portbuf, portl);
  if (e.endpoints.count(*s) != 0) return true;
  return e.endpoints.count(std::string(addr, addr_len)) != 0;
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
