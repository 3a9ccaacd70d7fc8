import { describe, expect, it } from 'vitest';
import { ENGINES } from '../../../contracts/engines';
import { ADAPTERS } from '../../../engines/index';
import { loadAdapter } from '../../../tasks/src/adapters';

describe('loadAdapter', () => {
  it.each(ENGINES.map((engine) => [engine]))('loads the very adapter engines/index.ts registers for %s', async (engine) => {
    // Prepare
    const registered = ADAPTERS[engine];
    // Act
    const loaded = await loadAdapter(engine);
    // Assess
    expect(loaded).toBe(registered);
  });
});
