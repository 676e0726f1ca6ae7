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
    auto u32 = [&](const nlattr* a, uint32_t bit, uint32_t word) {
      if (!attr::Len(a, 4)) return;
      w[word] = attr::Be32(a);
      p |= bit;
    };
    auto u16 = [&](const nlattr* a, uint32_t bit, uint32_t word) {
      if (!attr::Len(a, 2)) return;
      w[word] = attr::Be16(a);
      p |= bit;
    };
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
          if (attr::Len(a, 8)) {
            attr::Put64(&w[TRACE_HANDLE], attr::Be64(a));
            p |= TRACE_HAS_RULE_HANDLE;
          }
          break;
        case NFTA_TRACE_TYPE:
          if (attr::Len(a, 4)) type = attr::Be32(a);
          break;
        case NFTA_TRACE_VERDICT:
          NlForEachNested(a, [&](const nlattr* v) {
            if (attr::Type(v) == NFTA_VERDICT_CODE) u32(v, TRACE_HAS_VERDICT, TRACE_VERDICT);
            if (attr::Type(v) == NFTA_VERDICT_CHAIN) jump = str(v);
          });
          break;
        case NFTA_TRACE_ID:
          if (attr::Len(a, 4)) w[TRACE_ID] = attr::Be32(a);
          break;
        case NFTA_TRACE_LL_HEADER:
          ll = a;
          break;
        case NFTA_TRACE_NETWORK_HEADER:
          network = a;
          break;
        case NFTA_TRACE_TRANSPORT_HEADER:
          transport = a;
          break;
        case NFTA_TRACE_IIF:
          u32(a, TRACE_HAS_IIF, TRACE_IIF);
          break;
        case NFTA_TRACE_IIFTYPE:
          u16(a, TRACE_HAS_IIFTYPE, TRACE_IIFTYPE);
          break;
        case NFTA_TRACE_OIF:
          u32(a, TRACE_HAS_OIF, TRACE_OIF);
          break;
        case NFTA_TRACE_OIFTYPE:
          u16(a, TRACE_HAS_OIFTYPE, TRACE_OIFTYPE);
          break;
        case NFTA_TRACE_MARK:
          u32(a, TRACE_HAS_MARK, TRACE_MARK);
          break;
        case NFTA_TRACE_NFPROTO:
          u32(a, TRACE_HAS_NFPROTO, TRACE_NFPROTO);
          break;
        case NFTA_TRACE_POLICY:
          u32(a, TRACE_HAS_POLICY, TRACE_POLICY);
          break;
        case kTraceCtId:
          u32(a, TRACE_HAS_CT_ID, TRACE_CT_ID);
          break;
        case kTraceCtDirection:
          if (attr::Len(a, 1)) {
            w[TRACE_CT_DIRECTION] = attr::U8(a);
            p |= TRACE_HAS_CT_DIRECTION;
          }
          break;
        case kTraceCtStatus:
          u32(a, TRACE_HAS_CT_STATUS, TRACE_CT_STATUS);
          break;
        case kTraceCtState:
          u32(a, TRACE_HAS_CT_STATE, TRACE_CT_STATE);
          break;
        default:
          break;
      }
    });
    w[TRACE_KIND] = nfg->nfgen_family | ((type & 0xff) << 8);
    if (ll) batch->AppendBytes(&w[TRACE_LL], attr::Payload(ll), attr::PayloadLen(ll)), p |= TRACE_HAS_LL;
    if (network) batch->AppendBytes(&w[TRACE_NETWORK], attr::Payload(network), attr::PayloadLen(network)), p |= TRACE_HAS_NETWORK;
    if (transport) batch->AppendBytes(&w[TRACE_TRANSPORT], attr::Payload(transport), attr::PayloadLen(transport)), p |= TRACE_HAS_TRANSPORT;
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
  if (info.Length() < 3 || !info[1].IsFunction()) {
    ThrowTypeError(env, "traceEvents(nsPath, onBatch, tuning)");
    return env.Undefined();
  }
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
  return Stream::Start(env, info[1].As<Napi::Function>(), std::make_unique<TraceDecoder>(),
                       std::move(opt), TRACE_WORDS);
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("traceEvents", Napi::Function::New(env, TraceEvents, "traceEvents"));
}

}  // namespace trace

std::unique_ptr<Decoder> MakeTraceDecoderForTest() { return trace::MakeTraceDecoderForTest(); }

}  // namespace nfct
