// Every fixed layout that crosses between native code and lib/ (record words, presence bits,
// packed flow specs), defined once, as X-macro lists: X(name, value). The C++ enums are made
// from them (ct/flow.h, ct/expect.h, log/nflog.h, ct/request.h, ct/aggregate.h, trace/nftrace.h), the addon
// exports them at load (`layouts`, layout/export.cc), and scripts/gen-layout.mjs writes
// lib/core/layout.ts from this file; test/core/layout.unit.test.ts fails when the two differ.
#pragma once

// The lists, by layout: name of the C++ enum, then its X-macro.
#define NFCT_LAYOUTS(L) \
  L(FlowPresent, NFCT_FLOW_PRESENT) \
  L(TuplePresent, NFCT_TUPLE_PRESENT) \
  L(TupleWord, NFCT_TUPLE_WORD) \
  L(FlowWord, NFCT_FLOW_WORD) \
  L(FlowKindFlags, NFCT_FLOW_KIND_FLAGS) \
  L(ExpectPresent, NFCT_EXPECT_PRESENT) \
  L(ExpectWord, NFCT_EXPECT_WORD) \
  L(PacketPresent, NFCT_PACKET_PRESENT) \
  L(PacketWord, NFCT_PACKET_WORD) \
  L(SpecFlags, NFCT_SPEC_FLAGS) \
  L(SpecTupleWord, NFCT_SPEC_TUPLE_WORD) \
  L(SpecTupleFlags, NFCT_SPEC_TUPLE_FLAGS) \
  L(SpecWord, NFCT_SPEC_WORD) \
  L(AggKey, NFCT_AGG_KEY) \
  L(AggKeyWord, NFCT_AGG_KEY_WORD) \
  L(AggGroupWord, NFCT_AGG_GROUP_WORD) \
  L(AggGroupFlags, NFCT_AGG_GROUP_FLAGS) \
  L(AggSort, NFCT_AGG_SORT) \
  L(TracePresent, NFCT_TRACE_PRESENT) \
  L(TraceWord, NFCT_TRACE_WORD) \
  L(KlogKind, NFCT_KLOG_KIND) \
  L(KlogPresent, NFCT_KLOG_PRESENT) \
  L(KlogPresent2, NFCT_KLOG_PRESENT2) \
  L(KlogFresh, NFCT_KLOG_FRESH) \
  L(KlogWord, NFCT_KLOG_WORD)

// Presence bits (word W_PRESENT).
#define NFCT_FLOW_PRESENT(X) \
  X(P_ORIG, 1 << 0) \
  X(P_REPLY, 1 << 1) \
  X(P_MASTER, 1 << 2) \
  X(P_ID, 1 << 3) \
  X(P_STATUS, 1 << 4) \
  X(P_TIMEOUT, 1 << 5) \
  X(P_MARK, 1 << 6) \
  X(P_SECMARK, 1 << 7) \
  X(P_USE, 1 << 8) \
  X(P_ZONE, 1 << 9) \
  X(P_LABELS, 1 << 10) \
  X(P_COUNTERS_ORIG, 1 << 11) \
  X(P_COUNTERS_REPLY, 1 << 12) \
  X(P_TS_START, 1 << 13) \
  X(P_TS_STOP, 1 << 14) \
  X(P_TCP, 1 << 15) \
  X(P_SCTP, 1 << 16) \
  X(P_DCCP, 1 << 17) \
  X(P_HELPER, 1 << 18) \
  X(P_SECCTX, 1 << 19) \
  X(P_SEQADJ_ORIG, 1 << 20) \
  X(P_SEQADJ_REPLY, 1 << 21) \
  X(P_SYNPROXY, 1 << 22) \
  X(P_TS_EVENT, 1 << 23)

// Tuple presence bits (word T_META of a tuple block, above the l4 protocol byte).
#define NFCT_TUPLE_PRESENT(X) \
  X(TP_PROTO, 1 << 8) \
  X(TP_PORTS, 1 << 9) \
  X(TP_ICMP, 1 << 10) \
  X(TP_ZONE, 1 << 11) \
  X(TP_ADDRS, 1 << 12)

