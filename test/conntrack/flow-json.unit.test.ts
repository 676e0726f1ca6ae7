// flowJson(), the NDJSON writer of entries, on the fields this kernel gives a test entry
// rarely or never: the master of an entry an expectation made, a security mark and context,
// labels, a helper, DCCP's state with its 64-bit handshake sequence, the sequence adjustments
// of a NAT helper, SYNPROXY's state. Each must come out under its name with its value, as
// schema/common.json names them; test/cli/json.test.ts compares the common fields with
// `conntrack -L -o xml` for entries of the kernel.
import { describe, expect, test } from 'vitest';

import { flowJson } from '../../lib/conntrack/flow.js';
import { Status } from '../../lib/conntrack/status.js';
import type { DccpFlow } from '../../lib/conntrack/types.js';

const dccp: DccpFlow = {
  family: 'ipv4',
  protonum: 33,
  protocol: 'dccp',
  original: { src: '10.0.0.1', dst: '10.0.0.2', protonum: 33, srcPort: 40000, dstPort: 5004 },
  reply: { src: '10.0.0.2', dst: '10.0.0.1', protonum: 33, srcPort: 5004, dstPort: 40000 },
  dccp: { state: 'OPEN', stateNum: 4, role: 0, handshakeSeq: 2n ** 47n + 5n },
  status: new Status(0x0e), // SEEN_REPLY, ASSURED, CONFIRMED
  timeout: 100,
  id: 9,
  master: { src: '10.0.0.1', dst: '10.0.0.2', protonum: 6, srcPort: 40001, dstPort: 21 },
  secmark: 7,
  labels: [1, 64],
  helper: 'ftp',
  secctx: 'system_u:object_r:unlabeled_t:s0',
  seqAdjOriginal: { correctionPos: 1000, offsetBefore: 0, offsetAfter: 3 },
  seqAdjReply: { correctionPos: 2000, offsetBefore: 1, offsetAfter: -2 },
  synproxy: { isn: 11, its: 12, tsoff: 13 },
};

describe('flowJson()', () => {
  test('every optional field under its name, with its value', () => {
    expect(JSON.parse(flowJson(dccp))).toEqual({
      family: 'ipv4',
      protocol: 'dccp',
      protonum: 33,
      original: { src: '10.0.0.1', dst: '10.0.0.2', protonum: 33, srcPort: 40000, dstPort: 5004 },
      reply: { src: '10.0.0.2', dst: '10.0.0.1', protonum: 33, srcPort: 5004, dstPort: 40000 },
      master: { src: '10.0.0.1', dst: '10.0.0.2', protonum: 6, srcPort: 40001, dstPort: 21 },
      id: 9,
      status: ['SEEN_REPLY', 'ASSURED', 'CONFIRMED'],
      timeout: 100,
      secmark: 7,
      labels: [1, 64],
      helper: 'ftp',
      secctx: 'system_u:object_r:unlabeled_t:s0',
      // 64 bits: a decimal string, as every 64-bit value of the JSON output.
      dccp: { state: 'OPEN', stateNum: 4, role: 0, handshakeSeq: '140737488355333' },
      seqAdjOriginal: { correctionPos: 1000, offsetBefore: 0, offsetAfter: 3 },
      seqAdjReply: { correctionPos: 2000, offsetBefore: 1, offsetAfter: -2 },
      synproxy: { isn: 11, its: 12, tsoff: 13 },
    });
  });

  test('a field left out of the flow is left out of the text', () => {
    const { master: _m, secmark: _s, labels: _l, helper: _h, secctx: _c, seqAdjOriginal: _o, seqAdjReply: _r,
      synproxy: _p, ...plain } = dccp;
    expect(Object.keys(JSON.parse(flowJson(plain)) as object)).toEqual(['family', 'protocol', 'protonum', 'original',
      'reply', 'id', 'status', 'timeout', 'dccp']);
  });
});
