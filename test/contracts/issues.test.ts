import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { describeIssues, expectedPart, formatPath, shown } from '../../contracts/issues';

const Schema = z.strictObject({
  name: z.string({ error: 'expected a name' }),
  items: z.array(z.strictObject({ size: z.number() })),
  password: z.string().min(12, { error: 'expected at least 12 characters' }).optional(),
});

function issuesOf(input: unknown) {
  return Schema.safeParse(input).error!;
}

describe('describeIssues', () => {
  it('writes each issue as "path: found X; expected Y", with zod\'s own messages cut to their expected half', () => {
    // Prepare
    const input = { name: 3, items: [{ size: 'big' }] };

    // Act
    const lines = describeIssues(issuesOf(input), input);

    // Assess
    expect(lines).toEqual(['name: found 3; expected a name', 'items.0.size: found "big"; expected number']);
  });

  it('writes YAML paths, a line prefix and a root name when asked (the config file)', () => {
    // Prepare
    const input = { name: 'x', items: [{ size: 1 }, {}] };

    // Act
    const nested = describeIssues(issuesOf(input), input, { pathStyle: 'indexed', locate: () => 'line 4: ' });
    const root = describeIssues(issuesOf('text'), 'text', { root: '(root)' });

    // Assess
    expect(nested).toEqual(['line 4: items[1].size: found nothing; expected number']);
    expect(root).toEqual(['(root): found "text"; expected object']);
  });

  it('never quotes a concealed value, and words a missing one as told', () => {
    // Prepare
    const input = { items: [], password: 'hunter2' };

    // Act
    const lines = describeIssues(issuesOf(input), input, { conceal: (path) => path[0] === 'password', missing: 'not set' });

    // Assess
    expect(lines).toEqual(['name: not set; expected a name', 'password: set (value hidden); expected at least 12 characters']);
    expect(lines.join('\n')).not.toContain('hunter2');
  });

  it("asks to remove unknown fields, or uses the caller's hint, one line per key", () => {
    // Prepare
    const input = { name: 'x', items: [], nmae: 1, extra: 2 };

    // Act
    const plain = describeIssues(issuesOf(input), input);
    const hinted = describeIssues(issuesOf(input), input, {
      unknownKey: (path, key) => `${formatPath([...path, key])}: did you mean "name"?`,
    });

    // Assess
    expect(plain).toEqual(['unknown fields "nmae", "extra"; remove them']);
    expect(hinted).toEqual(['nmae: did you mean "name"?', 'extra: did you mean "name"?']);
  });

  it('shortens long values and caps the number of lines', () => {
    // Prepare
    const Many = z.array(z.number());
    const input = Array.from({ length: 5 }, () => 'x'.repeat(100));

    // Act
    const lines = describeIssues(Many.safeParse(input).error!, input, { maxLines: 2, maxValueChars: 10 });

    // Assess
    expect(lines).toEqual([
      '0: found "xxxxxx...; expected number',
      '1: found "xxxxxx...; expected number',
      '... and 3 more problems like these',
    ]);
    expect(shown({ a: 1 })).toBe('{"a":1}');
    expect(expectedPart('Too small: expected string to have >=3 characters')).toBe('expected string to have >=3 characters');
    expect(expectedPart('Must be a date')).toBe('expected must be a date');
  });
});
