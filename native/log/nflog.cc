#include "log/nflog.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_log/libnetfilter_log.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "addon.h"
#include "async_op.h"
#include "attr.h"
#include "ct/flow.h"
#include "errors.h"
#include "netns.h"
#include "nl.h"
#include "stream.h"

namespace nfct {
namespace log {

namespace {

// Whether the calling thread has CAP_NET_ADMIN in effect.
bool HasNetAdmin() {
  __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return false;
  return (data[CAP_NET_ADMIN / 32].effective & (1u << (CAP_NET_ADMIN % 32))) != 0;
}

// How a group is to be bound, as lib/nflog/handle.ts normalises it.
struct GroupConfig {
  uint16_t group = 0;
  uint8_t copy_mode = NFULNL_COPY_PACKET;
  uint32_t range = 0xffff;
  int64_t nlbufsiz = -1;
  int64_t timeout = -1;  // 1/100 s
  int64_t qthresh = -1;
  uint16_t flags = 0;
};

// Interface names by index, looked up inside the namespace (the reader thread is in it), kept
// for a few seconds so a renamed or new interface shows up.
class IfNames {
 public:
  const std::string& Name(uint32_t index) {
    const auto now = std::chrono::steady_clock::now();
    if (now - fresh_ > std::chrono::seconds(5)) {
      names_.clear();
      fresh_ = now;
    }
    auto it = names_.find(index);
    if (it != names_.end()) return it->second;
    char buf[IF_NAMESIZE] = {0};
    std::string name = if_indextoname(index, buf) != nullptr ? buf : "";
    return names_.emplace(index, std::move(name)).first->second;
  }

 private:
  std::unordered_map<uint32_t, std::string> names_;
  std::chrono::steady_clock::time_point fresh_{};
};

using attr::Be32;

// Attributes newer than libnetfilter_log's copy of the kernel header.
constexpr int kNfulaVlan = 20;      // NFULA_VLAN
constexpr int kNfulaL2hdr = 21;     // NFULA_L2HDR
constexpr int kNfulaVlanProto = 1;  // NFULA_VLAN_PROTO
constexpr int kNfulaVlanTci = 2;    // NFULA_VLAN_TCI
constexpr int kAttrs = 32;

class PacketDecoder : public Decoder {
 public:
  explicit PacketDecoder(const GroupConfig& cfg) : cfg_(cfg) {}

  // Binds the group on this socket and configures it; EBUSY when another socket holds it.
  bool Setup(int fd, Failure* f) override {
    // Zeroed before each message: libmnl does not clear attribute padding, and what is sent
    // must not carry bytes of this thread's stack.
    char buf[MNL_SOCKET_BUFFER_SIZE] = {};
    auto exchange = [&](nlmsghdr* nlh, const char* what) {
      nlh->nlmsg_flags |= NLM_F_ACK;
      nlh->nlmsg_seq = NlNextSeq(1);
      if (!NlSend(fd, nlh, nlh->nlmsg_len, f)) return false;
      char reply[8192];
      for (;;) {
        ssize_t n = recv(fd, reply, sizeof(reply), 0);
        if (n < 0) {
          if (errno == EINTR) continue;
          f->set(errno, "recv", "NFLOG configuration");
          return false;
        }
        int left = static_cast<int>(n);
        for (const nlmsghdr* m = reinterpret_cast<const nlmsghdr*>(reply); mnl_nlmsg_ok(m, left);
             m = mnl_nlmsg_next(m, &left)) {
          if (m->nlmsg_type != NLMSG_ERROR || m->nlmsg_seq != nlh->nlmsg_seq) continue;
          std::string text;
          const int err = NlErrorOf(m, &text);
          if (err != 0) {
            f->set(err, "nfnetlink_log", text.empty() ? what : text);
            return false;
          }
          return true;
        }
      }
    };
    const std::string group = "NFLOG group " + std::to_string(cfg_.group);
    nlmsghdr* nlh = nflog_nlmsg_put_header(buf, NFULNL_MSG_CONFIG, AF_UNSPEC, cfg_.group);
    nflog_attr_put_cfg_cmd(nlh, NFULNL_CFG_CMD_BIND);
    if (!exchange(nlh, ("binding " + group).c_str())) {
      // The kernel answers EPERM both without the capability and when another socket holds
      // the group; with the capability it is the latter.
      if (f->err == EPERM && HasNetAdmin()) {
        f->set(EBUSY, "nfnetlink_log",
               group + " is bound by another socket (another process, or another subscription)");
      }
      return false;
    }
    memset(buf, 0, sizeof(buf));
    nlh = nflog_nlmsg_put_header(buf, NFULNL_MSG_CONFIG, AF_UNSPEC, cfg_.group);
    nflog_attr_put_cfg_mode(nlh, cfg_.copy_mode, cfg_.range);
    if (cfg_.nlbufsiz >= 0) mnl_attr_put_u32(nlh, NFULA_CFG_NLBUFSIZ, htonl(static_cast<uint32_t>(cfg_.nlbufsiz)));
    if (cfg_.timeout >= 0) mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(static_cast<uint32_t>(cfg_.timeout)));
    if (cfg_.qthresh >= 0) mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(static_cast<uint32_t>(cfg_.qthresh)));
    if (cfg_.flags != 0) mnl_attr_put_u16(nlh, NFULA_CFG_FLAGS, htons(cfg_.flags));
    if (exchange(nlh, ("configuring " + group).c_str())) return true;
    if (f->err == EOPNOTSUPP && (cfg_.flags & NFULNL_CFG_F_CONNTRACK)) {
      f->set(EOPNOTSUPP, "nfnetlink_log",
             "this kernel cannot attach conntrack entries to NFLOG packets (built without "
             "CONFIG_NETFILTER_NETLINK_GLUE_CT); subscribe without conntrack: true");
    }
    return false;
  }

