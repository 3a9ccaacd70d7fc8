import type { S3Client } from '@aws-sdk/client-s3';
import { FUNCTION_ENV } from '../../contracts/function-env';
import { s3ClientFor } from '../../contracts/vault-io';
import { tracer } from './powertools';
import { addConditionalWriteShim } from './s3-conditional-shim';

/**
 * The S3 client for a vault. With a custom endpoint (local runtime only) it talks path-style to s3rver and
 * gets the conditional-write shim, because s3rver ignores If-None-Match / If-Match.
 */
export function vaultS3Client(region?: string): S3Client {
  const endpoint = process.env[FUNCTION_ENV.s3Endpoint];
  const client = s3ClientFor({ endpoint, region });
  return endpoint ? addConditionalWriteShim(client) : client;
}

const byRegion = new Map<string, S3Client>();

/**
 * The traced vault client of a region named by the function's environment (the replica's), made on first use
 * because the region is known only once the environment is checked, then kept for its connections.
 */
export function regionalVaultS3Client(region: string): S3Client {
  let client = byRegion.get(region);
  if (!client) {
    client = tracer.captureAWSv3Client(vaultS3Client(region));
    byRegion.set(region, client);
  }
  return client;
}
