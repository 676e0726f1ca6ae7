// Per-environment state shared by every part of the addon.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nfct {

struct AddonData {
  // Builds an NfctError from (errno, syscall, detail); handed over by lib/core/native.ts at load.
  Napi::FunctionReference make_error;
  Napi::FunctionReference conntrack_ctor;
  Napi::FunctionReference stream_ctor;
  Napi::FunctionReference nflog_ctor;
  // formatFlows()'s buffers, kept between batches. Per environment (so per thread) rather than
  // thread_local: a thread_local with a destructor makes the binary need GLIBC_2.18
  // (__cxa_thread_atexit_impl), and the prebuilt binaries ask for nothing newer than 2.17.
  std::string text_strings;
  std::vector<uint8_t> text_out;
};

AddonData* GetData(Napi::Env env);

}  // namespace nfct
