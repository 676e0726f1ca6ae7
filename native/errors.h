// Kernel and library failures as JS errors carrying errno and syscall.
#pragma once

#include <napi.h>
#include <string>

namespace nfct {

// A failure captured off the JS thread, turned into a JS error later.
struct Failure {
  int err = 0;               // errno value, 0 when nothing failed
  const char* syscall = "";  // static string naming the call that failed
  std::string detail;        // extra context (a path, a message type)

  bool failed() const { return err != 0; }
  void set(int e, const char* call, std::string more = std::string()) {
    err = e;
    syscall = call;
    detail = std::move(more);
  }
};

// Builds the JS error for a failure through the factory registered by lib/core/native.ts
// (an NfctError); falls back to a plain Error with the same fields.
Napi::Value MakeError(Napi::Env env, const Failure& f);

// Throws a TypeError for a malformed native call (lib/ validates user input first,
// so this means a bug in lib/, not bad user input); returns undefined, for `return ThrowTypeError(...)`.
Napi::Value ThrowTypeError(Napi::Env env, const char* what);

}  // namespace nfct
