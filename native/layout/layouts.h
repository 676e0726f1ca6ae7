// Every fixed layout that crosses between native code and lib/ (record words, presence bits,
// packed flow specs, the counters of a batch and of a stream), defined once, as X-macro lists:
// X(name, value). The C++ enums are made from them at the end of this file, the addon exports
// them at load (`layouts`, layout/export.cc), and scripts/gen-layout.mjs writes
// lib/core/layout.ts from this file; test/core/layout.unit.test.ts fails when the two differ.
//
// Names say what they describe: <RECORD>_<FIELD> is a word's index in a record (FLOW_MARK,
// PACKET_PAYLOAD, TRACE_ID), <RECORD>_HAS_<FIELD> a bit of its presence word (FLOW_HAS_MARK),
// <RECORD>_WORDS its size in words.
#pragma once

#include <cstdint>

// The lists, by layout: name of the C++ enum, then its X-macro.
#define NFCT_LAYOUTS(L)                    \
  L(FlowPresent, NFCT_FLOW_PRESENT)        \
  L(TuplePresent, NFCT_TUPLE_PRESENT)      \
  L(TupleWord, NFCT_TUPLE_WORD)            \
  L(FlowWord, NFCT_FLOW_WORD)              \
  L(FlowKindFlags, NFCT_FLOW_KIND_FLAGS)   \
  L(ExpectPresent, NFCT_EXPECT_PRESENT)    \
  L(ExpectWord, NFCT_EXPECT_WORD)          \
  L(PacketPresent, NFCT_PACKET_PRESENT)    \
  L(PacketWord, NFCT_PACKET_WORD)          \
  L(SpecFlags, NFCT_SPEC_FLAGS)            \
  L(SpecTupleWord, NFCT_SPEC_TUPLE_WORD)   \
  L(SpecTupleFlags, NFCT_SPEC_TUPLE_FLAGS) \
  L(SpecWord, NFCT_SPEC_WORD)              \
  L(AggKey, NFCT_AGG_KEY)                  \
  L(AggKeyWord, NFCT_AGG_KEY_WORD)         \
  L(AggGroupWord, NFCT_AGG_GROUP_WORD)     \
  L(AggGroupFlags, NFCT_AGG_GROUP_FLAGS)   \
  L(AggSort, NFCT_AGG_SORT)                \
  L(TracePresent, NFCT_TRACE_PRESENT)      \
  L(TraceWord, NFCT_TRACE_WORD)            \
  L(BatchCounter, NFCT_BATCH_COUNTER)      \
  L(StreamStat, NFCT_STREAM_STAT)          \
  L(KlogKind, NFCT_KLOG_KIND)              \
  L(KlogPresent, NFCT_KLOG_PRESENT)        \
  L(KlogPresent2, NFCT_KLOG_PRESENT2)      \
  L(KlogFresh, NFCT_KLOG_FRESH)            \
  L(KlogWord, NFCT_KLOG_WORD)

// Presence bits (word FLOW_PRESENT).
#define NFCT_FLOW_PRESENT(X)          \
  X(FLOW_HAS_ORIG, 1 << 0)            \
  X(FLOW_HAS_REPLY, 1 << 1)           \
  X(FLOW_HAS_MASTER, 1 << 2)          \
  X(FLOW_HAS_ID, 1 << 3)              \
  X(FLOW_HAS_STATUS, 1 << 4)          \
  X(FLOW_HAS_TIMEOUT, 1 << 5)         \
  X(FLOW_HAS_MARK, 1 << 6)            \
  X(FLOW_HAS_SECMARK, 1 << 7)         \
  X(FLOW_HAS_USE, 1 << 8)             \
  X(FLOW_HAS_ZONE, 1 << 9)            \
  X(FLOW_HAS_LABELS, 1 << 10)         \
  X(FLOW_HAS_COUNTERS_ORIG, 1 << 11)  \
  X(FLOW_HAS_COUNTERS_REPLY, 1 << 12) \
  X(FLOW_HAS_TS_START, 1 << 13)       \
  X(FLOW_HAS_TS_STOP, 1 << 14)        \
  X(FLOW_HAS_TCP, 1 << 15)            \
  X(FLOW_HAS_SCTP, 1 << 16)           \
  X(FLOW_HAS_DCCP, 1 << 17)           \
  X(FLOW_HAS_HELPER, 1 << 18)         \
  X(FLOW_HAS_SECCTX, 1 << 19)         \
  X(FLOW_HAS_SEQADJ_ORIG, 1 << 20)    \
  X(FLOW_HAS_SEQADJ_REPLY, 1 << 21)   \
  X(FLOW_HAS_SYNPROXY, 1 << 22)       \
  X(FLOW_HAS_TS_EVENT, 1 << 23)

