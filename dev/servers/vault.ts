import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { S3Client } from '@aws-sdk/client-s3';
import { s3ClientFor } from '../../contracts/vault-io';

// biome-ignore lint/suspicious/noExplicitAny: s3rver ships no types.
const S3rver: any = require('s3rver');

/**
 * The local vault: one s3rver on loopback serving both vault buckets (primary and replica region), with its
 * data in a directory that outlives the process (`.strongbox/vault` for the demo), so the files a run
 * produced can be inspected afterwards.
 *
 * s3rver needs the process to run with `--openssl-legacy-provider` (paginated listings) and SDK clients that
 * only send checksums when required (otherwise a streamed PutObject is stored with its chunk framing);
 * `LOCAL_SDK_ENV` carries the latter for child processes and in-process handlers alike.
 */
export const LOCAL_SDK_ENV: Readonly<Record<string, string>> = {
  AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
  AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
};

export interface LocalVault {
  readonly endpoint: string;
  readonly directory: string;
  readonly buckets: readonly string[];
  client(region?: string): S3Client;
  stop(): Promise<void>;
}

export class LegacyOpenSslRequiredError extends Error {
  public constructor() {
    super('the local vault (s3rver) needs Node started with --openssl-legacy-provider; run it through `npm run demo` or set NODE_OPTIONS');
    this.name = 'LegacyOpenSslRequiredError';
  }
}

export async function startVault(directory: string, buckets: readonly string[]): Promise<LocalVault> {
  if (!(process.env.NODE_OPTIONS ?? '').includes('--openssl-legacy-provider') && !process.execArgv.includes('--openssl-legacy-provider')) {
    throw new LegacyOpenSslRequiredError();
  }
  mkdirSync(directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const address: AddressInfo = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  return {
    endpoint,
    directory,
    buckets,
    client: (region = 'eu-west-1') => vaultClient(endpoint, region),
    stop: () => server.close(),
  };
}

export function vaultClient(endpoint: string, region = 'eu-west-1'): S3Client {
  return s3ClientFor({
    endpoint,
    region,
    credentials: { accessKeyId: LOCAL_SDK_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: LOCAL_SDK_ENV.AWS_SECRET_ACCESS_KEY },
  });
}
