// The writer every nfct command prints through (lib/cli/output.ts): whole encoded lines added
// as bytes, and the marked view --all-netns gives each namespace, byte for byte.
import { PassThrough } from 'node:stream';

import { describe, expect, test } from 'vitest';

import { Output } from '../../lib/cli/output.js';

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
});
