#include "reader.h"

#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "netns.h"
#include "nl.h"
#include "source.h"

namespace nfct {

namespace {
constexpr size_t kRecvSize = 256 * 1024;
// What a stream of small datagrams reads in one recvmmsg() at most (ReaderOptions::datagram).
constexpr size_t kStreamRead = 512 * 1024;
// The nice value of a live stream's reader thread (see Run()).
constexpr int kStreamNice = -10;
// Once a stream that held at least this much has drained, free heap pages go back to the
// system (the decoded burst was spread over many allocations).
constexpr uint64_t kTrimAfter = 16u << 20;
}  // namespace

Reader::Reader(Napi::Env env, Napi::Function on_batch, std::unique_ptr<Decoder> decoder, ReaderOptions options,
               uint32_t record_words)
    : env_(env), decoder_(std::move(decoder)), opt_(std::move(options)), record_words_(record_words) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  tsfn_ = Tsfn::New(env, on_batch, "nfct-reader", 0, 1, this);
  napi_add_env_cleanup_hook(env, &Reader::Cleanup, this);
  thread_ = std::thread([this]() { Run(); });
  // The constructor returns once the socket is open, bound and subscribed (the thread entered
  // the namespace and did it, or failed): whatever happens after events() or subscribe()
  // returns is seen. This takes a few syscalls and at most one netlink exchange.
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this]() { return set_up_; });
}

Reader::~Reader() { Stop(); }

void Reader::Cleanup(void* arg) {
  auto* self = static_cast<Reader*>(arg);
  self->in_cleanup_ = true;  // the hook is being run: it must not remove itself
  self->Stop();
}

void Reader::Release(uint64_t records, uint64_t bytes) {
  bool trim = false;
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake = credit_waiters_ > 0;
    queue_.records -= records < queue_.records ? records : queue_.records;
    queue_.bytes -= bytes < queue_.bytes ? bytes : queue_.bytes;
    if (queue_.bytes == 0 && trim_after_ >= kTrimAfter) {
      trim_after_ = 0;
      trim = true;
    }
  }
  // Only a reader waiting for credit or room needs waking: a wake-up nobody waits for costs a
  // futex call, and often a switch to the woken thread, for every batch a dump hands over.
  if (wake) cv_.notify_all();
  // The consumer has caught up after a burst: give the freed pages back.
  if (trim) malloc_trim(0);
}

Failure Reader::SetupFailure() {
  std::lock_guard<std::mutex> lock(mu_);
  return setup_failure_;
}

QueueStats Reader::Stats() {
  QueueStats q;
  {
    std::lock_guard<std::mutex> lock(mu_);
    q = queue_;
  }
  for (size_t k = 0; k < kCountKinds; k++) q.counted[k] = counted_[k].load(std::memory_order_relaxed);
  q.received = received_.load(std::memory_order_relaxed);
  q.malformed = malformed_.load(std::memory_order_relaxed);
  q.socket_rcvbuf = socket_rcvbuf_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(pool_->mu);
  q.pooled_bytes = pool_->pooled;
  return q;
}

void Reader::Count(Batch* batch) {
  for (uint32_t i = 0; i < batch->count; i++) {
    const int k = decoder_->Kind(&batch->words[static_cast<size_t>(i) * record_words_]);
    if (k >= 0 && static_cast<size_t>(k) < kCountKinds) counted_[k].fetch_add(1, std::memory_order_relaxed);
  }
  batch->words.clear();
  batch->strings.clear();
  batch->bytes.clear();
  batch->count = 0;
}

void Reader::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    // Under the lock: a thread between its wait's check and its sleep cannot miss it.
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  uint64_t one = 1;
  if (wake_fd_ >= 0 && write(wake_fd_, &one, sizeof(one)) < 0) {
    // The eventfd cannot be full after a single write; nothing to do.
  }
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
  wake_fd_ = -1;
  if (!in_cleanup_) napi_remove_env_cleanup_hook(env_, &Reader::Cleanup, this);
}