// A tuple block: 4 words.
#define NFCT_TUPLE_WORD(X) \
  X(T_META, 0)  /* l4 protocol number | TP_* bits */ \
  X(T_PORTS, 1)  /* source port | destination port << 16 (GRE: keys) */ \
  X(T_ICMP, 2)  /* type | code << 8 | id << 16 */ \
  X(T_ZONE, 3) \
  X(TUPLE_WORDS, 4)

#define NFCT_FLOW_WORD(X) \
  X(W_PRESENT, 0) \
  X(W_KIND, 1)  /* l3 family | l4 protocol << 8 | message type << 16 (IPCTNL_MSG_CT_*) | flags << 24 */ \
  X(W_ID, 2) \
  X(W_STATUS, 3) \
  X(W_TIMEOUT, 4) \
  X(W_MARK, 5) \
  X(W_SECMARK, 6) \
  X(W_USE, 7) \
  X(W_ZONE, 8) \
  X(W_LABELS, 9)  /* 4 words, bit i of the label set is bit (i % 32) of word (i / 32) */ \
  X(W_COUNTERS, 13)  /* orig packets lo/hi, orig bytes lo/hi, reply packets lo/hi, reply bytes lo/hi */ \
  X(W_TS_START, 21)  /* lo/hi, nanoseconds since the epoch */ \
  X(W_TS_STOP, 23) \
  X(W_PROTO, 25)  /* state, then 4 words: TCP wscale o|r<<8, flags o (flags|mask<<8), flags r; SCTP vtag o, vtag r; DCCP role, handshake seq lo/hi */ \
  X(W_ORIG, 30) \
  X(W_REPLY, 34) \
  X(W_MASTER, 38) \
  X(W_SEQADJ_ORIG, 42)  /* correction position, offset before, offset after */ \
  X(W_SEQADJ_REPLY, 45) \
  X(W_SYNPROXY, 48)  /* isn, its, tsoff */ \
  X(W_TS_EVENT, 51)  /* lo/hi */ \
  X(W_PORTID, 53)  /* events: the netlink port id of the process that made the change, 0: the kernel */ \
  X(FLOW_WORDS, 56)

// Message-kind flags (top byte of W_KIND).
#define NFCT_FLOW_KIND_FLAGS(X) \
  X(K_DUMP_INTR, 1 << 0)  /* the kernel's dump was interrupted by a table change */ \
  X(K_CREATE, 1 << 1)  /* an event for a new entry (NLM_F_CREATE): [NEW], not [UPDATE] */ \
  X(K_TS_RECEIVED, 1 << 2)  /* W_TS_EVENT holds the receive time, the kernel sent none */

#define NFCT_EXPECT_PRESENT(X) \
  X(E_MASTER, 1 << 0) \
  X(E_TUPLE, 1 << 1) \
  X(E_MASK, 1 << 2) \
  X(E_NAT, 1 << 3) \
  X(E_ID, 1 << 4) \
  X(E_TIMEOUT, 1 << 5) \
  X(E_ZONE, 1 << 6) \
  X(E_FLAGS, 1 << 7) \
  X(E_CLASS, 1 << 8) \
  X(E_HELPER, 1 << 9) \
  X(E_FN, 1 << 10)

// Strings follow in order: master src/dst, tuple src/dst, mask src/dst, nat src/dst (each
// tuple only when present), helper, fn.
#define NFCT_EXPECT_WORD(X) \
  X(X_PRESENT, 0) \
  X(X_KIND, 1)  /* l3 family | l4 protocol << 8 | message type << 16 */ \
  X(X_ID, 2) \
  X(X_TIMEOUT, 3) \
  X(X_ZONE, 4) \
  X(X_FLAGS, 5) \
  X(X_CLASS, 6) \
  X(X_NAT_DIR, 7) \
  X(X_MASTER, 8)  /* tuple blocks of TUPLE_WORDS */ \
  X(X_TUPLE, 12) \
  X(X_MASK, 16) \
  X(X_NAT, 20) \
  X(X_TIME, 24)  /* lo/hi: receive time of an event, ns since the epoch */ \
  X(EXPECT_WORDS, 26)

