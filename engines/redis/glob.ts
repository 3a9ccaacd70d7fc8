const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const CARET = 0x5e;
const DASH = 0x2d;
const BACKSLASH = 0x5c;

/**
 * Redis's own glob matching (stringmatchlen in util.c, as KEYS and SCAN MATCH use it), over bytes: `*` any run,
 * `?` one byte, `[abc]`, `[^abc]`, `[a-z]` (bounds either way round), `\x` a literal x, also inside brackets.
 * Its quirks are kept so a selective restore writes exactly the keys SCAN MATCH would list: an unclosed `[`
 * ends the class at the end of the pattern, and a trailing lone `\` matches a backslash. Range bounds compare
 * as unsigned bytes (redis-server on x86 compares signed chars, which differs only for bounds >= 0x80).
 */
export function globMatch(pattern: Uint8Array, key: Uint8Array): boolean {
  // SCAN and KEYS skip matching for "*" alone, so it matches even the empty key, unlike "**".
  if (pattern.length === 1 && pattern[0] === STAR) {
    return true;
  }
  const state = { skipLongerMatches: false };
  return matchFrom(pattern, 0, key, 0, state, 0);
}

function matchFrom(
  pattern: Uint8Array,
  p: number,
  key: Uint8Array,
  k: number,
  state: { skipLongerMatches: boolean },
  nesting: number,
): boolean {
  if (nesting > 1000) {
    return false; // redis-server's guard against abusive patterns
  }
  const pEnd = pattern.length;
  const kEnd = key.length;
  while (p < pEnd && k < kEnd) {
    const c = pattern[p];
    if (c === STAR) {
      while (p + 1 < pEnd && pattern[p + 1] === STAR) {
        p++;
      }
      if (p + 1 === pEnd) {
        return true;
      }
      while (k < kEnd) {
        if (matchFrom(pattern, p + 1, key, k, state, nesting + 1)) {
          return true;
        }
        if (state.skipLongerMatches) {
          return false;
        }
        k++;
      }
      // The rest of the pattern matches nowhere in the rest of the key, so neither would a longer match of an
      // earlier `*` (redis-server stops there too, which keeps patterns like a*a*a*b linear).
      state.skipLongerMatches = true;
      return false;
    }
    if (c === QUESTION) {
      k++;
    } else if (c === OPEN) {
      p++;
      const not = p < pEnd && pattern[p] === CARET;
      if (not) {
        p++;
      }
      let match = false;
      for (;;) {
        if (p < pEnd && pattern[p] === BACKSLASH && pEnd - p >= 2) {
          p++;
          if (pattern[p] === key[k]) {
            match = true;
          }
        } else if (p < pEnd && pattern[p] === CLOSE) {
          break;
        } else if (p >= pEnd) {
          p--;
          break;
        } else if (pEnd - p >= 3 && pattern[p + 1] === DASH) {
          const low = Math.min(pattern[p], pattern[p + 2]);
          const high = Math.max(pattern[p], pattern[p + 2]);
          p += 2;
          if (key[k] >= low && key[k] <= high) {
            match = true;
          }
        } else if (pattern[p] === key[k]) {
          match = true;
        }
        p++;
      }
      if (not) {
        match = !match;
      }
      if (!match) {
        return false;
      }
      k++;
    } else {
      if (c === BACKSLASH && pEnd - p >= 2) {
        p++;
      }
      if (pattern[p] !== key[k]) {
        return false;
      }
      k++;
    }
    p++;
    if (k === kEnd) {
      while (p < pEnd && pattern[p] === STAR) {
        p++;
      }
      break;
    }
  }
  return p === pEnd && k === kEnd;
}

/** STRONGBOX_INCLUDE's key patterns (Redis glob syntax, see globMatch) as one matcher; no patterns: every key. */
export function keyMatcher(patterns: readonly string[]): (key: Buffer) => boolean {
  if (patterns.length === 0) {
    return () => true;
  }
  const compiled = patterns.map((p) => Buffer.from(p, 'utf8'));
  return (key) => compiled.some((p) => globMatch(p, key));
}