void Reader::EndEarly() {
  if (stopped_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    end_early_.store(true);
  }
  cv_.notify_all();
  uint64_t one = 1;
  if (wake_fd_ >= 0 && write(wake_fd_, &one, sizeof(one)) < 0) {
    // The eventfd cannot be full after a single write; nothing to do.
  }
}

std::unique_ptr<Batch> BatchPool::Take() {
  std::lock_guard<std::mutex> lock(mu);
  if (free.empty()) return nullptr;
  std::unique_ptr<Batch> b = std::move(free.back());
  free.pop_back();
  pooled -= b->Capacity();
  return b;
}

void BatchPool::Give(std::unique_ptr<Batch> b) {
  const size_t cap = b->Capacity();
  if (cap > kMaxPooledBatch) return;  // freed here
  std::lock_guard<std::mutex> lock(mu);
  if (pooled + cap > kMaxPooled) return;
  pooled += cap;
  free.push_back(std::move(b));
}

std::unique_ptr<Batch> Reader::NewBatch() {
  std::unique_ptr<Batch> b = pool_->Take();
  if (b) {
    b->words.clear();
    b->strings.clear();
    b->bytes.clear();
    b->count = b->received = b->malformed = b->overruns = 0;
    b->rcvbuf = 0;
    for (uint32_t& t : b->tally) t = 0;
    b->final = false;
    b->cost = 0;
    b->failure = Failure();
    return b;
  }
  b = std::make_unique<Batch>();
  b->pool = pool_;
  // A dump fills whole batches: room for one up front. A stream hands over a batch whenever
  // the socket runs dry, mostly a few records: its buffers grow as needed, since big buffers
  // made on this thread and freed on the JS thread fragment the allocator's arenas.
  if (opt_.dump) {
    b->words.reserve(static_cast<size_t>(opt_.max_batch) * record_words_);
    b->strings.reserve(static_cast<size_t>(opt_.max_batch) * 64);
  }
  return b;
}

bool Reader::Full() const {
  return (opt_.max_queue_records > 0 && queue_.records >= opt_.max_queue_records) ||
         (opt_.max_queue_bytes > 0 && queue_.bytes >= opt_.max_queue_bytes);
}

bool Reader::Fits(uint64_t extra) {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.bytes + extra <= opt_.max_queue_bytes;
}

bool Reader::WaitRoom(uint64_t extra) {
  std::unique_lock<std::mutex> lock(mu_);
  credit_waiters_++;
  cv_.wait(lock, [&]() { return queue_.bytes + extra <= opt_.max_queue_bytes || queue_.bytes == 0 || Ending(); });
  credit_waiters_--;
  return !Ending();
}

bool Reader::WaitCredit() {
  std::unique_lock<std::mutex> lock(mu_);
  credit_waiters_++;
  cv_.wait(lock, [this]() { return !Full() || Ending(); });
  credit_waiters_--;
  return !Ending();
}

bool Reader::Post(std::unique_ptr<Batch>& batch) {
  batch->cost = batch->Size();
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.records += batch->count;
    queue_.bytes += batch->cost;
    if (queue_.bytes > trim_after_) trim_after_ = queue_.bytes;
    if (queue_.records > queue_.peak_records) queue_.peak_records = queue_.records;
    if (queue_.bytes > queue_.peak_bytes) queue_.peak_bytes = queue_.bytes;
  }
  Batch* raw = batch.release();
  batch = NewBatch();
  if (tsfn_.NonBlockingCall(raw) != napi_ok) {
    delete raw;  // the environment is going away
    return false;
  }
  return true;
}

bool Reader::PostAndWait(std::unique_ptr<Batch>& batch) { return Post(batch) && WaitCredit(); }

