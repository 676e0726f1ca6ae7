// Per-environment state shared by every part of the addon.
#pragma once

#include <napi.h>

namespace nfct {

struct AddonData {
  // Builds an NfctError from (errno, syscall, detail); handed over by lib/core/native.ts at load.
  Napi::FunctionReference make_error;
  Napi::FunctionReference conntrack_ctor;
  Napi::FunctionReference stream_ctor;
  Napi::FunctionReference nflog_ctor;
};

AddonData* GetData(Napi::Env env);

}  // namespace nfct
