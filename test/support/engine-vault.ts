import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import { type SegmentManifest, SegmentManifestSchema } from '../../contracts/logs';
import { classifySegmentKey } from '../../contracts/vault';
import { getJson, listObjects } from '../../contracts/vault-io';
import type { EngineServer } from '../../dev/servers/engines';
import { type LocalS3, startS3rver } from '../../dev/servers/s3rver';

/** A real engine server next to a local vault (s3rver with one bucket) and a scratch directory: what the log and base tests run on. */
export interface EngineVault {
  readonly server: EngineServer;
  readonly s3rver: LocalS3;
  readonly s3: S3Client;
  readonly work: string;
  /** Stops both servers and removes the scratch directory. */
  stop(): Promise<void>;
}

/** Starts the engine and s3rver side by side (both take seconds) and makes the scratch directory named by `workPrefix`. */
export async function startEngineVault(start: () => Promise<EngineServer>, bucket: string, workPrefix: string): Promise<EngineVault> {
  const [server, s3rver] = await Promise.all([start(), startS3rver([bucket])]);
  const work = mkdtempSync(join(tmpdir(), workPrefix));
  return {
    server,
    s3rver,
    s3: s3rver.client(),
    work,
    async stop() {
      await Promise.all([server.stop(), s3rver.stop()]);
      rmSync(work, { recursive: true, force: true });
    },
  };
}

/** The connection settings a command takes to the test server: its superuser, TLS off (the test servers listen on loopback only). */
export function connectionTo(server: EngineServer, database?: string) {
  return {
    host: server.host,
    port: server.port,
    username: server.username,
    password: server.password,
    ...(database !== undefined && { database }),
    tls: 'disable' as const,
  };
}

/** Every segment manifest stored under `prefix`, in listing order. */
export async function segmentManifests(s3: S3Client, bucket: string, prefix: string): Promise<SegmentManifest[]> {
  const found: SegmentManifest[] = [];
  for await (const object of listObjects(s3, bucket, prefix)) {
    if (classifySegmentKey(object.key)?.file === 'manifest.json') {
      const manifest = (await getJson(s3, bucket, object.key, SegmentManifestSchema))?.value;
      if (manifest) {
        found.push(manifest);
      }
    }
  }
  return found;
}

/** The stored bytes of one object. */
export async function objectBytes(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const body = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await (body.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

/** An S3 client whose manifest writes fail: the run dies between a segment's data and its manifest. */
export function failingManifests(client: S3Client): S3Client {
  client.middlewareStack.add(
    (next) => async (args) => {
      const key = (args.input as { Key?: string }).Key ?? '';
      if (key.endsWith('/manifest.json')) {
        throw new Error('killed before the manifest');
      }
      return next(args);
    },
    { step: 'initialize' },
  );
  return client;
}

/**
 * One s3rver with `buckets` for the whole test file, started before its tests and stopped after them;
 * `client()` is valid inside the tests and hooks.
 */
export function s3rverForFile(...buckets: string[]): { client(): S3Client } {
  let s3rver: LocalS3 | undefined;
  beforeAll(async () => {
    s3rver = await startS3rver(buckets);
  });
  afterAll(async () => {
    await s3rver?.stop();
  });
  return {
    client() {
      if (!s3rver) {
        throw new Error('s3rverForFile: client() is for the tests and hooks; the server is not started at collection');
      }
      return s3rver.client();
    },
  };
}
