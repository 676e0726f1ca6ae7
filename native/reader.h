// The batching reader: one dedicated thread per netlink job (a dump, an event or packet
// stream) that receives, decodes into plain records, and hands whole batches to JS, one
// crossing per batch.
//
// Flow control: every batch handed to JS is counted as queued (its records and its bytes) until
// JS releases it (release(records, bytes)) once consumed. The thread stops reading only when a
// bound is reached: a dump is bounded in records (a few batches: a slow consumer slows the
// dump, as the kernel produces the next part only when asked); a live stream is bounded in
// bytes (maxQueueBytes, hundreds of MiB), so that it drains the kernel as fast as the kernel
// produces and holds a burst in compact decoded form (a few hundred bytes an event, against
// ~1,280 in the socket buffer) while the consumer catches up. Past the bound the kernel drops
// and reports it (ENOBUFS), which is counted and reported in order.
#pragma once

#include <napi.h>
#include <linux/netlink.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "errors.h"
#include "layout/layouts.h"

namespace nfct {

struct Batch;
class Source;

// Spent batches come back here from the JS thread so the reader reuses their memory instead
// of allocating (and page-faulting) a fresh buffer for every batch.
// The pool is capped in bytes, so that after a burst a stream's memory returns to a small
// steady state: a batch that grew past kMaxPooledBatch, or one that would take the pool past
// kMaxPooled, is freed instead.
struct BatchPool {
  static constexpr size_t kMaxPooled = 4u << 20;
  static constexpr size_t kMaxPooledBatch = 1u << 20;
  std::mutex mu;
  std::vector<std::unique_ptr<Batch>> free;
  size_t pooled = 0;  // Capacity() of the batches in `free`
  std::unique_ptr<Batch> Take();
  void Give(std::unique_ptr<Batch> b);
};

struct Batch {
  std::weak_ptr<BatchPool> pool;  // where the batch goes once JS has it (if still there)

  std::vector<uint32_t> words;                       // count records of the decoder's record size
  std::string strings;                               // NUL-terminated strings, in record order
  std::vector<uint8_t> bytes;                        // binary fields records point into (packet payloads)
  uint32_t count = 0;                                // records
  uint32_t received = 0;                             // data messages read from the kernel, matched or not
  uint32_t malformed = 0;                            // messages that could not be decoded (skipped)
  uint32_t overruns = 0;                             // ENOBUFS seen before the records of this batch
  int rcvbuf = 0;                                    // receive buffer size after the last growth, 0 if unchanged
  uint32_t tally[BATCH_TALLY_WORDS] = {0, 0, 0, 0};  // the decoder's own totals, on the final batch
  bool final = false;                                // nothing follows
  uint64_t cost = 0;                                 // bytes counted as queued while JS holds the batch
  Failure failure;                                   // set on the final batch when the job failed

  // Bytes the batch's buffers hold (what it costs while queued).
  size_t Size() const { return words.size() * sizeof(uint32_t) + strings.size() + bytes.size() + sizeof(Batch); }
  // Bytes its buffers have reserved (what it costs while pooled).
  size_t Capacity() const {
    return words.capacity() * sizeof(uint32_t) + strings.capacity() + bytes.capacity() + sizeof(Batch);
  }

