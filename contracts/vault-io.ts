import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  paginateListObjectsV2,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { z } from 'zod';
import { describeZodIssues } from './errors';

/**
 * Small helpers for the vault's JSON records. Every reader validates with the record's schema, so a record
 * written by an older or broken writer surfaces as a readable error instead of an undefined field later.
 */

/**
 * An S3 client for the vault, the one factory the task and the Lambdas share. With `endpoint` (the local
 * runtime's and the tests' s3rver) it talks path-style and computes checksums only where an operation needs
 * them: otherwise a streamed PutObject reaches s3rver with its chunk framing stored in the object. The region
 * falls back to the SDK's own resolution, and to eu-west-1 for an endpoint, which s3rver does not check.
 */
export function s3ClientFor(
  options: { readonly endpoint?: string; readonly region?: string; readonly credentials?: S3ClientConfig['credentials'] } = {},
): S3Client {
  const config: S3ClientConfig = { region: options.region, ...(options.credentials && { credentials: options.credentials }) };
  if (!options.endpoint) {
    return new S3Client(config);
  }
  return new S3Client({
    ...config,
    region: options.region ?? process.env.AWS_REGION ?? 'eu-west-1',
    endpoint: options.endpoint,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export class RecordFormatError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'RecordFormatError';
  }
}

interface S3LikeError {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

export function isNotFound(error: unknown): boolean {
  const e = error as S3LikeError;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.Code === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

/** 412 from a conditional write or delete: someone else wrote first. 409 is S3's concurrent-conditional-write conflict. */
export function isPreconditionFailed(error: unknown): boolean {
  const e = error as S3LikeError;
  return (
    e?.name === 'PreconditionFailed' ||
    e?.name === 'ConditionalRequestConflict' ||
    e?.$metadata?.httpStatusCode === 412 ||
    e?.$metadata?.httpStatusCode === 409
  );
}

/** Whether `key` exists (HeadObject; a 404 is false, any other error is thrown). */
export async function objectExists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if (isNotFound(error)) {
      return false;
    }
    throw error;
  }
}

export interface JsonRecord<T> {
  readonly value: T;
  readonly etag: string | undefined;
}

/** Reads and validates one JSON record; undefined when the key does not exist. */
export async function getJson<T extends z.ZodType>(
  s3: S3Client,
  bucket: string,
  key: string,
  schema: T,
): Promise<JsonRecord<z.output<T>> | undefined> {
  let text: string;
  let etag: string | undefined;
  try {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    text = await response.Body!.transformToString('utf8');
    etag = response.ETag;
  } catch (error) {
    if (isNotFound(error)) {
      return undefined;
    }
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RecordFormatError(`s3://${bucket}/${key} is not JSON (starts with ${JSON.stringify(text.slice(0, 40))})`);
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    throw new RecordFormatError(`s3://${bucket}/${key} does not match its schema:\n${describeZodIssues(result.error, parsed)}`);
  }
  return { value: result.data, etag };
}

export async function putJson(
  s3: S3Client,
  bucket: string,
  key: string,
  value: unknown,
  extra: Partial<PutObjectCommandInput> = {},
): Promise<string | undefined> {
  const response = await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: `${JSON.stringify(value, null, 2)}\n`,
      ContentType: 'application/json',
      ...extra,
    }),
  );
  return response.ETag;
}

export interface ListedObject {
  readonly key: string;
  readonly size: number;
  /** As the listing reports it (STANDARD, GLACIER_IR, DEEP_ARCHIVE, ...); undefined where a store leaves it out. */
  readonly storageClass?: string;
}

/** Every object under `prefix`, page by page (1,000 keys per page). */
export async function* listObjects(s3: S3Client, bucket: string, prefix: string): AsyncGenerator<ListedObject> {
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix })) {
    for (const object of page.Contents ?? []) {
      if (object.Key !== undefined) {
        yield { key: object.Key, size: object.Size ?? 0, ...(object.StorageClass !== undefined && { storageClass: object.StorageClass }) };
      }
    }
  }
}

/** Streams an object through SHA-256 (hex) without holding it in memory; `onChunk` sees every chunk. */
export async function streamSha256(
  s3: S3Client,
  bucket: string,
  key: string,
  onChunk?: (chunk: Buffer) => void,
): Promise<{ sha256: string; bytes: number }> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of response.Body as Readable) {
    const buffer = chunk as Buffer;
    hash.update(buffer);
    bytes += buffer.length;
    onChunk?.(buffer);
  }
  return { sha256: hash.digest('hex'), bytes };
}

export function base64ToHex(value: string): string {
  return Buffer.from(value, 'base64').toString('hex');
}

export function hexToBase64(value: string): string {
  return Buffer.from(value, 'hex').toString('base64');
}