// Tuple presence bits (word TUPLE_META of a tuple block, above the l4 protocol byte).
#define NFCT_TUPLE_PRESENT(X) \
  X(TUPLE_HAS_PROTO, 1 << 8)  \
  X(TUPLE_HAS_PORTS, 1 << 9)  \
  X(TUPLE_HAS_ICMP, 1 << 10)  \
  X(TUPLE_HAS_ZONE, 1 << 11)  \
  X(TUPLE_HAS_ADDRS, 1 << 12)

// A tuple block: 4 words.
#define NFCT_TUPLE_WORD(X)                                                 \
  X(TUPLE_META, 0)  /* l4 protocol number | TP_* bits */                   \
  X(TUPLE_PORTS, 1) /* source port | destination port << 16 (GRE: keys) */ \
  X(TUPLE_ICMP, 2)  /* type | code << 8 | id << 16 */                      \
  X(TUPLE_ZONE, 3)                                                         \
  X(TUPLE_WORDS, 4)

#define NFCT_FLOW_WORD(X)                                                                                             \
  X(FLOW_PRESENT, 0)                                                                                                  \
  X(FLOW_KIND, 1) /* l3 family | l4 protocol << 8 | message type << 16 (IPCTNL_MSG_CT_*) | flags << 24 */             \
  X(FLOW_ID, 2)                                                                                                       \
  X(FLOW_STATUS, 3)                                                                                                   \
  X(FLOW_TIMEOUT, 4)                                                                                                  \
  X(FLOW_MARK, 5)                                                                                                     \
  X(FLOW_SECMARK, 6)                                                                                                  \
  X(FLOW_USE, 7)                                                                                                      \
  X(FLOW_ZONE, 8)                                                                                                     \
  X(FLOW_LABELS, 9)    /* 4 words, bit i of the label set is bit (i % 32) of word (i / 32) */                         \
  X(FLOW_COUNTERS, 13) /* orig packets lo/hi, orig bytes lo/hi, reply packets lo/hi, reply bytes lo/hi */             \
  X(FLOW_TS_START, 21) /* lo/hi, nanoseconds since the epoch */                                                       \
  X(FLOW_TS_STOP, 23)                                                                                                 \
  X(FLOW_PROTO, 25) /* state, then 4 words: TCP wscale o|r<<8, flags o (flags|mask<<8), flags r; SCTP vtag o, vtag r; \
                       DCCP role, handshake seq lo/hi */                                                              \
  X(FLOW_ORIG, 30)                                                                                                    \
  X(FLOW_REPLY, 34)                                                                                                   \
  X(FLOW_MASTER, 38)                                                                                                  \
  X(FLOW_SEQADJ_ORIG, 42) /* correction position, offset before, offset after */                                      \
  X(FLOW_SEQADJ_REPLY, 45)                                                                                            \
  X(FLOW_SYNPROXY, 48) /* isn, its, tsoff */                                                                          \
  X(FLOW_TS_EVENT, 51) /* lo/hi */                                                                                    \
  X(FLOW_PORTID, 53)   /* events: the netlink port id of the process that made the change, 0: the kernel */           \
  X(FLOW_WORDS, 56)

// Message-kind flags (top byte of FLOW_KIND).
#define NFCT_FLOW_KIND_FLAGS(X)                                                                       \
  X(FLOW_KIND_DUMP_INTR, 1 << 0)   /* the kernel's dump was interrupted by a table change */          \
  X(FLOW_KIND_CREATE, 1 << 1)      /* an event for a new entry (NLM_F_CREATE): [NEW], not [UPDATE] */ \
  X(FLOW_KIND_TS_RECEIVED, 1 << 2) /* FLOW_TS_EVENT holds the receive time, the kernel sent none */

#define NFCT_EXPECT_PRESENT(X)  \
  X(EXPECT_HAS_MASTER, 1 << 0)  \
  X(EXPECT_HAS_TUPLE, 1 << 1)   \
  X(EXPECT_HAS_MASK, 1 << 2)    \
  X(EXPECT_HAS_NAT, 1 << 3)     \
  X(EXPECT_HAS_ID, 1 << 4)      \
  X(EXPECT_HAS_TIMEOUT, 1 << 5) \
  X(EXPECT_HAS_ZONE, 1 << 6)    \
  X(EXPECT_HAS_FLAGS, 1 << 7)   \
  X(EXPECT_HAS_CLASS, 1 << 8)   \
  X(EXPECT_HAS_HELPER, 1 << 9)  \
  X(EXPECT_HAS_FN, 1 << 10)