  // Appends binary data to `bytes` and writes its offset and length to where[0], where[1].
  void AppendBytes(uint32_t* where, const void* data, size_t len) {
    where[0] = static_cast<uint32_t>(bytes.size());
    where[1] = static_cast<uint32_t>(len);
    const auto* p = static_cast<const uint8_t*>(data);
    bytes.insert(bytes.end(), p, p + len);
  }
};

// What a job does with each message; runs on the reader thread.
class Decoder {
 public:
  virtual ~Decoder() = default;
  // Decodes one data message into the batch (or skips it when it does not match).
  virtual void OnMessage(const nlmsghdr* nlh, Batch* batch) = 0;
  // Runs once on the reader thread, inside the namespace, once the socket is open and before
  // it joins its groups or sends anything: checks and socket options (a BPF filter).
  virtual bool Setup(int /*fd*/, Failure* /*failure*/) { return true; }
  // Runs once, on the reader thread, before the final batch goes (not when stopped early).
  virtual void Finish(Batch* /*final_batch*/, Failure* /*failure*/) {}
  // For a counting reader: which of kCountKinds counters a decoded record adds to (-1: none).
  virtual int Kind(const uint32_t* /*record*/) const { return -1; }
  // A decoder that reads its own input (source.h) instead of a netlink socket.
  virtual Source* AsSource() { return nullptr; }
};

// Counters a counting reader keeps (event types: new, update, destroy; or expect-new, -destroy).
constexpr size_t kCountKinds = STAT_COUNT_KINDS;

struct ReaderOptions {
  int nsfd = -1;                 // namespace to open the socket in (the reader closes it);
                                 // -1: the process's own
  int protocol = 0;              // NETLINK_*
  std::vector<uint32_t> groups;  // multicast groups to join (streams)
  // Requests sent one after the other: the next when the kernel has finished the previous
  // (NLMSG_DONE). A request the kernel refuses (EINVAL, EOPNOTSUPP) before answering anything
  // is sent again as its fallback (empty: none).
  std::vector<std::vector<uint8_t>> requests;
  std::vector<std::vector<uint8_t>> fallbacks;
  bool dump = false;  // ends at the last request's NLMSG_DONE
  // The largest datagram the kernel sends this stream, when it sends one record per datagram
  // (conntrack and trace events): the socket is then drained with recvmmsg(), many datagrams a
  // call. 0: datagrams are read one at a time (dumps; NFLOG batches many packets into one).
  size_t datagram = 0;
  int rcvbuf = 0;                     // initial receive buffer (0: kernel default)
  int rcvbuf_max = 0;                 // grow up to this on ENOBUFS (0: never grow)
  uint32_t max_batch = 1024;          // records per batch
  uint64_t max_queue_records = 4096;  // records handed to JS and not yet released (0: no bound)
  uint64_t max_queue_bytes = 0;       // their bytes (0: no bound)
  // A live stream that only counts: each decoded record adds to its Kind() counter and is
  // dropped on the reader thread; batches go to JS only for overruns and at the end, and the
  // counters are read with Stats(). Nothing per record crosses into JS.
  bool count_only = false;
};

// What a reader holds for JS now and at most so far (read at any time).
struct QueueStats {
  uint64_t records = 0;
  uint64_t bytes = 0;
  uint64_t peak_records = 0;
  uint64_t peak_bytes = 0;
  uint64_t pooled_bytes = 0;  // spent batches kept for reuse
  // Counting readers only (zero otherwise): records counted by Kind(), and the messages
  // received and malformed that no batch carried to JS.
  uint64_t counted[kCountKinds] = {0, 0, 0, 0};
  uint64_t received = 0;
  uint64_t malformed = 0;
  // The socket's receive buffer as getsockopt(SO_RCVBUF) reports it (the kernel's doubled
  // figure), after setup and after each growth; 0 before setup or when it could not be read.
  int64_t socket_rcvbuf = 0;
};

class Reader {
 public:
  // on_batch(records, strings, bytes, counters, error): see CallJs.
  Reader(Napi::Env env, Napi::Function on_batch, std::unique_ptr<Decoder> decoder, ReaderOptions options,
         uint32_t record_words);
  ~Reader();

  // A batch of `records` records and `bytes` cost was consumed: no longer queued.
  void Release(uint64_t records, uint64_t bytes);
  QueueStats Stats();
  void Stop();  // idempotent: ends the thread and releases the socket
  // Stops reading, without dropping anything: the decoder finishes (a bulk delete sends the
  // deletes it has built) and the final batch, with what was read so far, goes to JS.
  void EndEarly();
  // Why the socket could not be set up (err 0 when it was): known once the constructor returned.
  Failure SetupFailure();

 private:
  static void CallJs(Napi::Env env, Napi::Function fn, Reader* self, Batch* batch);
  static void Cleanup(void* arg);

  // What the reader has asked the kernel and what it has answered so far (its thread).
  struct Exchange {
    size_t current = 0;  // the request being answered
    bool got_data = false;
    bool fallback_used = false;
    bool done = false;
  };
  enum class Msg { kData, kControl, kEnd };
  // One datagram of a dump, received and waiting to be decoded (reader_dump.cc).
  struct Chunk {
    std::unique_ptr<uint8_t[]> data;  // kRecvSize bytes and NLMSG_ALIGNTO spare ones
    int len = 0;                      // bytes received
    int err = 0;                      // errno of the recv() that failed (the last chunk)
  };

