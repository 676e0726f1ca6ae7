// nftables trace events (NFT_MSG_TRACE on NFNLGRP_NFTRACE, as `nft monitor trace` reads them),
// decoded into fixed-layout records (read by lib/trace/handle.ts).
#pragma once

#include <napi.h>

#include <cstdint>

namespace nfct {
namespace trace {

enum TracePresent : uint32_t {
  T_TABLE = 1u << 0,
  T_CHAIN = 1u << 1,
  T_RULE_HANDLE = 1u << 2,
  T_VERDICT = 1u << 3,
  T_JUMP_TARGET = 1u << 4,
  T_IIF = 1u << 5,
  T_OIF = 1u << 6,
  T_MARK = 1u << 7,
  T_NFPROTO = 1u << 8,
  T_POLICY = 1u << 9,
  T_LL = 1u << 10,
  T_NETWORK = 1u << 11,
  T_TRANSPORT = 1u << 12,
  T_IIFTYPE = 1u << 13,
  T_OIFTYPE = 1u << 14,
};

// Strings in order: table, chain, jump target, iif name, oif name (each when present).
enum TraceWord : uint32_t {
  R_PRESENT = 0,
  R_KIND = 1,  // table family | trace type << 8
  R_ID = 2,
  R_HANDLE = 3,  // lo/hi
  R_VERDICT = 5,  // int32
  R_POLICY = 6,
  R_IIF = 7,
  R_OIF = 8,
  R_IIFTYPE = 9,
  R_OIFTYPE = 10,
  R_MARK = 11,
  R_NFPROTO = 12,
  R_LL = 13,  // offset, length in the batch's bytes
  R_NETWORK = 15,
  R_TRANSPORT = 17,
  R_TIME = 19,  // lo/hi: receive time, ns since the epoch
  TRACE_WORDS = 21,
};

// traceEvents(nsPath | null, onBatch, tuning): Stream of trace records.
Napi::Value TraceEvents(const Napi::CallbackInfo& info);

void Init(Napi::Env env, Napi::Object exports);

}  // namespace trace
}  // namespace nfct
