import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isNotFound } from '../../contracts/vault-io';

/**
 * LOCAL ONLY. s3rver ignores `If-None-Match` / `If-Match` on PutObject and `If-Match` on DeleteObject, which
 * real S3 enforces atomically and on which the backup lock relies (contracts/lock.ts). This middleware
 * makes an s3rver client behave the same way by checking the condition with a HeadObject first and failing
 * with S3's own `412 PreconditionFailed`. The check and the write are two requests, so it is NOT atomic: it
 * reproduces S3's answers for sequential callers (the local runtime and tests), never use it against real S3.
 */
export function addConditionalWriteShim(client: S3Client): S3Client {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName;
      const input = args.input as { Bucket?: string; Key?: string; IfNoneMatch?: string; IfMatch?: string };
      const conditional = (command === 'PutObjectCommand' || command === 'DeleteObjectCommand') && (input.IfNoneMatch || input.IfMatch);
      if (conditional) {
        const current = await currentEtag(client, input.Bucket!, input.Key!);
        const failed =
          (input.IfNoneMatch === '*' && current !== undefined) ||
          (input.IfMatch !== undefined && (current === undefined || (input.IfMatch !== '*' && input.IfMatch !== current)));
        if (failed) {
          throw preconditionFailed(input.Key!);
        }
      }
      return next(args);
    },
    { step: 'initialize', name: 'strongboxConditionalWriteShim', override: true },
  );
  return client;
}

async function currentEtag(client: S3Client, bucket: string, key: string): Promise<string | undefined> {
  try {
    return (await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ETag;
  } catch (error) {
    if (isNotFound(error)) {
      return undefined;
    }
    throw error;
  }
}

function preconditionFailed(key: string): Error {
  const error = new Error(`At least one of the pre-conditions you specified did not hold (${key})`) as Error & {
    $metadata: { httpStatusCode: number };
    $fault: string;
  };
  error.name = 'PreconditionFailed';
  error.$metadata = { httpStatusCode: 412 };
  error.$fault = 'client';
  return error;
}
