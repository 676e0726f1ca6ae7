// The order of test files under Stryker (vitest.config.mts uses it only there). A mutant's run
// stops at its first failing test, so the fastest tests go first: the unit tests, then the others
// by the time they took last (vitest's own order is the slowest first, which suits a run of the
// whole suite on several workers, not a run that stops at the first failure on one).
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export default class FastFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const fastFirst = (await super.sort(files)).reverse();
    const unit = (f: TestSpecification): boolean => f.moduleId.endsWith('.unit.test.ts');
    return [...fastFirst.filter(unit), ...fastFirst.filter((f) => !unit(f))];
  }
}
