// Conntrack events: a stream of flow (and expectation) events from the ctnetlink multicast
// groups, filtered in the kernel by a socket BPF program where the filter allows.
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <memory>

#include "ct/control.h"
#include "ct/conntrack.h"
#include "ct/expect.h"
#include "stream.h"

namespace nfct {
namespace ct {

namespace {

// The kernel sends each conntrack or expectation event in a datagram of its own, sized for that
// event (ctnetlink_nlmsg_size(): well under 2 KiB, with helper, labels and security context).
constexpr size_t kEventDatagram = 8192;

// Whether the namespace sends conntrack events at all (net.netfilter.nf_conntrack_events;
// 0 is off, 1 on, 2 on while someone listens). Read from inside the namespace.
bool EventsEnabled(Failure* f) {
  FILE* file = fopen("/proc/sys/net/netfilter/nf_conntrack_events", "re");
  if (file == nullptr) return true;  // no such sysctl: nothing to say
  int value = 1;
  if (fscanf(file, "%d", &value) != 1) value = 1;
  fclose(file);
  if (value != 0) return true;
  f->set(EOPNOTSUPP, "nf_conntrack_events",
         "net.netfilter.nf_conntrack_events is 0 in this network namespace, so the kernel sends "
         "no conntrack events; set it to 1");
  return false;
}

// The parts of a filter a socket BPF program can check, attached with libnetfilter_conntrack's
// nfct_filter: protocol, TCP state, original addresses (with prefixes), a non-zero mark. What
// it passes is matched again in userspace, so it only has to pass everything that matches.
bool AttachBpf(int fd, const FlowFilter& f, Failure* failure) {
  if (!f.kernel) return true;
  std::unique_ptr<nfct_filter, void (*)(nfct_filter*)> bpf(nfct_filter_create(), nfct_filter_destroy);
  if (!bpf) return true;
  bool any = false;
  if (f.l4proto >= 0) {
    nfct_filter_add_attr_u32(bpf.get(), NFCT_FILTER_L4PROTO, static_cast<uint32_t>(f.l4proto));
    any = true;
    if (f.l4proto == IPPROTO_TCP && f.tcp_states != 0) {
      for (uint16_t s = 0; s < 16; s++) {
        if (!(f.tcp_states & (1u << s))) continue;
        nfct_filter_proto p = {IPPROTO_TCP, s};
        nfct_filter_add_attr(bpf.get(), NFCT_FILTER_L4PROTO_STATE, &p);
      }
    }
  }
  auto addr = [&](const AddrMatch& m, bool src) {
    if (!m.set) return;
    if (f.family == AF_INET) {
      uint32_t a;
      memcpy(&a, m.bytes, 4);
      nfct_filter_ipv4 v4 = {ntohl(a), m.prefix == 0 ? 0u : 0xffffffffu << (32 - m.prefix)};
      nfct_filter_add_attr(bpf.get(), src ? NFCT_FILTER_SRC_IPV4 : NFCT_FILTER_DST_IPV4, &v4);
      any = true;
    } else if (f.family == AF_INET6) {
      nfct_filter_ipv6 v6;
      for (int i = 0; i < 4; i++) {
        uint32_t word;
        memcpy(&word, m.bytes + 4 * i, 4);
        v6.addr[i] = ntohl(word);
        const int bits = m.prefix - 32 * i;
        v6.mask[i] = bits >= 32 ? 0xffffffffu : bits <= 0 ? 0u : 0xffffffffu << (32 - bits);
      }
      nfct_filter_add_attr(bpf.get(), src ? NFCT_FILTER_SRC_IPV6 : NFCT_FILTER_DST_IPV6, &v6);
      any = true;
    }
  };
  addr(f.orig.src, true);
  addr(f.orig.dst, false);
  // An event carries the mark only when it is set or changed: a filter that a mark of 0
  // passes stays in userspace.
  if (f.mark_set && f.mark != 0) {
    nfct_filter_dump_mark m = {f.mark, f.mark_mask};
    nfct_filter_add_attr(bpf.get(), NFCT_FILTER_MARK, &m);
    any = true;
  }
  if (!any) return true;
  if (nfct_filter_attach(fd, bpf.get()) != 0) {
    failure->set(errno, "setsockopt", "SO_ATTACH_FILTER (conntrack event filter)");
    return false;
  }
  return true;
}

class FlowEventDecoder : public FlowDecoder {
 public:
  explicit FlowEventDecoder(const FlowFilter& filter) : FlowDecoder(filter), filter_(filter) {}

  bool Setup(int fd, Failure* f) override { return EventsEnabled(f) && AttachBpf(fd, filter_, f); }

  // Counted as 0 new, 1 update, 2 destroy.
  int Kind(const uint32_t* record) const override {
    const uint32_t kind = record[FLOW_KIND];
    if (((kind >> 16) & 0xffu) == IPCTNL_MSG_CT_DELETE) return 2;
    return ((kind >> 24) & FLOW_KIND_CREATE) ? 0 : 1;
  }

 protected:
  void Stamp(Flow* flow) override {
    if (flow->has(FLOW_HAS_TS_EVENT)) return;
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
    flow->w[FLOW_TS_EVENT] = static_cast<uint32_t>(ns);
    flow->w[FLOW_TS_EVENT + 1] = static_cast<uint32_t>(ns >> 32);
    flow->w[FLOW_KIND] |= FLOW_KIND_TS_RECEIVED << 24;
  }

 private:
  FlowFilter filter_;
};

class ExpectEventDecoder : public ExpectDecoder {
 public:
  ExpectEventDecoder() : ExpectDecoder(true) {}
  bool Setup(int, Failure* f) override { return EventsEnabled(f); }
  // Counted as 0 expect-new, 1 expect-destroy.
  int Kind(const uint32_t* record) const override {
    return ((record[EXPECT_KIND] >> 16) & 0xffu) == IPCTNL_MSG_EXP_DELETE ? 1 : 0;
  }
};

uint32_t GroupsOf(const Napi::Value& v, std::vector<uint32_t>* out) {
  const uint32_t mask = v.As<Napi::Number>().Uint32Value();
  for (uint32_t g = 1; g < 32; g++) {
    if (mask & (1u << g)) out->push_back(g);
  }
  return mask;
}

}  // namespace

// events(filter, groupMask, onBatch, tuning): Stream of flow event records; groupMask has bit
// NFNLGRP_CONNTRACK_NEW / _UPDATE / _DESTROY set for each wanted group
Napi::Value Conntrack::Events(const Napi::CallbackInfo& info) {
  return StartFlowStream(info, "events(filter, groups, onBatch, tuning)", false,
                         [&info](const FlowFilter& filter, ReaderOptions* opt) -> std::unique_ptr<Decoder> {
                           opt->datagram = kEventDatagram;
                           GroupsOf(info[1], &opt->groups);
                           return std::make_unique<FlowEventDecoder>(filter);
                         });
}

// expectEvents(groupMask, onBatch, tuning): Stream of expectation event records
Napi::Value Conntrack::ExpectEvents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsFunction())
    return ThrowTypeError(env, "expectEvents(groups, onBatch, tuning)");
  ReaderOptions opt;
  ReadReaderOptions(info[2], &opt);
  opt.datagram = kEventDatagram;
  GroupsOf(info[0], &opt.groups);
  if (!ReaderOn(env, false, &opt)) return env.Undefined();
  return Stream::Start(env, info[1].As<Napi::Function>(), std::make_unique<ExpectEventDecoder>(), std::move(opt),
                       EXPECT_WORDS);
}

}  // namespace ct
}  // namespace nfct
