// The writer every nfct command prints through (lib/cli/output.ts): whole encoded lines added
// as bytes, and the marked view --all-netns gives each namespace, byte for byte.
import { closeSync, openSync } from 'node:fs';
import { PassThrough } from 'node:stream';

import { describe, expect, test } from 'vitest';

import { Output, StdoutClosed } from '../../lib/cli/output.js';

/** An Output over a stream, and everything written to it. */
function capture(): { out: Output; text: () => Buffer } {
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (c: Buffer) => chunks.push(c));
  return { out: new Output(sink), text: () => Buffer.concat(chunks) };
}

describe('Output', () => {
  test('bytes(): whole lines go out as they are, after text lines, in one batch', async () => {
    const { out, text } = capture();
    out.line('first');
    const raw = Buffer.from('a\xe9b\r c\n\xffz\n', 'latin1');
    out.bytes(raw, 2);
    await out.drain();
    expect(text()).toEqual(Buffer.concat([Buffer.from('first\n'), raw]));
    expect(out.lines).toBe(3);
  });

  test('bytes() of a batch larger than the buffer grows it', async () => {
    const { out, text } = capture();
    const big = Buffer.alloc(3 << 20, 'x');
    big[big.length - 1] = 10;
    out.bytes(big, 1);
    await out.drain();
    expect(text().equals(big)).toBe(true);
  });

  test('marked view: every line marked, bytes kept (latin1 stays one byte), a \\r does not end a line', async () => {
    const { out, text } = capture();
    const marked = out.marked((line) => `[ns1] ${line}`);
    marked.bytes(Buffer.from('helper=\xe9x\r y\nsecond\n', 'latin1'), 2);
    marked.line('third');
    await out.drain();
    expect(text()).toEqual(Buffer.from('[ns1] helper=\xe9x\r y\n[ns1] second\n[ns1] third\n', 'latin1'));
  });

  test('a write error other than EPIPE (ENOSPC on /dev/full) loses the batch, and the command goes on', async () => {
    const fd = openSync('/dev/full', 'w');
    try {
      const out = new Output({ fd });
      for (let batch = 0; batch < 3; batch++) {
        out.line(`line ${batch}`);
        await out.flush();
      }
      out.line('last');
      out.flushSync();
      await out.drain();
      expect(out.broken).toBe(false);
      expect(out.lines).toBe(4);
    } finally {
      closeSync(fd);
    }
  });

  test('EPIPE still ends the command (StdoutClosed)', async () => {
    const sink = new PassThrough();
    const out = new Output(sink);
    sink.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    out.line('x');
    await expect(out.drain()).rejects.toBeInstanceOf(StdoutClosed);
  });

  test('another error on a stream sink is not thrown', async () => {
    const sink = new PassThrough();
    const out = new Output(sink);
    expect(() => sink.emit('error', Object.assign(new Error('write ENOSPC'), { code: 'ENOSPC' }))).not.toThrow();
    out.line('x');
    await out.drain();
    expect(out.broken).toBe(false);
  });
});