  void Run();
  void RunSource(Source* src);  // source.cc
  bool Setup(Failure* f);
  // Reads a live stream until it ends; returns the batch that becomes the final one.
  std::unique_ptr<Batch> RunStream(Exchange* x, Failure* fail);
  // Decodes a dump on this thread while a second one receives it (reader_dump.cc); the same.
  std::unique_ptr<Batch> RunDump(Exchange* x, Failure* fail);
  // The receiving thread of a dump: recv() into free chunks until told to end (over_fd).
  void ReceiveDump(int over_fd);
  // Waits until the socket has something to read; false when ending or poll failed.
  bool WaitReadable(Failure* fail);
  // What one message means for the exchange: data to decode, a control message it handled
  // (the next request, a fallback), or the end (fail set when it failed).
  Msg Control(const nlmsghdr* m, Exchange* x, Failure* fail);
  // Decodes one data message into the batch, handing batches over as they fill; false when ending.
  bool Handle(const nlmsghdr* m, std::unique_ptr<Batch>& batch);
  // Control() and Handle() on each message of one datagram; false when the job is over.
  bool Consume(const uint8_t* data, int n, Exchange* x, std::unique_ptr<Batch>& batch, Failure* fail);
  bool Full() const;  // a bound is reached (mu_ held)
  bool WaitCredit();
  // Byte bound: true when `extra` more bytes queued would not pass max_queue_bytes.
  bool Fits(uint64_t extra);
  // Waits until `extra` more bytes fit beside what is queued (or nothing is queued); false
  // when the reader is ending.
  bool WaitRoom(uint64_t extra);
  // Hands the batch to JS and starts a new one in its place.
  bool Post(std::unique_ptr<Batch>& batch);
  bool PostAndWait(std::unique_ptr<Batch>& batch);
  std::unique_ptr<Batch> NewBatch();
  // count_only: counts the batch's records by Kind() and empties it.
  void Count(Batch* batch);

  using Tsfn = Napi::TypedThreadSafeFunction<Reader, Batch, &Reader::CallJs>;

  Napi::Env env_;
  Tsfn tsfn_;
  std::unique_ptr<Decoder> decoder_;
  ReaderOptions opt_;
  uint32_t record_words_;
  std::shared_ptr<BatchPool> pool_ = std::make_shared<BatchPool>();
  int fd_ = -1;
  int wake_fd_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  QueueStats queue_;         // guarded by mu_
  int credit_waiters_ = 0;   // threads in WaitCredit() or WaitRoom(), which Release() wakes (mu_)
  uint64_t trim_after_ = 0;  // the most bytes queued at once since the heap was last trimmed (mu_)
  // The most one decoded record has added to a batch so far (reader thread): room for one more
  // is kept, so that the queue never passes max_queue_bytes.
  uint64_t record_cost_ = 0;
  // count_only totals, written by the reader thread, read by Stats().
  std::atomic<uint64_t> counted_[kCountKinds] = {};
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> malformed_{0};
  std::atomic<int> socket_rcvbuf_{0};  // see QueueStats::socket_rcvbuf
  bool set_up_ = false;                // Setup() has run (bound and subscribed, or failed): guarded by mu_
  Failure setup_failure_;              // what Setup() reported: guarded by mu_
  std::atomic<bool> stop_{false};
  std::atomic<bool> end_early_{false};
  bool Ending() const { return stop_.load() || end_early_.load(); }
  // Dumps (reader_dump.cc): datagrams read and not yet decoded, guarded by mu_.
  std::vector<std::unique_ptr<Chunk>> chunks_;  // all of them, owned
  std::vector<Chunk*> free_chunks_;             // ready to be read into
  std::deque<Chunk*> read_chunks_;              // read, in the order read
  bool reading_over_ = false;                   // the receiving thread has ended
  bool stopped_ = false;
  bool in_cleanup_ = false;
  std::thread thread_;
};

}  // namespace nfct