bool Reader::Setup(Failure* f) {
  // The reader owns its copy of the namespace fd; it is needed only to get in.
  bool entered = EnterNamespace(opt_.nsfd, f);
  if (opt_.nsfd >= 0) close(opt_.nsfd);
  opt_.nsfd = -1;
  if (!entered) return false;
  fd_ = NlOpen(opt_.protocol, f);
  if (fd_ < 0) return false;
  const int rcvbuf = opt_.rcvbuf > 0 ? NlSetRcvBuf(fd_, opt_.rcvbuf) : NlGetRcvBuf(fd_);
  socket_rcvbuf_.store(rcvbuf > 0 ? rcvbuf : 0, std::memory_order_relaxed);
  if (!decoder_->Setup(fd_, f)) return false;
  for (uint32_t g : opt_.groups) {
    if (setsockopt(fd_, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)) != 0) {
      f->set(errno, "setsockopt", "NETLINK_ADD_MEMBERSHIP");
      return false;
    }
  }
  if (!opt_.requests.empty() && !NlSend(fd_, opt_.requests[0].data(), opt_.requests[0].size(), f)) {
    return false;
  }
  return true;
}

Reader::Msg Reader::Control(const nlmsghdr* m, Exchange* x, Failure* fail) {
  if (m->nlmsg_type == NLMSG_DONE) {
    if (x->current + 1 < opt_.requests.size()) {
      x->current++;
      x->got_data = x->fallback_used = false;
      if (!NlSend(fd_, opt_.requests[x->current].data(), opt_.requests[x->current].size(), fail)) return Msg::kEnd;
    } else if (opt_.dump) {
      x->done = true;
    }
    return Msg::kControl;
  }
  if (m->nlmsg_type == NLMSG_ERROR) {
    std::string text;
    int err = NlErrorOf(m, &text);
    if (err == 0) return Msg::kControl;
    const std::vector<uint8_t>* fallback = x->current < opt_.fallbacks.size() ? &opt_.fallbacks[x->current] : nullptr;
    if (!x->got_data && !x->fallback_used && fallback != nullptr && !fallback->empty() &&
        (err == EOPNOTSUPP || err == EINVAL)) {
      // The kernel refused the filter: ask again without it, match in userspace.
      x->fallback_used = true;
      return NlSend(fd_, fallback->data(), fallback->size(), fail) ? Msg::kControl : Msg::kEnd;
    }
    fail->set(err, "netlink", text);
    return Msg::kEnd;
  }
  if (m->nlmsg_type < NLMSG_MIN_TYPE) return Msg::kControl;
  x->got_data = true;
  return Msg::kData;
}

bool Reader::Handle(const nlmsghdr* m, std::unique_ptr<Batch>& batch) {
  // The byte bound is kept exactly: a batch goes before the next record could take the
  // queue past it, and the reader waits for room for that record (the kernel holds or
  // drops meanwhile). A record larger than any before waits, decoded, until it fits.
  const bool bounded = opt_.max_queue_bytes > 0 && !opt_.count_only && !opt_.dump;
  if (bounded && !Fits(batch->Size() + record_cost_)) {
    if (batch->count > 0 && !Post(batch)) return false;
    if (!WaitRoom(batch->Size() + record_cost_)) return false;
  }
  const size_t before = batch->Size();
  batch->received++;
  decoder_->OnMessage(m, batch.get());
  if (bounded) {
    const uint64_t cost = batch->Size() - before;
    if (cost > record_cost_) record_cost_ = cost;
    if (!Fits(batch->Size()) && !WaitRoom(batch->Size())) return false;
  }
  if (opt_.count_only) Count(batch.get());
  // A full batch goes now, even mid-buffer: batches never exceed max_batch.
  return batch->count < opt_.max_batch || PostAndWait(batch);
}

bool Reader::Consume(const uint8_t* data, int n, Exchange* x, std::unique_ptr<Batch>& batch, Failure* fail) {
  int left = n;
  for (const nlmsghdr* m = reinterpret_cast<const nlmsghdr*>(data); mnl_nlmsg_ok(m, left);
       m = mnl_nlmsg_next(m, &left)) {
    const Msg kind = Control(m, x, fail);
    if (kind == Msg::kEnd) return false;
    if (kind == Msg::kData && !Handle(m, batch)) return false;
  }
  return true;
}