#define NFCT_PACKET_PRESENT(X) \
  X(N_HOOK, 1 << 0)  /* NFULA_PACKET_HDR: hook and hardware protocol */ \
  X(N_MARK, 1 << 1) \
  X(N_TIMESTAMP, 1 << 2) \
  X(N_INDEV, 1 << 3) \
  X(N_OUTDEV, 1 << 4) \
  X(N_PHYSINDEV, 1 << 5) \
  X(N_PHYSOUTDEV, 1 << 6) \
  X(N_HWADDR, 1 << 7) \
  X(N_PAYLOAD, 1 << 8) \
  X(N_PREFIX, 1 << 9) \
  X(N_UID, 1 << 10) \
  X(N_GID, 1 << 11) \
  X(N_SEQ, 1 << 12) \
  X(N_SEQ_GLOBAL, 1 << 13) \
  X(N_HWTYPE, 1 << 14) \
  X(N_HWHEADER, 1 << 15) \
  X(N_CT, 1 << 16)  /* a flow record (ct/flow.h, FLOW_WORDS) follows this one */ \
  X(N_CTINFO, 1 << 17) \
  X(N_VLAN, 1 << 18) \
  X(N_L2HDR, 1 << 19)

// Strings follow in order: prefix, then the names of indev, outdev, physindev, physoutdev
// (each only when present; empty when the index has no name in the namespace), then the flow's.
#define NFCT_PACKET_WORD(X) \
  X(L_PRESENT, 0) \
  X(L_KIND, 1)  /* nfgen family | hook << 8 | group << 16 */ \
  X(L_HWPROTO, 2) \
  X(L_MARK, 3) \
  X(L_UID, 4) \
  X(L_GID, 5) \
  X(L_SEQ, 6) \
  X(L_SEQ_GLOBAL, 7) \
  X(L_HWTYPE, 8) \
  X(L_CTINFO, 9) \
  X(L_TIME, 10)  /* lo/hi ns since the epoch */ \
  X(L_INDEV, 12) \
  X(L_OUTDEV, 13) \
  X(L_PHYSINDEV, 14) \
  X(L_PHYSOUTDEV, 15) \
  X(L_VLAN, 16)  /* protocol | tci << 16 */ \
  X(L_PAYLOAD, 17)  /* offset, length in the batch's bytes */ \
  X(L_HWHEADER, 19) \
  X(L_HWADDR, 21) \
  X(L_L2HDR, 23) \
  X(PACKET_WORDS, 25)

// Flow specs cross from lib/conntrack/flowspec.ts packed, SPEC_WORDS 32-bit words each (reading JS
// object properties one by one costs more than the kernel's whole create).
#define NFCT_SPEC_FLAGS(X) \
  X(SF_REPLY, 1 << 0) \
  X(SF_TIMEOUT, 1 << 1) \
  X(SF_STATUS, 1 << 2) \
  X(SF_MARK, 1 << 3) \
  X(SF_MARK_MASK, 1 << 4) \
  X(SF_ZONE, 1 << 5) \
  X(SF_TCP_STATE, 1 << 6) \
  X(SF_SCTP_STATE, 1 << 7) \
  X(SF_VTAG, 1 << 8) \
  X(SF_LABELS, 1 << 9) \
  X(SF_LABELS_MASK, 1 << 10) \
  X(SF_SNAT, 1 << 11) \
  X(SF_SNAT_PORT, 1 << 12) \
  X(SF_DNAT, 1 << 13) \
  X(SF_DNAT_PORT, 1 << 14) \
  X(SF_HELPER, 1 << 15)  /* the name is in the helpers array, at the spec's index */

// A packed tuple: src (4 words, the address bytes), dst (4), ports, ICMP, flags, tuple zone.
#define NFCT_SPEC_TUPLE_WORD(X) \
  X(ST_SRC, 0) \
  X(ST_DST, 4) \
  X(ST_PORTS, 8) \
  X(ST_ICMP, 9) \
  X(ST_FLAGS, 10) \
  X(ST_ZONE, 11) \
  X(SPEC_TUPLE_WORDS, 12)

#define NFCT_SPEC_TUPLE_FLAGS(X) \
  X(STF_PORTS, 1 << 0) \
  X(STF_ICMP, 1 << 1) \
  X(STF_ZONE, 1 << 2)

