// The order of test files under Stryker (test/mutation/sequencer.mts): unit tests first, then the
// others fastest first, by the durations vitest keeps from the last run.
import { expect, test } from 'vitest';
import type { TestSpecification, Vitest } from 'vitest/node' with { 'resolution-mode': 'import' };

test('unit test files first, then the others by their last duration, shortest first', async () => {
  const durations: Record<string, number> = {
    'test/a.test.ts': 9000,
    'test/b.unit.test.ts': 5,
    'test/c.test.ts': 300,
    'test/d.unit.test.ts': 40,
    'test/e.test.ts': 2000,
  };
  const ctx = {
    config: { root: '/r' },
    cache: {
      getFileTestResults: (key: string) => ({ failed: false, duration: durations[key.split(':')[1]!]! }),
      getFileStats: () => ({ size: 1 }),
    },
  } as unknown as Vitest;
  const specs = Object.keys(durations).map((f) => ({ project: { name: '' },
    moduleId: `/r/${f}` })
  ) as unknown as TestSpecification[];
  const { default: FastFirstSequencer } = await import('./sequencer.mjs');
  const sorted = await new FastFirstSequencer(ctx).sort(specs);
  expect(sorted.map((s) => s.moduleId.slice(3))).toEqual(['test/b.unit.test.ts', 'test/d.unit.test.ts',
    'test/c.test.ts', 'test/e.test.ts', 'test/a.test.ts']);
});