// Strings follow in order: master src/dst, tuple src/dst, mask src/dst, nat src/dst (each
// tuple only when present), helper, fn.
#define NFCT_EXPECT_WORD(X)                                                    \
  X(EXPECT_PRESENT, 0)                                                         \
  X(EXPECT_KIND, 1) /* l3 family | l4 protocol << 8 | message type << 16 */    \
  X(EXPECT_ID, 2)                                                              \
  X(EXPECT_TIMEOUT, 3)                                                         \
  X(EXPECT_ZONE, 4)                                                            \
  X(EXPECT_FLAGS, 5)                                                           \
  X(EXPECT_CLASS, 6)                                                           \
  X(EXPECT_NAT_DIR, 7)                                                         \
  X(EXPECT_MASTER, 8) /* tuple blocks of TUPLE_WORDS */                        \
  X(EXPECT_TUPLE, 12)                                                          \
  X(EXPECT_MASK, 16)                                                           \
  X(EXPECT_NAT, 20)                                                            \
  X(EXPECT_TIME, 24) /* lo/hi: receive time of an event, ns since the epoch */ \
  X(EXPECT_WORDS, 26)

#define NFCT_PACKET_PRESENT(X)                                                           \
  X(PACKET_HAS_HOOK, 1 << 0) /* NFULA_PACKET_HDR: hook and hardware protocol */          \
  X(PACKET_HAS_MARK, 1 << 1)                                                             \
  X(PACKET_HAS_TIMESTAMP, 1 << 2)                                                        \
  X(PACKET_HAS_INDEV, 1 << 3)                                                            \
  X(PACKET_HAS_OUTDEV, 1 << 4)                                                           \
  X(PACKET_HAS_PHYSINDEV, 1 << 5)                                                        \
  X(PACKET_HAS_PHYSOUTDEV, 1 << 6)                                                       \
  X(PACKET_HAS_HWADDR, 1 << 7)                                                           \
  X(PACKET_HAS_PAYLOAD, 1 << 8)                                                          \
  X(PACKET_HAS_PREFIX, 1 << 9)                                                           \
  X(PACKET_HAS_UID, 1 << 10)                                                             \
  X(PACKET_HAS_GID, 1 << 11)                                                             \
  X(PACKET_HAS_SEQ, 1 << 12)                                                             \
  X(PACKET_HAS_SEQ_GLOBAL, 1 << 13)                                                      \
  X(PACKET_HAS_HWTYPE, 1 << 14)                                                          \
  X(PACKET_HAS_HWHEADER, 1 << 15)                                                        \
  X(PACKET_HAS_CT, 1 << 16) /* a flow record (ct/flow.h, FLOW_WORDS) follows this one */ \
  X(PACKET_HAS_CTINFO, 1 << 17)                                                          \
  X(PACKET_HAS_VLAN, 1 << 18)                                                            \
  X(PACKET_HAS_L2HDR, 1 << 19)

// Strings follow in order: prefix, then the names of indev, outdev, physindev, physoutdev
// (each only when present; empty when the index has no name in the namespace), then the flow's.
#define NFCT_PACKET_WORD(X)                                       \
  X(PACKET_PRESENT, 0)                                            \
  X(PACKET_KIND, 1) /* nfgen family | hook << 8 | group << 16 */  \
  X(PACKET_HWPROTO, 2)                                            \
  X(PACKET_MARK, 3)                                               \
  X(PACKET_UID, 4)                                                \
  X(PACKET_GID, 5)                                                \
  X(PACKET_SEQ, 6)                                                \
  X(PACKET_SEQ_GLOBAL, 7)                                         \
  X(PACKET_HWTYPE, 8)                                             \
  X(PACKET_CTINFO, 9)                                             \
  X(PACKET_TIME, 10) /* lo/hi ns since the epoch */               \
  X(PACKET_INDEV, 12)                                             \
  X(PACKET_OUTDEV, 13)                                            \
  X(PACKET_PHYSINDEV, 14)                                         \
  X(PACKET_PHYSOUTDEV, 15)                                        \
  X(PACKET_VLAN, 16)    /* protocol | tci << 16 */                \
  X(PACKET_PAYLOAD, 17) /* offset, length in the batch's bytes */ \
  X(PACKET_HWHEADER, 19)                                          \
  X(PACKET_HWADDR, 21)                                            \
  X(PACKET_L2HDR, 23)                                             \
  X(PACKET_WORDS, 25)

