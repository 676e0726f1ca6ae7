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
    napi_value args[3] = {err, call, detail};
    napi_value result;
    if (napi_call_function(env, env.Undefined(), data->make_error.Value(), 3, args, &result) == napi_ok) {
      return Napi::Value(env, result);
    }
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
  // A plain Error with the same fields, built with plain napi calls: this also runs while an
  // environment goes away, where node-addon-api's throwing wrappers must not be used.
  std::string msg = std::string(f.syscall) + ": " + strerror(f.err);
  if (!f.detail.empty()) msg += " (" + f.detail + ")";
  napi_value text;
  napi_value e = nullptr;
  if (napi_create_string_utf8(env, msg.c_str(), msg.size(), &text) != napi_ok ||
      napi_create_error(env, nullptr, text, &e) != napi_ok) {
    return env.Undefined();
  }
  napi_set_named_property(env, e, "errno", err);
  napi_set_named_property(env, e, "syscall", call);
  return Napi::Value(env, e);
}

Napi::Value ThrowTypeError(Napi::Env env, const char* what) {
  Napi::TypeError::New(env, what).ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace nfct
