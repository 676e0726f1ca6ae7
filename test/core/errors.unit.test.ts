// NfctError's message, as a person reads it: the context, the call and the errno's name, what
// it acted on, then the hint for that errno, unless what it acted on says it already.
import { describe, expect, test } from 'vitest';

import { NfctError } from '../../lib/index.js';

describe('NfctError messages', () => {
  test('the hint follows the call; its fields say the same for a program', () => {
    const e = new NfctError(9, 'netlink');
    expect(e.message).toBe('netlink failed with EBADF: the handle was closed');
    expect([e.name, e.code, e.errno, e.syscall, e.detail]).toEqual(['NfctError', 'EBADF', 9, 'netlink', '']);
  });

  test('a detail that holds the hint: said once', () => {
    expect(new NfctError(9, 'netlink', 'the handle was closed', 'conntrack get').message).toBe(
      'conntrack get: netlink failed with EBADF (the handle was closed)',
    );
    expect(new NfctError(9, 'netlink', 'fd 7: the handle was closed').message).toBe(
      'netlink failed with EBADF (fd 7: the handle was closed)',
    );
  });

  test('a detail of its own: the hint after it', () => {
    expect(new NfctError(9, 'netlink', 'fd 7').message).toBe('netlink failed with EBADF (fd 7): the handle was closed');
  });
});