#define NFCT_SPEC_WORD(X) \
  X(S_FLAGS, 0) \
  X(S_KIND, 1)  /* family | protocol << 8 */ \
  X(S_ORIG, 2) \
  X(S_REPLY, 14) \
  X(S_TIMEOUT, 26) \
  X(S_STATUS, 27) \
  X(S_MARK, 28) \
  X(S_MARK_MASK, 29) \
  X(S_ZONE, 30) \
  X(S_STATE, 31) \
  X(S_VTAG_ORIG, 32) \
  X(S_VTAG_REPLY, 33) \
  X(S_LABELS, 34)  /* 4 words */ \
  X(S_LABELS_MASK, 38)  /* 4 words */ \
  X(S_SNAT, 42)  /* 4 words of address, then the port */ \
  X(S_DNAT, 47) \
  X(SPEC_WORDS, 52)

// Aggregation (ct/aggregate.h): what a group is keyed by, in lib/conntrack/aggregate.ts
// AGGREGATE_KEYS order.
#define NFCT_AGG_KEY(X) \
  X(AK_FAMILY, 0)  /* value: AF_INET / AF_INET6 */ \
  X(AK_PROTOCOL, 1)  /* value: l4 protocol number */ \
  X(AK_SRC, 2)  /* original source address */ \
  X(AK_DST, 3)  /* original destination address */ \
  X(AK_SPORT, 4)  /* original source port (present for TCP, UDP, SCTP, DCCP, UDP-Lite) */ \
  X(AK_DPORT, 5) \
  X(AK_STATE, 6)  /* value: l4 protocol | state << 8 (present for TCP, SCTP, DCCP) */ \
  X(AK_MARK, 7) \
  X(AK_ZONE, 8) \
  X(AK_STATUS, 9)  /* value: the status bits */ \
  X(AK_DNAT, 10)  /* reply source address and port (present when destination-NATed) */ \
  X(AK_SNAT, 11)  /* reply destination address and port (present when source-NATed) */ \
  X(AK_REPLY_SRC, 12)  /* reply source address */ \
  X(AK_COUNT_KEYS, 13)

// One key of a group record: meta (AKM_* bits, family << 8 for addresses), a value, 16 bytes
// of address.
#define NFCT_AGG_KEY_WORD(X) \
  X(AKW_META, 0) \
  X(AKW_VALUE, 1) \
  X(AKW_ADDR, 2) \
  X(AGG_KEY_WORDS, 6) \
  X(AKM_PRESENT, 1 << 0) \
  X(AKM_PORT, 1 << 1)

// After the key words of a group record.
#define NFCT_AGG_GROUP_WORD(X) \
  X(G_COUNT, 0) \
  X(G_COUNTERS, 1)  /* orig packets lo/hi, orig bytes lo/hi, reply packets lo/hi, reply bytes lo/hi */ \
  X(G_FLAGS, 9) \
  X(AGG_GROUP_TAIL, 10) \
  X(AGG_MAX_KEYS, 8)

#define NFCT_AGG_GROUP_FLAGS(X) \
  X(GF_COUNTERS, 1 << 0)  /* some flow of the group carried counters (nf_conntrack_acct=1) */

// What groups are ranked by.
#define NFCT_AGG_SORT(X) \
  X(AS_COUNT, 0) \
  X(AS_PACKETS, 1)  /* both directions */ \
  X(AS_BYTES, 2)

#define NFCT_TRACE_PRESENT(X) \
  X(T_TABLE, 1 << 0) \
  X(T_CHAIN, 1 << 1) \
  X(T_RULE_HANDLE, 1 << 2) \
  X(T_VERDICT, 1 << 3) \
  X(T_JUMP_TARGET, 1 << 4) \
  X(T_IIF, 1 << 5) \
  X(T_OIF, 1 << 6) \
  X(T_MARK, 1 << 7) \
  X(T_NFPROTO, 1 << 8) \
  X(T_POLICY, 1 << 9) \
  X(T_LL, 1 << 10) \
  X(T_NETWORK, 1 << 11) \
  X(T_TRANSPORT, 1 << 12) \
  X(T_IIFTYPE, 1 << 13) \
  X(T_OIFTYPE, 1 << 14)

// Strings in order: table, chain, jump target, iif name, oif name (each when present).
#define NFCT_TRACE_WORD(X) \
  X(R_PRESENT, 0) \
  X(R_KIND, 1)  /* table family | trace type << 8 */ \
  X(R_ID, 2) \
  X(R_HANDLE, 3)  /* lo/hi */ \
  X(R_VERDICT, 5)  /* int32 */ \
  X(R_POLICY, 6) \
  X(R_IIF, 7) \
  X(R_OIF, 8) \
  X(R_IIFTYPE, 9) \
  X(R_OIFTYPE, 10) \
  X(R_MARK, 11) \
  X(R_NFPROTO, 12) \
  X(R_LL, 13)  /* offset, length in the batch's bytes */ \
  X(R_NETWORK, 15) \
  X(R_TRANSPORT, 17) \
  X(R_TIME, 19)  /* lo/hi: receive time, ns since the epoch */ \
  X(TRACE_WORDS, 21)