// Flow specs cross from lib/conntrack/flowspec.ts packed, SPEC_WORDS 32-bit words each (reading JS
// object properties one by one costs more than the kernel's whole create).
#define NFCT_SPEC_FLAGS(X)         \
  X(SPEC_HAS_REPLY, 1 << 0)        \
  X(SPEC_HAS_TIMEOUT, 1 << 1)      \
  X(SPEC_HAS_STATUS, 1 << 2)       \
  X(SPEC_HAS_MARK, 1 << 3)         \
  X(SPEC_HAS_MARK_MASK, 1 << 4)    \
  X(SPEC_HAS_ZONE, 1 << 5)         \
  X(SPEC_HAS_TCP_STATE, 1 << 6)    \
  X(SPEC_HAS_SCTP_STATE, 1 << 7)   \
  X(SPEC_HAS_VTAG, 1 << 8)         \
  X(SPEC_HAS_LABELS, 1 << 9)       \
  X(SPEC_HAS_LABELS_MASK, 1 << 10) \
  X(SPEC_HAS_SNAT, 1 << 11)        \
  X(SPEC_HAS_SNAT_PORT, 1 << 12)   \
  X(SPEC_HAS_DNAT, 1 << 13)        \
  X(SPEC_HAS_DNAT_PORT, 1 << 14)   \
  X(SPEC_HAS_HELPER, 1 << 15) /* the name is in the helpers array, at the spec's index */

// A packed tuple: src (4 words, the address bytes), dst (4), ports, ICMP, flags, tuple zone.
#define NFCT_SPEC_TUPLE_WORD(X) \
  X(SPEC_TUPLE_SRC, 0)          \
  X(SPEC_TUPLE_DST, 4)          \
  X(SPEC_TUPLE_PORTS, 8)        \
  X(SPEC_TUPLE_ICMP, 9)         \
  X(SPEC_TUPLE_FLAGS, 10)       \
  X(SPEC_TUPLE_ZONE, 11)        \
  X(SPEC_TUPLE_WORDS, 12)

#define NFCT_SPEC_TUPLE_FLAGS(X)  \
  X(SPEC_TUPLE_HAS_PORTS, 1 << 0) \
  X(SPEC_TUPLE_HAS_ICMP, 1 << 1)  \
  X(SPEC_TUPLE_HAS_ZONE, 1 << 2)

#define NFCT_SPEC_WORD(X)                                         \
  X(SPEC_FLAGS, 0)                                                \
  X(SPEC_KIND, 1) /* family | protocol << 8 */                    \
  X(SPEC_ORIG, 2)                                                 \
  X(SPEC_REPLY, 14)                                               \
  X(SPEC_TIMEOUT, 26)                                             \
  X(SPEC_STATUS, 27)                                              \
  X(SPEC_MARK, 28)                                                \
  X(SPEC_MARK_MASK, 29)                                           \
  X(SPEC_ZONE, 30)                                                \
  X(SPEC_STATE, 31)                                               \
  X(SPEC_VTAG_ORIG, 32)                                           \
  X(SPEC_VTAG_REPLY, 33)                                          \
  X(SPEC_LABELS, 34)      /* 4 words */                           \
  X(SPEC_LABELS_MASK, 38) /* 4 words */                           \
  X(SPEC_SNAT, 42)        /* 4 words of address, then the port */ \
  X(SPEC_DNAT, 47)                                                \
  X(SPEC_WORDS, 52)

// Aggregation (ct/aggregate.h): what a group is keyed by, in lib/conntrack/aggregate.ts
// AGGREGATE_KEYS order.
#define NFCT_AGG_KEY(X)                                                                         \
  X(AGG_BY_FAMILY, 0)   /* value: AF_INET / AF_INET6 */                                         \
  X(AGG_BY_PROTOCOL, 1) /* value: l4 protocol number */                                         \
  X(AGG_BY_SRC, 2)      /* original source address */                                           \
  X(AGG_BY_DST, 3)      /* original destination address */                                      \
  X(AGG_BY_SRC_PORT, 4) /* original source port (present for TCP, UDP, SCTP, DCCP, UDP-Lite) */ \
  X(AGG_BY_DST_PORT, 5)                                                                         \
  X(AGG_BY_STATE, 6) /* value: l4 protocol | state << 8 (present for TCP, SCTP, DCCP) */        \
  X(AGG_BY_MARK, 7)                                                                             \
  X(AGG_BY_ZONE, 8)                                                                             \
  X(AGG_BY_STATUS, 9)     /* value: the status bits */                                          \
  X(AGG_BY_DNAT, 10)      /* reply source address and port (present when destination-NATed) */  \
  X(AGG_BY_SNAT, 11)      /* reply destination address and port (present when source-NATed) */  \
  X(AGG_BY_REPLY_SRC, 12) /* reply source address */                                            \
  X(AGG_KEYS, 13)                                                                               \
  /* A key as JS hands it: the key above in the low byte; for an address key, the prefix its */ \
  /* groups are cut at, (IPv4 length + 1) << AGG_BY_PREFIX4 and (IPv6 length + 1) << */         \
  /* AGG_BY_PREFIX6 (0: the whole address). */                                                  \
  X(AGG_BY_KEY_MASK, 255)                                                                       \
  X(AGG_BY_PREFIX4, 8)                                                                          \
  X(AGG_BY_PREFIX6, 16)

