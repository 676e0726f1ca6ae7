// Reads a pcap file of link type NFLOG (239), as `tcpdump -i nflog:N -w FILE` writes it: the
// independent view of the same logged packets.
import { readFileSync } from 'node:fs';

export interface PcapNflogPacket {
  family: number;
  group: number;
  prefix?: string;
  payload?: Buffer;
  indev?: number;
  outdev?: number;
  hwProtocol?: number;
  hook?: number;
  mark?: number;
  /** NFULA_TIMESTAMP: seconds and microseconds. */
  time?: { sec: bigint; usec: bigint };
  uid?: number;
  gid?: number;
  hwType?: number;
  hwHeader?: Buffer;
}

export function readNflogPcap(file: string): PcapNflogPacket[] {
  const buf = readFileSync(file);
  if (buf.length < 24) return [];
  const le = buf.readUInt32LE(0) === 0xa1b2c3d4;
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  if (u32(20) !== 239) throw new Error(`not an NFLOG capture (link type ${u32(20)})`);
  const out: PcapNflogPacket[] = [];
  let off = 24;
  while (off + 16 <= buf.length) {
    const caplen = u32(off + 8);
    // A record still being written (the capture is read while tcpdump runs) is left for later.
    if (off + 16 + caplen > buf.length) break;
    const rec = buf.subarray(off + 16, off + 16 + caplen);
    off += 16 + caplen;
    const pkt: PcapNflogPacket = { family: rec[0]!, group: rec.readUInt16BE(2) };
    // TLVs in host order, each padded to 4 bytes.
    let t = 4;
    while (t + 4 <= rec.length) {
      const len = rec.readUInt16LE(t);
      const type = rec.readUInt16LE(t + 2);
      if (len < 4) break;
      const value = rec.subarray(t + 4, t + len);
      if (type === 1) {
        pkt.hwProtocol = value.readUInt16BE(0);
        pkt.hook = value[2];
      } else if (type === 2) pkt.mark = value.readUInt32BE(0);
      else if (type === 3) pkt.time = { sec: value.readBigUInt64BE(0), usec: value.readBigUInt64BE(8) };
      else if (type === 4) pkt.indev = value.readUInt32BE(0);
      else if (type === 5) pkt.outdev = value.readUInt32BE(0);
      else if (type === 9) pkt.payload = Buffer.from(value);
      else if (type === 10) pkt.prefix = value.toString('latin1').replace(/\0+$/, '');
      else if (type === 11) pkt.uid = value.readUInt32BE(0);
      else if (type === 14) pkt.gid = value.readUInt32BE(0);
      else if (type === 15) pkt.hwType = value.readUInt16BE(0);
      else if (type === 16) pkt.hwHeader = Buffer.from(value);
      t += (len + 3) & ~3;
    }
    out.push(pkt);
  }
  return out;
}