  void OnMessage(const nlmsghdr* nlh, Batch* batch) override {
    if ((nlh->nlmsg_type & 0xff) != NFULNL_MSG_PACKET) return;
    if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(nfgenmsg))) {
      batch->malformed++;
      return;
    }
    // By type; libnetfilter_log's parser stops at the attributes its headers know (no VLAN
    // or L2 header), so the table is filled here.
    const nlattr* by_type[kAttrs] = {nullptr};
    NlForEachAttr(nlh, sizeof(nfgenmsg), [&](const nlattr* a) {
      const uint16_t type = attr::Type(a);
      if (type < kAttrs) by_type[type] = a;
    });
    const auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
    uint32_t w[PACKET_WORDS] = {0};
    uint32_t& p = w[PACKET_PRESENT];
    uint32_t hook = 0;
    if (const nlattr* a = by_type[NFULA_PACKET_HDR]) {
      if (attr::PayloadLen(a) >= sizeof(nfulnl_msg_packet_hdr)) {
        const auto* h = static_cast<const nfulnl_msg_packet_hdr*>(attr::Payload(a));
        w[PACKET_HWPROTO] = ntohs(h->hw_protocol);
        hook = h->hook;
        p |= PACKET_HAS_HOOK;
      }
    }
    w[PACKET_KIND] = nfg->nfgen_family | (hook << 8) | (static_cast<uint32_t>(ntohs(nfg->res_id)) << 16);
    auto u32 = [&](int type, uint32_t bit, uint32_t word) {
      const nlattr* a = by_type[type];
      if (a != nullptr && attr::PayloadLen(a) >= 4) {
        w[word] = Be32(a);
        p |= bit;
      }
    };
    u32(NFULA_MARK, PACKET_HAS_MARK, PACKET_MARK);
    u32(NFULA_UID, PACKET_HAS_UID, PACKET_UID);
    u32(NFULA_GID, PACKET_HAS_GID, PACKET_GID);
    u32(NFULA_SEQ, PACKET_HAS_SEQ, PACKET_SEQ);
    u32(NFULA_SEQ_GLOBAL, PACKET_HAS_SEQ_GLOBAL, PACKET_SEQ_GLOBAL);
    u32(NFULA_CT_INFO, PACKET_HAS_CTINFO, PACKET_CTINFO);
    u32(NFULA_IFINDEX_INDEV, PACKET_HAS_INDEV, PACKET_INDEV);
    u32(NFULA_IFINDEX_OUTDEV, PACKET_HAS_OUTDEV, PACKET_OUTDEV);
    u32(NFULA_IFINDEX_PHYSINDEV, PACKET_HAS_PHYSINDEV, PACKET_PHYSINDEV);
    u32(NFULA_IFINDEX_PHYSOUTDEV, PACKET_HAS_PHYSOUTDEV, PACKET_PHYSOUTDEV);
    if (const nlattr* a = by_type[NFULA_HWTYPE]; a != nullptr && attr::PayloadLen(a) >= 2) {
      w[PACKET_HWTYPE] = attr::Be16(a);
      p |= PACKET_HAS_HWTYPE;
    }
    if (const nlattr* a = by_type[NFULA_TIMESTAMP]; a != nullptr && attr::PayloadLen(a) >= 16) {
      uint64_t sec, usec;
      memcpy(&sec, attr::Payload(a), 8);
      memcpy(&usec, static_cast<const char*>(attr::Payload(a)) + 8, 8);
      const uint64_t ns = be64toh(sec) * 1000000000ull + be64toh(usec) * 1000ull;
      w[PACKET_TIME] = static_cast<uint32_t>(ns);
      w[PACKET_TIME + 1] = static_cast<uint32_t>(ns >> 32);
      p |= PACKET_HAS_TIMESTAMP;
    }
    if (const nlattr* a = by_type[kNfulaVlan]) {
      NlForEachNested(a, [&](const nlattr* v) {
        if (attr::PayloadLen(v) < 2) return;
        const uint32_t value = attr::Be16(v);
        if (attr::Type(v) == kNfulaVlanProto) w[PACKET_VLAN] = (w[PACKET_VLAN] & 0xffff0000u) | value;
        if (attr::Type(v) == kNfulaVlanTci) w[PACKET_VLAN] = (w[PACKET_VLAN] & 0xffffu) | (value << 16);
      });
      p |= PACKET_HAS_VLAN;
    }
    auto bytes = [&](int type, uint32_t bit, uint32_t word) {
      if (const nlattr* a = by_type[type]) {
        batch->AppendBytes(&w[word], attr::Payload(a), attr::PayloadLen(a));
        p |= bit;
      }
    };
    bytes(NFULA_PAYLOAD, PACKET_HAS_PAYLOAD, PACKET_PAYLOAD);
    bytes(NFULA_HWHEADER, PACKET_HAS_HWHEADER, PACKET_HWHEADER);
    bytes(kNfulaL2hdr, PACKET_HAS_L2HDR, PACKET_L2HDR);
    if (const nlattr* a = by_type[NFULA_HWADDR]; a != nullptr && attr::PayloadLen(a) >= sizeof(nfulnl_msg_packet_hw)) {
      const auto* hw = static_cast<const nfulnl_msg_packet_hw*>(attr::Payload(a));
      const size_t len = std::min<size_t>(ntohs(hw->hw_addrlen), sizeof(hw->hw_addr));
      batch->AppendBytes(&w[PACKET_HWADDR], hw->hw_addr, len);
      p |= PACKET_HAS_HWADDR;
    }
    bool has_ct = false;
    if (const nlattr* a = by_type[NFULA_CT]) {
      has_ct = ct::DecodeFlowAttrs(attr::Payload(a), attr::PayloadLen(a), nfg->nfgen_family, &flow_);
      if (has_ct) p |= PACKET_HAS_CT;
    }
    // Strings: prefix, then interface names.
    if (const nlattr* a = by_type[NFULA_PREFIX]) {
      const char* s = static_cast<const char*>(attr::Payload(a));
      batch->strings.append(s, strnlen(s, attr::PayloadLen(a)));
      batch->strings.push_back('\0');
      p |= PACKET_HAS_PREFIX;
    }
    static const uint32_t kDevBits[4] = {PACKET_HAS_INDEV, PACKET_HAS_OUTDEV, PACKET_HAS_PHYSINDEV,
                                         PACKET_HAS_PHYSOUTDEV};
    static const uint32_t kDevWords[4] = {PACKET_INDEV, PACKET_OUTDEV, PACKET_PHYSINDEV, PACKET_PHYSOUTDEV};
    for (int i = 0; i < 4; i++) {
      if (!(p & kDevBits[i])) continue;
      batch->strings.append(names_.Name(w[kDevWords[i]]));
      batch->strings.push_back('\0');
    }
    batch->words.insert(batch->words.end(), w, w + PACKET_WORDS);
    if (has_ct) {
      batch->words.insert(batch->words.end(), flow_.w, flow_.w + FLOW_WORDS);
      ct::AppendFlowStrings(flow_, &batch->strings);
    }
    batch->count++;
  }

 private:
  GroupConfig cfg_;
  IfNames names_;
  ct::Flow flow_;
};

}  // namespace

