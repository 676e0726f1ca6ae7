// Every layout crossing between native code and lib/ is defined once, in
// native/layout/layouts.h. lib/core/layout.ts is generated from it; these tests fail when the
// generated file is stale, when the loaded addon (compiled from the header) disagrees with it,
// and when the load-time check would let a mismatched addon through.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';

import * as generated from '../../lib/core/layout.js';
import { addon, checkLayouts } from '../../lib/core/native.js';

const ROOT = join(__dirname, '..', '..');

describe('layouts', () => {
  test('lib/core/layout.ts is what scripts/gen-layout.mjs makes of native/layout/layouts.h', () => {
    expect(() =>
      execFileSync(process.execPath, [join(ROOT, 'scripts', 'gen-layout.mjs'), '--check'], { stdio: 'pipe' })
    ).not.toThrow();
  });

  test('the loaded addon exports exactly the generated layouts', () => {
    expect(addon.layouts).toEqual(JSON.parse(JSON.stringify(generated)));
    expect(Object.keys(addon.layouts).sort()).toEqual(Object.keys(generated).sort());
  });

  test('records: every word offset lies inside its record', () => {
    const records: [Record<string, number>, string, string][] = [
      [generated.FlowWord, 'W_', 'FLOW_WORDS'],
      [generated.ExpectWord, 'X_', 'EXPECT_WORDS'],
      [generated.PacketWord, 'L_', 'PACKET_WORDS'],
      [generated.SpecWord, 'S_', 'SPEC_WORDS'],
      [generated.TupleWord, 'T_', 'TUPLE_WORDS'],
      [generated.SpecTupleWord, 'ST_', 'SPEC_TUPLE_WORDS'],
      [generated.TraceWord, 'R_', 'TRACE_WORDS'],
    ];
    for (const [fields, prefix, size] of records) {
      const words = fields[size]!;
      for (const [name, at] of Object.entries(fields)) {
        if (name.startsWith(prefix)) expect(at, name).toBeLessThan(words);
      }
    }
  });

  test('presence bits are distinct single bits', () => {
    for (const bits of [generated.FlowPresent, generated.TuplePresent, generated.ExpectPresent, generated.PacketPresent,
      generated.SpecFlags, generated.SpecTupleFlags, generated.TracePresent])
    {
      const values = Object.values(bits) as number[];
      expect(new Set(values).size).toBe(values.length);
      for (const v of values) expect(v & (v - 1)).toBe(0);
    }
  });

  test('an addon built from other layouts is refused at load, naming the field', () => {
    const stale = JSON.parse(JSON.stringify(addon.layouts)) as Record<string, Record<string, number>>;
    stale.FlowWord!.FLOW_PORTID = 52;
    expect(() => checkLayouts(stale)).toThrow(/FlowWord\.FLOW_PORTID is 52, lib\/ expects 53: rebuild/);
    expect(() => checkLayouts(addon.layouts)).not.toThrow();
  });
});
