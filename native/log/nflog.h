// NFLOG: packets logged by `-j NFLOG` / nft `log group N`, received from nfnetlink_log and
// decoded into fixed-layout records (read by lib/nflog/handle.ts).
#pragma once

#include <napi.h>

#include <cstdint>

namespace nfct {
namespace log {

constexpr uint32_t PACKET_LAYOUT_VERSION = 1;

enum PacketPresent : uint32_t {
  N_HOOK = 1u << 0,  // NFULA_PACKET_HDR: hook and hardware protocol
  N_MARK = 1u << 1,
  N_TIMESTAMP = 1u << 2,
  N_INDEV = 1u << 3,
  N_OUTDEV = 1u << 4,
  N_PHYSINDEV = 1u << 5,
  N_PHYSOUTDEV = 1u << 6,
  N_HWADDR = 1u << 7,
  N_PAYLOAD = 1u << 8,
  N_PREFIX = 1u << 9,
  N_UID = 1u << 10,
  N_GID = 1u << 11,
  N_SEQ = 1u << 12,
  N_SEQ_GLOBAL = 1u << 13,
  N_HWTYPE = 1u << 14,
  N_HWHEADER = 1u << 15,
  N_CT = 1u << 16,  // a flow record (ct/flow.h, FLOW_WORDS) follows this one
  N_CTINFO = 1u << 17,
  N_VLAN = 1u << 18,
  N_L2HDR = 1u << 19,
};

// Strings follow in order: prefix, then the names of indev, outdev, physindev, physoutdev
// (each only when present; empty when the index has no name in the namespace), then the flow's.
enum PacketWord : uint32_t {
  L_PRESENT = 0,
  L_KIND = 1,  // nfgen family | hook << 8 | group << 16
  L_HWPROTO = 2,
  L_MARK = 3,
  L_UID = 4,
  L_GID = 5,
  L_SEQ = 6,
  L_SEQ_GLOBAL = 7,
  L_HWTYPE = 8,
  L_CTINFO = 9,
  L_TIME = 10,  // lo/hi ns since the epoch
  L_INDEV = 12,
  L_OUTDEV = 13,
  L_PHYSINDEV = 14,
  L_PHYSOUTDEV = 15,
  L_VLAN = 16,  // protocol | tci << 16
  L_PAYLOAD = 17,  // offset, length in the batch's bytes
  L_HWHEADER = 19,
  L_HWADDR = 21,
  L_L2HDR = 23,
  PACKET_WORDS = 25,
};

class Nflog : public Napi::ObjectWrap<Nflog> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit Nflog(const Napi::CallbackInfo& info);
  ~Nflog() override;

 private:
  static Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value Subscribe(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  int nsfd_ = -1;
  bool closed_ = false;
};

}  // namespace log
}  // namespace nfct
