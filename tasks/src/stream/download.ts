import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { s3ClientFor } from '../../../contracts/vault-io';

/** The task's S3 client; STRONGBOX_S3_ENDPOINT points it at s3rver (path-style) in local runs and tests. */
export function taskS3Client(endpoint?: string): S3Client {
  return s3ClientFor({ endpoint });
}

/** Streams an object's body; nothing is buffered beyond the socket's own window. */
export async function openObject(client: S3Client, bucket: string, key: string): Promise<{ body: Readable; bytes: number }> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!out.Body) {
    throw new Error(`s3://${bucket}/${key} has no body`);
  }
  return { body: out.Body as Readable, bytes: out.ContentLength ?? 0 };
}

export async function readJson(client: S3Client, bucket: string, key: string): Promise<unknown> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const text = await out.Body?.transformToString();
  return JSON.parse(text ?? 'null');
}