void Reader::Run() {
  if (Source* src = decoder_->AsSource()) return RunSource(src);
  Exchange x;
  Failure fail;
  // Named for `top -H` and ps: which threads are nfct's readers.
  pthread_setname_np(pthread_self(), opt_.dump ? "nfct-dump" : "nfct-stream");
  // A live stream's thread runs before other threads of its weight (the JS thread formatting
  // what it read, other work on the machine): while it waits for a core, the kernel queues
  // ~1,280 bytes a conntrack event in the socket and drops past its buffer. It needs little
  // CPU, and its queue is bounded (max_queue_bytes), so it cannot take more than it drains.
  // Lowering a nice value needs CAP_SYS_NICE; without it the thread keeps the process's.
  if (!opt_.dump) setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kStreamNice);

  if (!Setup(&fail)) x.done = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    set_up_ = true;
    setup_failure_ = fail;
  }
  cv_.notify_all();

  std::unique_ptr<Batch> batch = opt_.dump ? RunDump(&x, &fail) : RunStream(&x, &fail);
  if (!stop_.load()) {
    batch->final = true;
    if (!fail.failed()) decoder_->Finish(batch.get(), &fail);
    batch->failure = fail;
    Post(batch);
  } else {
    // Stopped: what was decoded and not handed over counts as queued, never consumed (what a
    // closed stream reports as dropped).
    std::lock_guard<std::mutex> lock(mu_);
    queue_.records += batch->count;
  }
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  tsfn_.Release();
}

std::unique_ptr<Batch> Reader::RunStream(Exchange* x, Failure* fail) {
  auto batch = NewBatch();
  // A live stream whose datagrams are small (one event each) drains the socket with
  // recvmmsg(), many datagrams a call, into slots of the largest datagram it can get; a
  // stream of large datagrams (NFLOG batches) reads one at a time.
  const bool many = opt_.datagram > 0 && opt_.datagram < kRecvSize;
  const size_t slot = many ? opt_.datagram : kRecvSize;
  const unsigned vlen = many ? static_cast<unsigned>(kStreamRead / slot) : 1u;
  // NLMSG_ALIGNTO spare bytes past what recv() may fill: attribute walks round lengths up to
  // 4, so a message whose length is not a multiple of 4 ending the datagram stays in bounds.
  std::vector<uint8_t> buf(slot * vlen + NLMSG_ALIGNTO, 0);
  std::vector<iovec> iov(vlen);
  std::vector<mmsghdr> msgs(vlen);
  for (unsigned i = 0; i < vlen; i++) {
    iov[i].iov_base = buf.data() + i * slot;
    iov[i].iov_len = slot;
    memset(&msgs[i], 0, sizeof(msgs[i]));
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  while (!x->done && !Ending()) {
    if (!WaitCredit()) break;
    if (!WaitReadable(fail)) break;

    // Drain what is queued, a batch at a time.
    for (;;) {
      const int got = many ? recvmmsg(fd_, msgs.data(), vlen, MSG_DONTWAIT, nullptr)
                           : static_cast<int>(recv(fd_, buf.data(), kRecvSize, MSG_DONTWAIT));
      if (got < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == ENOBUFS) {
          batch->overruns++;
          int cur = NlGetRcvBuf(fd_) / 2;  // the kernel reports twice what was asked
          if (opt_.rcvbuf_max > 0 && cur < opt_.rcvbuf_max) {
            int next = cur * 2 > opt_.rcvbuf_max ? opt_.rcvbuf_max : cur * 2;
            const int now = NlSetRcvBuf(fd_, next);
            if (now > 0) socket_rcvbuf_.store(now, std::memory_order_relaxed);
            batch->rcvbuf = now / 2;
          }
          // Report the loss in order, before anything read after it.
          if (!PostAndWait(batch)) {
            x->done = true;
            break;
          }
          continue;
        }
        fail->set(errno, "recv", "netlink stream");
        x->done = true;
        break;
      }
      if (!many) {
        if (!Consume(buf.data(), got, x, batch, fail)) x->done = true;
      } else {
        for (int i = 0; i < got && !x->done; i++) {
          // A datagram larger than its slot was cut short: what is left of it cannot be read.
          if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
            batch->malformed++;
            continue;
          }
          if (!Consume(static_cast<const uint8_t*>(iov[i].iov_base), static_cast<int>(msgs[i].msg_len), x, batch,
                       fail)) {
            x->done = true;
          }
        }
      }
      if (x->done || Ending()) break;
      // Fewer datagrams than slots: the socket is empty for now.
      if (many && static_cast<unsigned>(got) < vlen) break;
    }
    // A counting stream keeps its counters here: Stats() reads them.
    if (opt_.count_only) {
      received_.fetch_add(batch->received, std::memory_order_relaxed);
      malformed_.fetch_add(batch->malformed, std::memory_order_relaxed);
      batch->received = batch->malformed = 0;
    }
    // A stream hands over what it has whenever the socket runs dry.
    if (!x->done && (batch->count > 0 || batch->received > 0 || batch->malformed > 0)) {
      if (!Post(batch)) break;
    }
  }
  return batch;
}

