// Module entry: per-environment state and the exported native surface (declared once, in
// TypeScript, by lib/core/native.ts).
#include <napi.h>

#include "addon.h"
#include "layout/export.h"
#include "ct/conntrack.h"
#include "ct/text.h"
#include "kmsg/kmsg.h"
#include "log/nflog.h"
#include "trace/nftrace.h"
#include "stream.h"

namespace nfct {

AddonData* GetData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

Napi::Value NfLogBackend(const Napi::CallbackInfo& info);     // nflog_backend.cc
Napi::Value ReadInNamespace(const Napi::CallbackInfo& info);  // ns_files.cc
Napi::Value OwnerLock(const Napi::CallbackInfo& info);        // owner_lock.cc
Napi::Value DecodeForTest(const Napi::CallbackInfo& info);    // fuzz.cc

namespace {

// setErrorFactory(fn): fn(errno, syscall, detail) builds the library's error objects.
Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  if (info.Length() != 1 || !info[0].IsFunction()) return ThrowTypeError(info.Env(), "setErrorFactory(fn)");
  GetData(info.Env())->make_error = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory, "setErrorFactory"));
  Stream::Init(env, exports);
  ct::Conntrack::Init(env, exports);
  ct::InitSave(env, exports);
  ct::InitText(env, exports);
  log::Nflog::Init(env, exports);
  trace::Init(env, exports);
  klog::Init(env, exports);
  trace::InitRuleset(env, exports);
  ExportLayouts(env, exports);
  exports.Set("nfLogBackend", Napi::Function::New(env, NfLogBackend, "nfLogBackend"));
  exports.Set("readInNamespace", Napi::Function::New(env, ReadInNamespace, "readInNamespace"));
  exports.Set("ownerLock", Napi::Function::New(env, OwnerLock, "ownerLock"));
  exports.Set("decodeForTest", Napi::Function::New(env, DecodeForTest, "decodeForTest"));
  return exports;
}

}  // namespace
}  // namespace nfct

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return nfct::Init(env, exports); }

NODE_API_MODULE(nfct, InitAddon)