// Kernel log records (kmsg/line.h): one per netfilter LOG line, legacy TRACE line, loss of
// /dev/kmsg records, or other line (on request), from /dev/kmsg or a file.
#define NFCT_KLOG_KIND(X) \
  X(KK_PACKET, 0)  /* a LOG line */ \
  X(KK_HOP, 1)  /* a legacy TRACE line: table and chain strings, KL_RULE, hop kind in KL_KIND */ \
  X(KK_LOSS, 2)  /* /dev/kmsg records overwritten before they were read: KL_LOST, KL_SEQ the next */ \
  X(KK_LINE, 3)  /* another line, its message only */ \
  X(KK_RULE, 1)  /* hop kinds (KL_KIND >> 4 & 15) */ \
  X(KK_RETURN, 2) \
  X(KK_POLICY, 3)

// Presence bits of KL_PRESENT. KP_COMPLEX: the line holds more than the record carries (an
// ICMP error's quoted packet, IPv6 extension groups, ARP, words not understood...): the fields
// are read from the message by lib/nflog/logline-parse.ts instead.
#define NFCT_KLOG_PRESENT(X) \
  X(KP_TIME, 1 << 0)  /* wall clock */ \
  X(KP_KTIME, 1 << 1)  /* the kernel's time since boot */ \
  X(KP_SEQ, 1 << 2) \
  X(KP_LEVEL, 1 << 3) \
  X(KP_COMPLEX, 1 << 4) \
  X(KP_IN, 1 << 5) \
  X(KP_OUT, 1 << 6) \
  X(KP_PHYSIN, 1 << 7) \
  X(KP_PHYSOUT, 1 << 8) \
  X(KP_MAC, 1 << 9)  /* MAC= as bytes */ \
  X(KP_MACSRC, 1 << 10) \
  X(KP_MACDST, 1 << 11) \
  X(KP_MACPROTO, 1 << 12) \
  X(KP_VPROTO, 1 << 13) \
  X(KP_VID, 1 << 14) \
  X(KP_SRC, 1 << 15) \
  X(KP_DST, 1 << 16) \
  X(KP_LEN, 1 << 17) \
  X(KP_TOS, 1 << 18) \
  X(KP_PREC, 1 << 19) \
  X(KP_TTL, 1 << 20) \
  X(KP_ID, 1 << 21) \
  X(KP_TC, 1 << 22) \
  X(KP_HOPLIMIT, 1 << 23) \
  X(KP_FLOWLBL, 1 << 24) \
  X(KP_FRAG, 1 << 25) \
  X(KP_IPOPT, 1 << 26) \
  X(KP_PROTO, 1 << 27) \
  X(KP_MARK, 1 << 28) \
  X(KP_UID, 1 << 29) \
  X(KP_GID, 1 << 30)

// Presence bits of KL_PRESENT2.
#define NFCT_KLOG_PRESENT2(X) \
  X(KQ_PROTONUM, 1 << 0) \
  X(KQ_SPT, 1 << 1) \
  X(KQ_DPT, 1 << 2) \
  X(KQ_UDPLEN, 1 << 3) \
  X(KQ_TCP, 1 << 4) \
  X(KQ_TCPSEQ, 1 << 5) \
  X(KQ_TCPACK, 1 << 6) \
  X(KQ_WINDOW, 1 << 7) \
  X(KQ_RES, 1 << 8) \
  X(KQ_URGP, 1 << 9) \
  X(KQ_TCPOPT, 1 << 10) \
  X(KQ_ICMP, 1 << 11) \
  X(KQ_ICMPTYPE, 1 << 12) \
  X(KQ_ICMPCODE, 1 << 13) \
  X(KQ_ICMPID, 1 << 14) \
  X(KQ_ICMPSEQ, 1 << 15) \
  X(KQ_ICMPMTU, 1 << 16) \
  X(KQ_FACILITY, 1 << 17) \
  X(KQ_HOST, 1 << 18) \
  X(KQ_INNER, 1 << 19)  /* the packet an ICMP error quotes: a block of KLOG_WORDS follows */ \
  X(KQ_INCOMPLETE, 1 << 20)  /* `INCOMPLETE [n bytes]` */

