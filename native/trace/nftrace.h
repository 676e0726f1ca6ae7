// nftables trace events (NFT_MSG_TRACE on NFNLGRP_NFTRACE, as `nft monitor trace` reads them),
// decoded into fixed-layout records (read by lib/trace/handle.ts).
#pragma once

#include "layout/layouts.h"

#include <napi.h>

#include <cstdint>

namespace nfct {
namespace trace {

// traceEvents(nsPath | null, onBatch, tuning): Stream of trace records.
Napi::Value TraceEvents(const Napi::CallbackInfo& info);

void Init(Napi::Env env, Napi::Object exports);

// nftRuleset(nsPath | null): the NAT-relevant rules and verdict maps of a namespace (ruleset.cc).
void InitRuleset(Napi::Env env, Napi::Object exports);

}  // namespace trace
}  // namespace nfct
