#include "nl.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

namespace nfct {

namespace {
std::atomic<uint32_t> g_seq{1};
}

int NlOpen(int protocol, Failure* f) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) {
    f->set(errno, "socket", "AF_NETLINK");
    return -1;
  }
  sockaddr_nl addr;
  memset(&addr, 0, sizeof(addr));
  addr.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    f->set(errno, "bind", "AF_NETLINK");
    close(fd);
    return -1;
  }
  int one = 1;
  // Best effort: error text from the kernel, and short ACKs.
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  return fd;
}

int NlGetRcvBuf(int fd) {
  int size = 0;
  socklen_t len = sizeof(size);
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, &len) != 0) return -1;
  return size;
}

int NlSetRcvBuf(int fd, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
  }
  return NlGetRcvBuf(fd);
}

nlmsghdr* NlPutHeader(void* buf, uint8_t subsys, uint8_t type, uint16_t flags, uint8_t family, uint32_t seq) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = static_cast<uint16_t>((subsys << 8) | type);
  nlh->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = family;
  nfg->version = NFNETLINK_V0;
  return nlh;
}

NlRequest::NlRequest(uint8_t subsys, uint8_t type, uint16_t flags, uint8_t family, uint16_t res_id)
    : buf_(MNL_SOCKET_BUFFER_SIZE) {
  nlh_ = NlPutHeader(buf_.data(), subsys, type, flags, family, g_seq.fetch_add(1));
  static_cast<nfgenmsg*>(mnl_nlmsg_get_payload(nlh_))->res_id = htons(res_id);
}

void NlRequest::set_version(uint8_t v) { static_cast<nfgenmsg*>(mnl_nlmsg_get_payload(nlh_))->version = v; }

bool NlSend(int fd, const void* data, size_t len, Failure* f) {
  sockaddr_nl kernel;
  memset(&kernel, 0, sizeof(kernel));
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    ssize_t n = sendto(fd, data, len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
    if (n >= 0) return true;
    if (errno == EINTR) continue;
    f->set(errno, "sendto", "netlink request");
    return false;
  }
}

int NlErrorOf(const nlmsghdr* nlh, std::string* msg) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return EBADMSG;
  const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  int err = -e->error;
  if (msg != nullptr && err != 0 && (nlh->nlmsg_flags & NLM_F_ACK_TLVS)) {
    // The extended ACK's attributes follow the (possibly capped) original message.
    size_t off = sizeof(nlmsgerr);
    if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - sizeof(nlmsghdr);
    const char* base = static_cast<const char*>(mnl_nlmsg_get_payload(nlh)) + off;
    int left = static_cast<int>(nlh->nlmsg_len) - static_cast<int>(NLMSG_HDRLEN + off);
    const nlattr* attr = reinterpret_cast<const nlattr*>(base);
    while (left > 0 && mnl_attr_ok(attr, left)) {
      if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG) {
        *msg = mnl_attr_get_str(attr);
        break;
      }
      left -= MNL_ALIGN(attr->nla_len);
      attr = mnl_attr_next(attr);
    }
  }
  return err;
}

bool NlSendMany(int fd, const std::vector<uint8_t>& msgs, size_t chunk,
                const std::function<void(uint32_t seq, int err)>& on_error, Failure* f) {
  std::vector<uint8_t> buf(64 * 1024);
  size_t off = 0;
  while (off < msgs.size()) {
    // Cut at a message boundary.
    size_t end = off;
    while (end < msgs.size()) {
      const auto* m = reinterpret_cast<const nlmsghdr*>(msgs.data() + end);
      const size_t len = NLMSG_ALIGN(m->nlmsg_len);
      if (end > off && end + len - off > chunk) break;
      end += len;
    }
    const uint32_t first_seq = reinterpret_cast<const nlmsghdr*>(msgs.data() + off)->nlmsg_seq;
    const size_t chunk_start = off;
    if (!NlSend(fd, msgs.data() + off, end - off, f)) return false;
    off = end;
    for (;;) {
      ssize_t n = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        f->set(errno, "recv", errno == ENOBUFS ? "replies to a batch were lost" : "batch replies");
        return false;
      }
      int left = static_cast<int>(n);
      for (const nlmsghdr* m = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(m, left);
           m = mnl_nlmsg_next(m, &left)) {
        if (m->nlmsg_type != NLMSG_ERROR) continue;
        int err = NlErrorOf(m, nullptr);
        if (err == 0) continue;
        if (err == EPERM && m->nlmsg_seq == first_seq) {
          // nfnetlink refuses a whole send without CAP_NET_ADMIN, answering its first message
          // only: every message of the chunk failed.
          for (size_t at = chunk_start; at < end;
               at += NLMSG_ALIGN(reinterpret_cast<const nlmsghdr*>(msgs.data() + at)->nlmsg_len)) {
            on_error(reinterpret_cast<const nlmsghdr*>(msgs.data() + at)->nlmsg_seq, EPERM);
          }
          continue;
        }
        on_error(m->nlmsg_seq, err);
      }
    }
  }
  return true;
}

uint32_t NlNextSeq(uint32_t count) { return g_seq.fetch_add(count); }

bool NlTransact(int fd, NlRequest& req, const std::function<void(const nlmsghdr*)>& on_msg, Failure* f) {
  nlmsghdr* nlh = req.header();
  const bool dump = (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  if (!dump) nlh->nlmsg_flags |= NLM_F_ACK;
  const uint32_t seq = nlh->nlmsg_seq;
  if (!NlSend(fd, req.data(), req.size(), f)) return false;

  std::vector<uint8_t> buf(256 * 1024);
  for (;;) {
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      f->set(errno, "recv", "netlink reply");
      return false;
    }
    int left = static_cast<int>(n);
    const nlmsghdr* m = reinterpret_cast<const nlmsghdr*>(buf.data());
    for (; mnl_nlmsg_ok(m, left); m = mnl_nlmsg_next(m, &left)) {
      if (m->nlmsg_seq != seq) continue;  // a late reply to an earlier, abandoned request
      if (m->nlmsg_type == NLMSG_DONE) return true;
      if (m->nlmsg_type == NLMSG_ERROR) {
        std::string text;
        int err = NlErrorOf(m, &text);
        if (err == 0) {
          if (!dump) return true;
          continue;
        }
        f->set(err, "netlink", text);
        return false;
      }
      if (m->nlmsg_type < NLMSG_MIN_TYPE) continue;
      on_msg(m);
    }
  }
}

}  // namespace nfct
