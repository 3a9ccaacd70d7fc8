/**
 * Service-level presets per tier. A database may override RPO and RTO; everything else a tier implies
 * (alarm routing, paging) is decided by the alerts and monitoring constructs from the tier name.
 */
export const TIERS = ['critical', 'important', 'general'] as const;
export type Tier = (typeof TIERS)[number];

export interface TierPreset {
  readonly rpoSeconds: number;
  readonly rtoSeconds: number;
}

export const TIER_PRESETS: Readonly<Record<Tier, TierPreset>> = {
  critical: { rpoSeconds: 15 * 60, rtoSeconds: 60 * 60 },
  important: { rpoSeconds: 60 * 60, rtoSeconds: 4 * 60 * 60 },
  general: { rpoSeconds: 24 * 60 * 60, rtoSeconds: 24 * 60 * 60 },
};

const DURATION = /^(\d+)\s*(s|m|h|d)$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Parses `90s`, `15m`, `4h`, `7d`. Returns undefined for anything else so callers can report it. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) {
    return undefined;
  }
  return Number(match[1]) * UNIT_SECONDS[match[2]];
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) {
    return 'never';
  }
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds >= size && seconds % size === 0) {
      return `${seconds / size}${unit}`;
    }
  }
  return `${seconds}s`;
}