// One key of a group record: meta (AKM_* bits, family << 8 for addresses), a value, 16 bytes
// of address.
#define NFCT_AGG_KEY_WORD(X)      \
  X(AGG_KEY_META, 0)              \
  X(AGG_KEY_VALUE, 1)             \
  X(AGG_KEY_ADDR, 2)              \
  X(AGG_KEY_WORDS, 6)             \
  X(AGG_KEY_META_PRESENT, 1 << 0) \
  X(AGG_KEY_META_PORT, 1 << 1)

// After the key words of a group record.
#define NFCT_AGG_GROUP_WORD(X)                                                                                \
  X(AGG_GROUP_COUNT, 0)                                                                                       \
  X(AGG_GROUP_COUNTERS, 1) /* orig packets lo/hi, orig bytes lo/hi, reply packets lo/hi, reply bytes lo/hi */ \
  X(AGG_GROUP_FLAGS, 9)                                                                                       \
  X(AGG_GROUP_TAIL, 10)                                                                                       \
  X(AGG_MAX_KEYS, 8)

#define NFCT_AGG_GROUP_FLAGS(X) \
  X(AGG_GROUP_HAS_COUNTERS, 1 << 0) /* some flow of the group carried counters (nf_conntrack_acct=1) */

// What groups are ranked by.
#define NFCT_AGG_SORT(X)                       \
  X(AGG_SORT_COUNT, 0)                         \
  X(AGG_SORT_PACKETS, 1) /* both directions */ \
  X(AGG_SORT_BYTES, 2)

#define NFCT_TRACE_PRESENT(X)                                                     \
  X(TRACE_HAS_TABLE, 1 << 0)                                                      \
  X(TRACE_HAS_CHAIN, 1 << 1)                                                      \
  X(TRACE_HAS_RULE_HANDLE, 1 << 2)                                                \
  X(TRACE_HAS_VERDICT, 1 << 3)                                                    \
  X(TRACE_HAS_JUMP_TARGET, 1 << 4)                                                \
  X(TRACE_HAS_IIF, 1 << 5)                                                        \
  X(TRACE_HAS_OIF, 1 << 6)                                                        \
  X(TRACE_HAS_MARK, 1 << 7)                                                       \
  X(TRACE_HAS_NFPROTO, 1 << 8)                                                    \
  X(TRACE_HAS_POLICY, 1 << 9)                                                     \
  X(TRACE_HAS_LL, 1 << 10)                                                        \
  X(TRACE_HAS_NETWORK, 1 << 11)                                                   \
  X(TRACE_HAS_TRANSPORT, 1 << 12)                                                 \
  X(TRACE_HAS_IIFTYPE, 1 << 13)                                                   \
  X(TRACE_HAS_OIFTYPE, 1 << 14)                                                   \
  X(TRACE_HAS_CT_ID, 1 << 15) /* the conntrack attributes: Linux 6.8 and later */ \
  X(TRACE_HAS_CT_DIRECTION, 1 << 16)                                              \
  X(TRACE_HAS_CT_STATUS, 1 << 17)                                                 \
  X(TRACE_HAS_CT_STATE, 1 << 18)

// Strings in order: table, chain, jump target, iif name, oif name (each when present).
#define NFCT_TRACE_WORD(X)                                                                                  \
  X(TRACE_PRESENT, 0)                                                                                       \
  X(TRACE_KIND, 1) /* table family | trace type << 8 */                                                     \
  X(TRACE_ID, 2)                                                                                            \
  X(TRACE_HANDLE, 3)  /* lo/hi */                                                                           \
  X(TRACE_VERDICT, 5) /* int32 */                                                                           \
  X(TRACE_POLICY, 6)                                                                                        \
  X(TRACE_IIF, 7)                                                                                           \
  X(TRACE_OIF, 8)                                                                                           \
  X(TRACE_IIFTYPE, 9)                                                                                       \
  X(TRACE_OIFTYPE, 10)                                                                                      \
  X(TRACE_MARK, 11)                                                                                         \
  X(TRACE_NFPROTO, 12)                                                                                      \
  X(TRACE_LL, 13) /* offset, length in the batch's bytes */                                                 \
  X(TRACE_NETWORK, 15)                                                                                      \
  X(TRACE_TRANSPORT, 17)                                                                                    \
  X(TRACE_TIME, 19) /* lo/hi: receive time, ns since the epoch */                                           \
  X(TRACE_CT_ID, 21)                                                                                        \
  X(TRACE_CT_DIRECTION, 22)                                                                                 \
  X(TRACE_CT_STATUS, 23)                                                                                    \
  X(TRACE_CT_STATE, 24) /* nft's ct state bits: invalid 1, established 2, related 4, new 8, untracked 64 */ \
  X(TRACE_WORDS, 25)