// For the fuzz tests (fuzz.cc): the packet decoder without a group to bind.
std::unique_ptr<Decoder> MakePacketDecoderForTest() { return std::make_unique<PacketDecoder>(GroupConfig()); }

void Nflog::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(
      env, "Nflog", {InstanceMethod<&Nflog::Subscribe>("subscribe"), InstanceMethod<&Nflog::Close>("close")});
  GetData(env)->nflog_ctor = Napi::Persistent(ctor);
  exports.Set("openNflog", Napi::Function::New(env, &Nflog::Open, "openNflog"));
}

Nflog::Nflog(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Nflog>(info) {
  if (info.Length() == 1 && info[0].IsNumber()) nsfd_ = info[0].As<Napi::Number>().Int32Value();
}

Nflog::~Nflog() {
  if (nsfd_ >= 0) close(nsfd_);
}

// openNflog(nsPath | null): Promise<Nflog>
Napi::Value Nflog::Open(const Napi::CallbackInfo& info) {
  std::string path;
  if (info.Length() > 0 && info[0].IsString()) path = info[0].As<Napi::String>().Utf8Value();
  auto nsfd = std::make_shared<OwnedFd>();
  auto exec = [path, nsfd](Failure* f) {
    if (path.empty()) return;
    nsfd->reset(OpenNamespace(path, f));
    if (nsfd->get() < 0) return;
    // Entering the namespace is what needs privilege: try it now, so that open() fails and
    // not the first subscription.
    const int sock = OpenNetlinkIn(nsfd->get(), NETLINK_NETFILTER, f);
    if (sock >= 0) ::close(sock);
    else nsfd->reset(-1);
  };
  auto done = [nsfd](Napi::Env e) -> Napi::Value {
    Napi::Object handle = GetData(e)->nflog_ctor.New({Napi::Number::New(e, nsfd->get())});
    if (!handle.IsEmpty()) nsfd->release();  // the handle owns it now
    return handle;
  };
  return QueueOp(info.Env(), "nfct-nflog-open", std::move(exec), std::move(done));
}

// subscribe(config, onBatch, tuning): Stream of packet records
Napi::Value Nflog::Subscribe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsFunction())
    return ThrowTypeError(env, "subscribe(config, onBatch, tuning)");
  if (closed_) {
    Failure f;
    f.set(EBADF, "nfnetlink_log", "the handle was closed");
    MakeError(env, f).As<Napi::Error>().ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  auto num = [&](const char* key, int64_t fallback) {
    Napi::Value v = o.Get(key);
    return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : fallback;
  };
  GroupConfig cfg;
  cfg.group = static_cast<uint16_t>(num("group", 0));
  cfg.copy_mode = static_cast<uint8_t>(num("copyMode", NFULNL_COPY_PACKET));
  cfg.range = static_cast<uint32_t>(num("range", 0xffff));
  cfg.nlbufsiz = num("nlbufsiz", -1);
  cfg.timeout = num("timeout", -1);
  cfg.qthresh = num("qthreshold", -1);
  cfg.flags = static_cast<uint16_t>(num("flags", 0));
  ReaderOptions opt;
  ReadReaderOptions(info[2], &opt);
  opt.protocol = NETLINK_NETFILTER;
  opt.nsfd = nsfd_ >= 0 ? dup(nsfd_) : -1;
  return Stream::Start(env, info[1].As<Napi::Function>(), std::make_unique<PacketDecoder>(cfg), std::move(opt),
                       PACKET_WORDS);
}

Napi::Value Nflog::Close(const Napi::CallbackInfo& info) {
  closed_ = true;
  if (nsfd_ >= 0) close(nsfd_);
  nsfd_ = -1;
  return info.Env().Undefined();
}

}  // namespace log

std::unique_ptr<Decoder> MakePacketDecoderForTest() { return log::MakePacketDecoderForTest(); }

}  // namespace nfct
