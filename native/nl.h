// Netlink plumbing: sockets, requests, request/response exchanges.
#pragma once

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "errors.h"

namespace nfct {

int NlOpen(int protocol, Failure* f);

// Grows the receive buffer: SO_RCVBUFFORCE (root, past rmem_max), else SO_RCVBUF.
// Returns the size the kernel reports afterwards (it doubles the request for bookkeeping).
int NlSetRcvBuf(int fd, int bytes);
int NlGetRcvBuf(int fd);

// Writes a netfilter request header (nlmsghdr + nfgenmsg) at buf, which must be zeroed and
// large enough for the whole message; returns it for attributes to be appended.
nlmsghdr* NlPutHeader(void* buf, uint8_t subsys, uint8_t type, uint16_t flags, uint8_t family, uint32_t seq);

// A netfilter netlink request under construction.
class NlRequest {
 public:
  // subsys: NFNL_SUBSYS_*; type: the subsystem's message type; family: nfgen_family.
  NlRequest(uint8_t subsys, uint8_t type, uint16_t flags, uint8_t family, uint16_t res_id = 0);
  nlmsghdr* header() { return nlh_; }
  void set_version(uint8_t v);
  size_t size() const { return nlh_->nlmsg_len; }
  const void* data() const { return buf_.data(); }

 private:
  std::vector<uint8_t> buf_;
  nlmsghdr* nlh_;
};

bool NlSend(int fd, const void* data, size_t len, Failure* f);

// Sends one request (a dump when its flags say so) and reads until the kernel says it is
// done: NLMSG_DONE for a dump, the ACK for anything else. on_msg sees every data message.
// Stops at the first NLMSG_ERROR carrying an error and reports it in *f with the kernel's
// extended-ack text when there is one.
bool NlTransact(int fd, NlRequest& req, const std::function<void(const nlmsghdr*)>& on_msg, Failure* f);

// Calls fn(attr) for each top-level attribute after `offset` bytes of payload header.
template <typename F>
void NlForEachAttr(const nlmsghdr* nlh, size_t offset, F&& fn) {
  const char* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
  const nlattr* a = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, offset));
  while (mnl_attr_ok(a, static_cast<int>(tail - reinterpret_cast<const char*>(a)))) {
    fn(a);
    a = mnl_attr_next(a);
  }
}

// Sends a run of requests (each with its own sequence number, no ACK asked) in chunks of at
// most `chunk` bytes, and after each chunk collects the errors the kernel queued for it:
// on_error(seq, errno). The kernel handles a chunk inside sendmsg(), so its errors are all
// queued when the call returns.
bool NlSendMany(int fd, const std::vector<uint8_t>& msgs, size_t chunk,
                const std::function<void(uint32_t seq, int err)>& on_error, Failure* f);

// Reserves `count` consecutive sequence numbers; returns the first.
uint32_t NlNextSeq(uint32_t count);

// Calls fn(attr) for each attribute nested in `nest`.
template <typename F>
void NlForEachNested(const nlattr* nest, F&& fn) {
  const char* p = static_cast<const char*>(mnl_attr_get_payload(nest));
  int left = static_cast<int>(mnl_attr_get_payload_len(nest));
  const nlattr* a = reinterpret_cast<const nlattr*>(p);
  while (mnl_attr_ok(a, left)) {
    fn(a);
    left -= static_cast<int>(MNL_ALIGN(a->nla_len));
    a = mnl_attr_next(a);
  }
}

// Reads the errno (positive, 0 for an ACK) and any extended-ack message of an NLMSG_ERROR.
int NlErrorOf(const nlmsghdr* nlh, std::string* msg);

}  // namespace nfct
