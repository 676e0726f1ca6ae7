#include "trace/nftrace.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/trace.h>
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

namespace nfct {
namespace trace {

namespace {


class TraceDecoder : public Decoder {
 public:
  TraceDecoder() : t_(nftnl_trace_alloc()) {}
  ~TraceDecoder() override { nftnl_trace_free(t_); }

  void OnMessage(const nlmsghdr* nlh, Batch* batch) override {
    if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES || (nlh->nlmsg_type & 0xff) != NFT_MSG_TRACE) return;
    // libnftnl keeps what it parsed before: a fresh object per message.
    nftnl_trace_free(t_);
    t_ = nftnl_trace_alloc();
    has_verdict_ = false;
    verdict_ = 0;
    if (nftnl_trace_nlmsg_parse(nlh, t_) < 0) {
      batch->malformed++;
      return;
    }
    uint32_t w[TRACE_WORDS] = {0};
    uint32_t& p = w[R_PRESENT];
    const uint32_t family = nftnl_trace_is_set(t_, NFTNL_TRACE_FAMILY) ? nftnl_trace_get_u32(t_, NFTNL_TRACE_FAMILY) : 0;
    // The event type and the verdict (with its chain) are read from the message itself: this
    // libnftnl keeps neither the type nor a jump target reliably.
    uint32_t type = 0;
    std::string jump;
    NlForEachAttr(nlh, sizeof(nfgenmsg), [&](const nlattr* a) {
      const uint16_t at = mnl_attr_get_type(a);
      if (at == NFTA_TRACE_TYPE && mnl_attr_get_payload_len(a) >= 4) type = ntohl(mnl_attr_get_u32(a));
      if (at != NFTA_TRACE_VERDICT) return;
      NlForEachNested(a, [&](const nlattr* v) {
        const uint16_t vt = mnl_attr_get_type(v);
        if (vt == NFTA_VERDICT_CODE && mnl_attr_get_payload_len(v) >= 4) verdict_ = static_cast<int32_t>(ntohl(mnl_attr_get_u32(v)));
        if (vt == NFTA_VERDICT_CHAIN) jump.assign(mnl_attr_get_str(v), strnlen(mnl_attr_get_str(v), mnl_attr_get_payload_len(v)));
      });
      has_verdict_ = true;
    });
    w[R_KIND] = (family & 0xff) | ((type & 0xff) << 8);
    w[R_ID] = nftnl_trace_is_set(t_, NFTNL_TRACE_ID) ? nftnl_trace_get_u32(t_, NFTNL_TRACE_ID) : 0;
    auto u32 = [&](uint16_t attr, uint32_t bit, uint32_t word) {
      if (!nftnl_trace_is_set(t_, attr)) return;
      w[word] = nftnl_trace_get_u32(t_, attr);
      p |= bit;
    };
    auto u16 = [&](uint16_t attr, uint32_t bit, uint32_t word) {
      if (!nftnl_trace_is_set(t_, attr)) return;
      w[word] = nftnl_trace_get_u16(t_, attr);
      p |= bit;
    };
    if (has_verdict_) {
      w[R_VERDICT] = static_cast<uint32_t>(verdict_);
      p |= T_VERDICT;
    }
    u32(NFTNL_TRACE_POLICY, T_POLICY, R_POLICY);
    u32(NFTNL_TRACE_IIF, T_IIF, R_IIF);
    u32(NFTNL_TRACE_OIF, T_OIF, R_OIF);
    u16(NFTNL_TRACE_IIFTYPE, T_IIFTYPE, R_IIFTYPE);
    u16(NFTNL_TRACE_OIFTYPE, T_OIFTYPE, R_OIFTYPE);
    u32(NFTNL_TRACE_MARK, T_MARK, R_MARK);
    u32(NFTNL_TRACE_NFPROTO, T_NFPROTO, R_NFPROTO);
    if (nftnl_trace_is_set(t_, NFTNL_TRACE_RULE_HANDLE)) {
      const uint64_t h = nftnl_trace_get_u64(t_, NFTNL_TRACE_RULE_HANDLE);
      w[R_HANDLE] = static_cast<uint32_t>(h);
      w[R_HANDLE + 1] = static_cast<uint32_t>(h >> 32);
      p |= T_RULE_HANDLE;
    }
    auto bytes = [&](uint16_t attr, uint32_t bit, uint32_t word) {
      if (!nftnl_trace_is_set(t_, attr)) return;
      uint32_t len = 0;
      const void* data = nftnl_trace_get_data(t_, attr, &len);
      if (data == nullptr) return;
      batch->AppendBytes(&w[word], data, len);
      p |= bit;
    };
    bytes(NFTNL_TRACE_LL_HEADER, T_LL, R_LL);
    bytes(NFTNL_TRACE_NETWORK_HEADER, T_NETWORK, R_NETWORK);
    bytes(NFTNL_TRACE_TRANSPORT_HEADER, T_TRANSPORT, R_TRANSPORT);
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
    w[R_TIME] = static_cast<uint32_t>(ns);
    w[R_TIME + 1] = static_cast<uint32_t>(ns >> 32);
    auto str = [&](uint16_t attr, uint32_t bit) {
      if (!nftnl_trace_is_set(t_, attr)) return;
      const char* s = nftnl_trace_get_str(t_, attr);
      batch->strings.append(s != nullptr ? s : "");
      batch->strings.push_back('\0');
      p |= bit;
    };
    str(NFTNL_TRACE_TABLE, T_TABLE);
    str(NFTNL_TRACE_CHAIN, T_CHAIN);
    if (!jump.empty()) {
      batch->strings.append(jump);
      batch->strings.push_back('\0');
      p |= T_JUMP_TARGET;
    }
    for (uint32_t word : {R_IIF, R_OIF}) {
      if (!(p & (word == R_IIF ? T_IIF : T_OIF))) continue;
      char name[IF_NAMESIZE] = {0};
      if (if_indextoname(w[word], name) == nullptr) name[0] = '\0';
      batch->strings.append(name);
      batch->strings.push_back('\0');
    }
    batch->words.insert(batch->words.end(), w, w + TRACE_WORDS);
    batch->count++;
  }

 private:
  nftnl_trace* t_;
  bool has_verdict_ = false;
  int32_t verdict_ = 0;
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
  exports.Set("TRACE_WORDS", Napi::Number::New(env, TRACE_WORDS));
}

}  // namespace trace

std::unique_ptr<Decoder> MakeTraceDecoderForTest() { return trace::MakeTraceDecoderForTest(); }

}  // namespace nfct
