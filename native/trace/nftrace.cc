#include "trace/nftrace.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <net/if.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <memory>
#include <string>

#include "errors.h"
#include "netns.h"
#include "nl.h"
#include "stream.h"

#include "attr.h"

// The conntrack attributes of a trace (Linux 6.8), numbered here for older headers.
enum : uint16_t {
  kTraceCtId = 18,
  kTraceCtDirection = 19,
  kTraceCtStatus = 20,
  kTraceCtState = 21,
};

namespace nfct {
namespace trace {

namespace {

// The attributes that are one value in one word of the record.
constexpr attr::Scalar kScalars[] = {
    {NFTA_TRACE_IIF, 4, TRACE_IIF, TRACE_HAS_IIF},
    {NFTA_TRACE_IIFTYPE, 2, TRACE_IIFTYPE, TRACE_HAS_IIFTYPE},
    {NFTA_TRACE_OIF, 4, TRACE_OIF, TRACE_HAS_OIF},
    {NFTA_TRACE_OIFTYPE, 2, TRACE_OIFTYPE, TRACE_HAS_OIFTYPE},
    {NFTA_TRACE_MARK, 4, TRACE_MARK, TRACE_HAS_MARK},
    {NFTA_TRACE_NFPROTO, 4, TRACE_NFPROTO, TRACE_HAS_NFPROTO},
    {NFTA_TRACE_POLICY, 4, TRACE_POLICY, TRACE_HAS_POLICY},
    {kTraceCtId, 4, TRACE_CT_ID, TRACE_HAS_CT_ID},
    {kTraceCtDirection, 1, TRACE_CT_DIRECTION, TRACE_HAS_CT_DIRECTION},
    {kTraceCtStatus, 4, TRACE_CT_STATUS, TRACE_HAS_CT_STATUS},
    {kTraceCtState, 4, TRACE_CT_STATE, TRACE_HAS_CT_STATE},
};

// Parses NFT_MSG_TRACE itself, checking every length: libnftnl's parser calls exit(1) on a
// message it finds malformed ("nf_tables kernel ABI is broken"), which no library may do.

class TraceDecoder : public Decoder {
 public:
  void OnMessage(const nlmsghdr* nlh, Batch* batch) override {
    if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES || (nlh->nlmsg_type & 0xff) != NFT_MSG_TRACE) return;
    if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(nfgenmsg))) {
      batch->malformed++;
      return;
    }
    const auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
    uint32_t w[TRACE_WORDS] = {0};
    uint32_t& p = w[TRACE_PRESENT];
    uint32_t type = 0;
    std::string table, chain, jump;
    const nlattr* ll = nullptr;
    const nlattr* network = nullptr;
    const nlattr* transport = nullptr;
    const auto str = attr::Str;
    NlForEachAttr(nlh, sizeof(nfgenmsg), [&](const nlattr* a) {
      switch (attr::Type(a)) {
        case NFTA_TRACE_TABLE:
          table = str(a);
          p |= TRACE_HAS_TABLE;
          break;
        case NFTA_TRACE_CHAIN:
          chain = str(a);
          p |= TRACE_HAS_CHAIN;
          break;
        case NFTA_TRACE_RULE_HANDLE:
          if (attr::Get64(a, 8, &w[TRACE_HANDLE])) p |= TRACE_HAS_RULE_HANDLE;
          break;
        case NFTA_TRACE_TYPE: attr::Get(a, 4, &type); break;
        case NFTA_TRACE_VERDICT:
          NlForEachNested(a, [&](const nlattr* v) {
            if (attr::Type(v) == NFTA_VERDICT_CODE) attr::GetField(v, 4, &w[TRACE_VERDICT], &p, TRACE_HAS_VERDICT);
            if (attr::Type(v) == NFTA_VERDICT_CHAIN) jump = str(v);
          });
          break;
        case NFTA_TRACE_ID: attr::Get(a, 4, &w[TRACE_ID]); break;
        case NFTA_TRACE_LL_HEADER: ll = a; break;
        case NFTA_TRACE_NETWORK_HEADER: network = a; break;
        case NFTA_TRACE_TRANSPORT_HEADER: transport = a; break;
        default: attr::GetScalar(a, kScalars, w, &p); break;
      }
    });
    w[TRACE_KIND] = nfg->nfgen_family | ((type & 0xff) << 8);
    if (ll) batch->AppendBytes(&w[TRACE_LL], attr::Payload(ll), attr::PayloadLen(ll)), p |= TRACE_HAS_LL;
    if (network)
      batch->AppendBytes(&w[TRACE_NETWORK], attr::Payload(network), attr::PayloadLen(network)), p |= TRACE_HAS_NETWORK;
    if (transport)
      batch->AppendBytes(&w[TRACE_TRANSPORT], attr::Payload(transport), attr::PayloadLen(transport)),
          p |= TRACE_HAS_TRANSPORT;
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
    w[TRACE_TIME] = static_cast<uint32_t>(ns);
    w[TRACE_TIME + 1] = static_cast<uint32_t>(ns >> 32);
    // Strings: table, chain, jump target, iif name, oif name (each when present).
    auto push = [&](const std::string& s) {
      batch->strings.append(s);
      batch->strings.push_back('\0');
    };
    if (p & TRACE_HAS_TABLE) push(table);
    if (p & TRACE_HAS_CHAIN) push(chain);
    if (!jump.empty()) {
      push(jump);
      p |= TRACE_HAS_JUMP_TARGET;
    }
    for (uint32_t word : {TRACE_IIF, TRACE_OIF}) {
      if (!(p & (word == TRACE_IIF ? TRACE_HAS_IIF : TRACE_HAS_OIF))) continue;
      char name[IF_NAMESIZE] = {0};
      if (if_indextoname(w[word], name) == nullptr) name[0] = '\0';
      push(name);
    }
    batch->words.insert(batch->words.end(), w, w + TRACE_WORDS);
    batch->count++;
  }
};

}  // namespace

std::unique_ptr<Decoder> MakeTraceDecoderForTest() { return std::make_unique<TraceDecoder>(); }

Napi::Value TraceEvents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[1].IsFunction()) return ThrowTypeError(env, "traceEvents(nsPath, onBatch, tuning)");
  ReaderOptions opt;
  ReadReaderOptions(info[2], &opt);
  opt.protocol = NETLINK_NETFILTER;
  // One trace event a datagram (names, verdict, and at most the packet's headers): drained
  // with recvmmsg(), many a call.
  opt.datagram = 16384;
  opt.groups.push_back(NFNLGRP_NFTRACE);
  if (info[0].IsString()) {
    Failure f;
    opt.nsfd = OpenNamespace(info[0].As<Napi::String>().Utf8Value(), &f);
    if (opt.nsfd < 0) {
      MakeError(env, f).As<Napi::Error>().ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  return Stream::Start(env, info[1].As<Napi::Function>(), std::make_unique<TraceDecoder>(), std::move(opt),
                       TRACE_WORDS);
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("traceEvents", Napi::Function::New(env, TraceEvents, "traceEvents"));
}

}  // namespace trace

std::unique_ptr<Decoder> MakeTraceDecoderForTest() { return trace::MakeTraceDecoderForTest(); }

}  // namespace nfct
