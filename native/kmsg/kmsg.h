// The kernel log as a source of LOG and TRACE lines: /dev/kmsg and files (kmsg/sources.cc).
#pragma once

#include <napi.h>

namespace nfct {
namespace klog {

// Registers kernelLog() and decodeLogLines().
void Init(Napi::Env env, Napi::Object exports);

}  // namespace klog
}  // namespace nfct