bool Reader::WaitReadable(Failure* fail) {
  for (;;) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      fail->set(errno, "poll");
      return false;
    }
    if (Ending()) return false;
    if (fds[0].revents & (POLLIN | POLLERR)) return true;
  }
}

void Reader::CallJs(Napi::Env env, Napi::Function fn, Reader* /*self: may be gone*/, Batch* batch) {
  std::unique_ptr<Batch> owned(batch);
  std::shared_ptr<BatchPool> pool = owned->pool.lock();
  struct Recycle {
    std::shared_ptr<BatchPool>& pool;
    std::unique_ptr<Batch>& batch;
    ~Recycle() {
      if (pool) pool->Give(std::move(batch));
    }
  } recycle{pool, owned};
  if (env == nullptr || fn.IsEmpty()) return;
  // Plain N-API calls whose failures are checked: while a worker thread is being terminated
  // JS cannot run, every call fails, and node-addon-api's own error path would abort the
  // process. The batch is then dropped quietly, as the stream is going away anyway.
  napi_env e = env;
  auto buffer = [&](const void* data, size_t len, napi_value* out) {
    void* dest = nullptr;
    if (napi_create_arraybuffer(e, len, &dest, out) != napi_ok) return false;
    if (len > 0) memcpy(dest, data, len);
    return true;
  };
  napi_value args[5];
  napi_value undefined;
  if (napi_get_undefined(e, &undefined) != napi_ok) return;
  // counters: the BatchCounter layout (layout/layouts.h).
  napi_value counters_buf;
  double* c = nullptr;
  if (napi_create_arraybuffer(e, BATCH_COUNTERS * sizeof(double), reinterpret_cast<void**>(&c), &counters_buf) !=
          napi_ok ||
      napi_create_typedarray(e, napi_float64_array, BATCH_COUNTERS, counters_buf, 0, &args[3]) != napi_ok) {
    return;
  }
  c[BATCH_COUNT] = owned->count;
  c[BATCH_RECEIVED] = owned->received;
  c[BATCH_MALFORMED] = owned->malformed;
  c[BATCH_OVERRUNS] = owned->overruns;
  c[BATCH_RCVBUF] = owned->rcvbuf;
  c[BATCH_FINAL] = owned->final ? 1 : 0;
  c[BATCH_COST] = static_cast<double>(owned->cost);
  for (uint32_t i = 0; i < BATCH_TALLY_WORDS; i++) c[BATCH_TALLY + i] = owned->tally[i];
  bool ok = buffer(owned->words.data(), owned->words.size() * sizeof(uint32_t), &args[0]) &&
            napi_create_string_latin1(e, owned->strings.data(), owned->strings.size(), &args[1]) == napi_ok;
  if (!ok) return;
  args[2] = undefined;
  if (!owned->bytes.empty() && !buffer(owned->bytes.data(), owned->bytes.size(), &args[2])) return;
  args[4] = owned->failure.failed() ? static_cast<napi_value>(MakeError(env, owned->failure)) : undefined;
  napi_value result;
  napi_call_function(e, undefined, fn, 5, args, &result);
}

}  // namespace nfct