// The strings a stream's lines repeat (prefix, interface names, protocol, host, table, chain)
// are numbered per stream (KL_*ID words): a string is sent once, in the record that uses it
// first (its KF_ bit set in KL_FRESH); JS keeps the table. KF_RESET: the table starts over
// (it holds at most a few thousand strings) before this record's strings.
#define NFCT_KLOG_FRESH(X) \
  X(KF_PREFIX, 1 << 0) \
  X(KF_IN, 1 << 1) \
  X(KF_OUT, 1 << 2) \
  X(KF_PHYSIN, 1 << 3) \
  X(KF_PHYSOUT, 1 << 4) \
  X(KF_PROTO, 1 << 5) \
  X(KF_HOST, 1 << 6) \
  X(KF_TABLE, 1 << 7) \
  X(KF_CHAIN, 1 << 8) \
  X(KF_RESET, 1 << 9)

// Strings follow in order: the message; for packets and hops the prefix, for hops then table
// and chain; then in, out, physin, physout (those only when fresh), macSrc, macDst, src, dst,
// ipOptions, proto (when fresh), tcpOptions; the quoted packet's src, dst, ipOptions, proto,
// tcpOptions; host (when fresh); each when present. The quoted packet's block has the same
// layout, its IP and transport words only.
#define NFCT_KLOG_WORD(X) \
  X(KL_PRESENT, 0) \
  X(KL_PRESENT2, 1) \
  X(KL_KIND, 2)  /* kind | hop kind << 4 | level << 8 | facility << 16 */ \
  X(KL_SEQ, 3)  /* lo/hi: /dev/kmsg sequence number, or line number of a file */ \
  X(KL_TIME, 5)  /* lo/hi ns since the epoch */ \
  X(KL_KTIME, 7)  /* lo/hi microseconds since boot */ \
  X(KL_LOST, 9)  /* lo/hi */ \
  X(KL_HOPID, 11)  /* a hash of the packet's header fields: the hops of one packet share it */ \
  X(KL_RULE, 12) \
  X(KL_LEN, 13) \
  X(KL_TOS, 14) \
  X(KL_PREC, 15) \
  X(KL_TTL, 16) \
  X(KL_IPID, 17) \
  X(KL_TC, 18) \
  X(KL_HOPLIMIT, 19) \
  X(KL_FLOWLBL, 20) \
  X(KL_FRAG, 21) \
  X(KL_IPFLAGS, 22)  /* CE 1, DF 2, MF 4 */ \
  X(KL_PROTO, 23) \
  X(KL_SPT, 24) \
  X(KL_DPT, 25) \
  X(KL_UDPLEN, 26) \
  X(KL_TCPSEQ, 27) \
  X(KL_TCPACK, 28) \
  X(KL_WINDOW, 29) \
  X(KL_RES, 30) \
  X(KL_TCPFLAGS, 31)  /* FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32, ECE 64, CWR 128, AE 256 */ \
  X(KL_URGP, 32) \
  X(KL_ICMPTYPE, 33) \
  X(KL_ICMPCODE, 34) \
  X(KL_ICMPID, 35) \
  X(KL_ICMPSEQ, 36) \
  X(KL_ICMPMTU, 37) \
  X(KL_MARK, 38) \
  X(KL_UID, 39) \
  X(KL_GID, 40) \
  X(KL_MACPROTO, 41) \
  X(KL_VPROTO, 42) \
  X(KL_VID, 43) \
  X(KL_MAC, 44)  /* offset, length in the batch's bytes */ \
  X(KL_INCOMPLETE, 46) \
  X(KL_PREFIXID, 47) \
  X(KL_INID, 48) \
  X(KL_OUTID, 49) \
  X(KL_PHYSINID, 50) \
  X(KL_PHYSOUTID, 51) \
  X(KL_PROTOID, 52) \
  X(KL_HOSTID, 53) \
  X(KL_TABLEID, 54) \
  X(KL_CHAINID, 55) \
  X(KL_FRESH, 56)  /* KF_* bits */ \
  X(KLOG_WORDS, 57)
