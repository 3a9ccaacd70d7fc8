import type { S3Client } from '@aws-sdk/client-s3';
import { FUNCTION_ENV } from '../../contracts/function-env';
import { s3ClientFor } from '../../contracts/vault-io';
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