// The counters each batch carries into JS beside its records, as a Float64Array: written by
// Reader::CallJs (native/reader.cc), read by BatchSource (lib/core/reader.ts).
#define NFCT_BATCH_COUNTER(X)                                                            \
  X(BATCH_COUNT, 0)     /* records in the batch */                                       \
  X(BATCH_RECEIVED, 1)  /* messages read, matched or not */                              \
  X(BATCH_MALFORMED, 2) /* messages that could not be decoded */                         \
  X(BATCH_OVERRUNS, 3)  /* overruns (ENOBUFS) seen before this batch's records */        \
  X(BATCH_RCVBUF, 4)    /* the receive buffer after growing (0: unchanged) */            \
  X(BATCH_FINAL, 5)     /* 1 on the reader's last batch */                               \
  X(BATCH_COST, 6)      /* the bytes the batch counts as queued until released */        \
  X(BATCH_TALLY, 7)     /* the decoder's BATCH_TALLY_WORDS totals, on the final batch */ \
  X(BATCH_TALLY_WORDS, 4)                                                                \
  X(BATCH_COUNTERS, 11)

// What a stream's stats() gives, as a Float64Array: written by Stream::Stats (native/stream.cc),
// read by BatchSource (lib/core/reader.ts). Received, malformed and the counts by kind are kept
// by counting readers only.
#define NFCT_STREAM_STAT(X)                                                                 \
  X(STAT_QUEUED_RECORDS, 0) /* handed to JS and not yet released */                         \
  X(STAT_QUEUED_BYTES, 1)                                                                   \
  X(STAT_PEAK_RECORDS, 2) /* the most queued at once so far */                              \
  X(STAT_PEAK_BYTES, 3)                                                                     \
  X(STAT_POOLED_BYTES, 4) /* spent batches kept for reuse */                                \
  X(STAT_RECEIVED, 5)                                                                       \
  X(STAT_MALFORMED, 6)                                                                      \
  X(STAT_COUNTED, 7) /* STAT_COUNT_KINDS counters, records counted by kind (event types) */ \
  X(STAT_COUNT_KINDS, 4)                                                                    \
  X(STAT_SOCKET_BUFFER, 11) /* the receive buffer as getsockopt(SO_RCVBUF) reports it */    \
  X(STREAM_STATS, 12)

// Kernel log records (kmsg/line.h): one per netfilter LOG line, legacy TRACE line, loss of
// /dev/kmsg records, or other line (on request), from /dev/kmsg or a file.
#define NFCT_KLOG_KIND(X)                                                                                        \
  X(KLOG_KIND_PACKET, 0) /* a LOG line */                                                                        \
  X(KLOG_KIND_HOP, 1)    /* a legacy TRACE line: table and chain strings, KLOG_RULE, hop kind in KLOG_KIND */    \
  X(KLOG_KIND_LOSS, 2)   /* /dev/kmsg records overwritten before they were read: KLOG_LOST, KLOG_SEQ the next */ \
  X(KLOG_KIND_LINE, 3)   /* another line, its message only */                                                    \
  X(KLOG_HOP_RULE, 1)    /* hop kinds (KLOG_KIND >> 4 & 15) */                                                   \
  X(KLOG_HOP_RETURN, 2)                                                                                          \
  X(KLOG_HOP_POLICY, 3)

