import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { startVault, vaultClient } from './vault';

export interface LocalS3 {
  readonly endpoint: string;
  readonly directory: string;
  client(): S3Client;
  stop(): Promise<void>;
}

/**
 * A real S3 API on loopback in a temporary directory: the local runtime's vault (one starter for tests and demo),
 * removed on stop. Needs `--openssl-legacy-provider` (the npm scripts set NODE_OPTIONS) and the checksum
 * settings from `setup-env.ts`.
 */
export async function startS3rver(buckets: readonly string[]): Promise<LocalS3> {
  const directory = mkdtempSync(join(tmpdir(), 'strongbox-s3rver-'));
  const vault = await startVault(directory, buckets);
  return {
    endpoint: vault.endpoint,
    directory,
    client: () => vault.client(),
    stop: async () => {
      await vault.stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export const localS3Client = (endpoint: string): S3Client => vaultClient(endpoint);
