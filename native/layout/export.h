// Exports every layout of layout/layouts.h to JS at load, as `layouts`: { FlowWord: { FLOW_PRESENT:
// 0, ... }, ... }, for the check that lib/core/layout.ts agrees (lib/core/native.ts).
#pragma once

#include <napi.h>

namespace nfct {

void ExportLayouts(Napi::Env env, Napi::Object exports);

}  // namespace nfct