// Presence bits of KLOG_PRESENT. KLOG_HAS_COMPLEX: the line holds more than the record carries (an
// ICMP error's quoted packet, IPv6 extension groups, ARP, words not understood...): the fields
// are read from the message by lib/nflog/logline-parse.ts instead.
#define NFCT_KLOG_PRESENT(X)                                   \
  X(KLOG_HAS_TIME, 1 << 0)  /* wall clock */                   \
  X(KLOG_HAS_KTIME, 1 << 1) /* the kernel's time since boot */ \
  X(KLOG_HAS_SEQ, 1 << 2)                                      \
  X(KLOG_HAS_LEVEL, 1 << 3)                                    \
  X(KLOG_HAS_COMPLEX, 1 << 4)                                  \
  X(KLOG_HAS_IN, 1 << 5)                                       \
  X(KLOG_HAS_OUT, 1 << 6)                                      \
  X(KLOG_HAS_PHYSIN, 1 << 7)                                   \
  X(KLOG_HAS_PHYSOUT, 1 << 8)                                  \
  X(KLOG_HAS_MAC, 1 << 9) /* MAC= as bytes */                  \
  X(KLOG_HAS_MACSRC, 1 << 10)                                  \
  X(KLOG_HAS_MACDST, 1 << 11)                                  \
  X(KLOG_HAS_MACPROTO, 1 << 12)                                \
  X(KLOG_HAS_VPROTO, 1 << 13)                                  \
  X(KLOG_HAS_VID, 1 << 14)                                     \
  X(KLOG_HAS_SRC, 1 << 15)                                     \
  X(KLOG_HAS_DST, 1 << 16)                                     \
  X(KLOG_HAS_LEN, 1 << 17)                                     \
  X(KLOG_HAS_TOS, 1 << 18)                                     \
  X(KLOG_HAS_PREC, 1 << 19)                                    \
  X(KLOG_HAS_TTL, 1 << 20)                                     \
  X(KLOG_HAS_ID, 1 << 21)                                      \
  X(KLOG_HAS_TC, 1 << 22)                                      \
  X(KLOG_HAS_HOPLIMIT, 1 << 23)                                \
  X(KLOG_HAS_FLOWLBL, 1 << 24)                                 \
  X(KLOG_HAS_FRAG, 1 << 25)                                    \
  X(KLOG_HAS_IPOPT, 1 << 26)                                   \
  X(KLOG_HAS_PROTO, 1 << 27)                                   \
  X(KLOG_HAS_MARK, 1 << 28)                                    \
  X(KLOG_HAS_UID, 1 << 29)                                     \
  X(KLOG_HAS_GID, 1 << 30)

// Presence bits of KLOG_PRESENT2.
#define NFCT_KLOG_PRESENT2(X)                                                                           \
  X(KLOG_HAS2_PROTONUM, 1 << 0)                                                                         \
  X(KLOG_HAS2_SPT, 1 << 1)                                                                              \
  X(KLOG_HAS2_DPT, 1 << 2)                                                                              \
  X(KLOG_HAS2_UDPLEN, 1 << 3)                                                                           \
  X(KLOG_HAS2_TCP, 1 << 4)                                                                              \
  X(KLOG_HAS2_TCPSEQ, 1 << 5)                                                                           \
  X(KLOG_HAS2_TCPACK, 1 << 6)                                                                           \
  X(KLOG_HAS2_WINDOW, 1 << 7)                                                                           \
  X(KLOG_HAS2_RES, 1 << 8)                                                                              \
  X(KLOG_HAS2_URGP, 1 << 9)                                                                             \
  X(KLOG_HAS2_TCPOPT, 1 << 10)                                                                          \
  X(KLOG_HAS2_ICMP, 1 << 11)                                                                            \
  X(KLOG_HAS2_ICMPTYPE, 1 << 12)                                                                        \
  X(KLOG_HAS2_ICMPCODE, 1 << 13)                                                                        \
  X(KLOG_HAS2_ICMPID, 1 << 14)                                                                          \
  X(KLOG_HAS2_ICMPSEQ, 1 << 15)                                                                         \
  X(KLOG_HAS2_ICMPMTU, 1 << 16)                                                                         \
  X(KLOG_HAS2_FACILITY, 1 << 17)                                                                        \
  X(KLOG_HAS2_HOST, 1 << 18)                                                                            \
  X(KLOG_HAS2_INNER, 1 << 19)      /* the packet an ICMP error quotes: a block of KLOG_WORDS follows */ \
  X(KLOG_HAS2_INCOMPLETE, 1 << 20) /* `INCOMPLETE [n bytes]` */

// The strings a stream's lines repeat (prefix, interface names, protocol, host, table, chain)
// are numbered per stream (KL_*ID words): a string is sent once, in the record that uses it
// first (its KF_ bit set in KLOG_FRESH); JS keeps the table. KLOG_FRESH_RESET: the table starts over
// (it holds at most a few thousand strings) before this record's strings.
#define NFCT_KLOG_FRESH(X)      \
  X(KLOG_FRESH_PREFIX, 1 << 0)  \
  X(KLOG_FRESH_IN, 1 << 1)      \
  X(KLOG_FRESH_OUT, 1 << 2)     \
  X(KLOG_FRESH_PHYSIN, 1 << 3)  \
  X(KLOG_FRESH_PHYSOUT, 1 << 4) \
  X(KLOG_FRESH_PROTO, 1 << 5)   \
  X(KLOG_FRESH_HOST, 1 << 6)    \
  X(KLOG_FRESH_TABLE, 1 << 7)   \
  X(KLOG_FRESH_CHAIN, 1 << 8)   \
  X(KLOG_FRESH_RESET, 1 << 9)

