#include "errors.h"

#include <cstring>

#include "addon.h"

namespace nfct {

Napi::Value MakeError(Napi::Env env, const Failure& f) {
  AddonData* data = GetData(env);
  Napi::Number err = Napi::Number::New(env, f.err);
  Napi::String call = Napi::String::New(env, f.syscall);
  Napi::String detail = Napi::String::New(env, f.detail);
  if (data != nullptr && !data->make_error.IsEmpty()) {
    Napi::Value e = data->make_error.Call({err, call, detail});
    if (!env.IsExceptionPending()) return e;
    env.GetAndClearPendingException();
  }
  std::string msg = std::string(f.syscall) + ": " + strerror(f.err);
  if (!f.detail.empty()) msg += " (" + f.detail + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", err);
  e.Set("syscall", call);
  return e.Value();
}

void ThrowTypeError(Napi::Env env, const char* what) {
  Napi::TypeError::New(env, what).ThrowAsJavaScriptException();
}

}  // namespace nfct