// Strings follow in order: the message; for packets and hops the prefix, for hops then table
// and chain; then in, out, physin, physout (those only when fresh), macSrc, macDst, src, dst,
// ipOptions, proto (when fresh), tcpOptions; the quoted packet's src, dst, ipOptions, proto,
// tcpOptions; host (when fresh); each when present. The quoted packet's block has the same
// layout, its IP and transport words only.
#define NFCT_KLOG_WORD(X)                                                                        \
  X(KLOG_PRESENT, 0)                                                                             \
  X(KLOG_PRESENT2, 1)                                                                            \
  X(KLOG_KIND, 2)   /* kind | hop kind << 4 | level << 8 | facility << 16 */                     \
  X(KLOG_SEQ, 3)    /* lo/hi: /dev/kmsg sequence number, or line number of a file */             \
  X(KLOG_TIME, 5)   /* lo/hi ns since the epoch */                                               \
  X(KLOG_KTIME, 7)  /* lo/hi microseconds since boot */                                          \
  X(KLOG_LOST, 9)   /* lo/hi */                                                                  \
  X(KLOG_HOPID, 11) /* a hash of the packet's header fields: the hops of one packet share it */  \
  X(KLOG_RULE, 12)                                                                               \
  X(KLOG_LEN, 13)                                                                                \
  X(KLOG_TOS, 14)                                                                                \
  X(KLOG_PREC, 15)                                                                               \
  X(KLOG_TTL, 16)                                                                                \
  X(KLOG_IPID, 17)                                                                               \
  X(KLOG_TC, 18)                                                                                 \
  X(KLOG_HOPLIMIT, 19)                                                                           \
  X(KLOG_FLOWLBL, 20)                                                                            \
  X(KLOG_FRAG, 21)                                                                               \
  X(KLOG_IPFLAGS, 22) /* CE 1, DF 2, MF 4 */                                                     \
  X(KLOG_PROTO, 23)                                                                              \
  X(KLOG_SPT, 24)                                                                                \
  X(KLOG_DPT, 25)                                                                                \
  X(KLOG_UDPLEN, 26)                                                                             \
  X(KLOG_TCPSEQ, 27)                                                                             \
  X(KLOG_TCPACK, 28)                                                                             \
  X(KLOG_WINDOW, 29)                                                                             \
  X(KLOG_RES, 30)                                                                                \
  X(KLOG_TCPFLAGS, 31) /* FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32, ECE 64, CWR 128, AE 256 */ \
  X(KLOG_URGP, 32)                                                                               \
  X(KLOG_ICMPTYPE, 33)                                                                           \
  X(KLOG_ICMPCODE, 34)                                                                           \
  X(KLOG_ICMPID, 35)                                                                             \
  X(KLOG_ICMPSEQ, 36)                                                                            \
  X(KLOG_ICMPMTU, 37)                                                                            \
  X(KLOG_MARK, 38)                                                                               \
  X(KLOG_UID, 39)                                                                                \
  X(KLOG_GID, 40)                                                                                \
  X(KLOG_MACPROTO, 41)                                                                           \
  X(KLOG_VPROTO, 42)                                                                             \
  X(KLOG_VID, 43)                                                                                \
  X(KLOG_MAC, 44) /* offset, length in the batch's bytes */                                      \
  X(KLOG_INCOMPLETE, 46)                                                                         \
  X(KLOG_PREFIXID, 47)                                                                           \
  X(KLOG_INID, 48)                                                                               \
  X(KLOG_OUTID, 49)                                                                              \
  X(KLOG_PHYSINID, 50)                                                                           \
  X(KLOG_PHYSOUTID, 51)                                                                          \
  X(KLOG_PROTOID, 52)                                                                            \
  X(KLOG_HOSTID, 53)                                                                             \
  X(KLOG_TABLEID, 54)                                                                            \
  X(KLOG_CHAINID, 55)                                                                            \
  X(KLOG_FRESH, 56) /* KF_* bits */                                                              \
  X(KLOG_WORDS, 57)

// One C++ enum per layout, named as in NFCT_LAYOUTS: enum FlowWord : uint32_t { FLOW_PRESENT =
// 0, ... }.
namespace nfct {
#define NFCT_ENUM_FIELD(name, value) name = value,
#define NFCT_ENUM(type, list) enum type : uint32_t { list(NFCT_ENUM_FIELD) };
NFCT_LAYOUTS(NFCT_ENUM)
#undef NFCT_ENUM
#undef NFCT_ENUM_FIELD

static_assert(BATCH_COUNTERS == BATCH_TALLY + BATCH_TALLY_WORDS, "the tally ends the batch counters");
static_assert(STAT_SOCKET_BUFFER == STAT_COUNTED + STAT_COUNT_KINDS, "the socket buffer follows the counts");
static_assert(STREAM_STATS == STAT_SOCKET_BUFFER + 1, "the socket buffer ends the stream stats");
}  // namespace nfct
