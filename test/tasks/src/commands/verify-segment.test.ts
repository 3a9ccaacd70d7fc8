import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SegmentManifest } from '../../../../contracts/logs';
import { type EngineServer, startMariadb } from '../../../../dev/servers/engines';
import { type LocalS3, startS3rver } from '../../../../dev/servers/s3rver';
import { connect } from '../../../../engines/mysql/connection';
import { runTool } from '../../../../engines/tools';
import { archiveLogs } from '../../../../tasks/src/commands/archive-logs';
import { verifySegment } from '../../../../tasks/src/commands/verify-segment';

const BUCKET = 'vault';

describe('verifySegment against segments archived from MariaDB 10.11', () => {
  let server: EngineServer;
  let s3rver: LocalS3;
  let s3: S3Client;
  let work: string;
  let segment: SegmentManifest;

  /** Stores `bytes` under a key of its own and returns the manifest that describes them truthfully. */
  async function stored(bytes: Buffer, changes: Partial<SegmentManifest> = {}): Promise<SegmentManifest> {
    const key = `${segment.artifact.key}.case-${createHash('sha256').update(bytes).digest('hex').slice(0, 8)}`;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: bytes }));
    const artifact = { ...segment.artifact, key, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    return { ...segment, ...changes, artifact };
  }

  beforeAll(async () => {
    [server, s3rver] = await Promise.all([startMariadb({ binlogFormat: 'ROW' }), startS3rver([BUCKET])]);
    s3 = s3rver.client();
    work = mkdtempSync(join(tmpdir(), 'strongbox-verify-test-'));
    const connection = {
      host: server.host,
      port: server.port,
      username: server.username,
      password: server.password,
      tls: 'disable' as const,
    };
    const conn = await connect(connection);
    await conn.query('CREATE TABLE strongbox.v (id INT PRIMARY KEY)');
    await conn.query('INSERT INTO strongbox.v VALUES (1), (2)');
    await conn.end();
    const result = await archiveLogs({
      s3,
      bucket: BUCKET,
      database: 'billing',
      connection,
      intervalMinutes: 5,
      compressionLevel: 3,
      workDir: work,
    });
    segment = result.segments[0];
  });

  afterAll(async () => {
    await Promise.all([server?.stop(), s3rver?.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  it('passes a segment as archived, with the events the stock tool read', async () => {
    // Act
    const record = await verifySegment(s3, BUCKET, segment, work, () => new Date('2026-12-01T10:00:00Z'));

    // Assess
    expect(record).toEqual({
      schemaVersion: 1,
      segmentId: segment.segmentId,
      passed: true,
      verifiedAt: '2026-12-01T10:00:00.000Z',
      checks: { bytes: true, sha256: true, parsed: true, endPosition: true },
      events: expect.any(Number),
    });
    expect(record.events).toBeGreaterThan(2);
  });

  it('fails a segment whose stored bytes are valid zstd but no binlog, naming the stock tool', async () => {
    // Prepare
    const compressed = Buffer.from(await runTool('sh', ['-c', "printf 'SELECT 1;\\n' | zstd -q -c | base64 -w0"]), 'base64');
    const manifest = await stored(compressed);

    // Act
    const record = await verifySegment(s3, BUCKET, manifest, work);

    // Assess
    expect(record.passed).toBe(false);
    expect(record.checks).toEqual({ bytes: true, sha256: true, parsed: false, endPosition: false });
    expect(record.reason).toMatch(/^mariadb-binlog could not parse the segment: /);
  });

  it('fails a segment whose bytes are no zstd frame, and one whose last event is not where the manifest says', async () => {
    // Prepare
    const notZstd = await stored(Buffer.from('plain bytes, no zstd frame'));
    const shorter = { ...segment, endPosition: segment.endPosition + 100 };

    // Act
    const undecodable = await verifySegment(s3, BUCKET, notZstd, work);
    const misplaced = await verifySegment(s3, BUCKET, shorter, work);

    // Assess
    expect(undecodable.checks).toEqual({ bytes: true, sha256: true, parsed: false, endPosition: false });
    expect(undecodable.reason).toMatch(/^zstd could not decompress the segment: /);
    expect(misplaced.checks).toEqual({ bytes: true, sha256: true, parsed: true, endPosition: false });
    expect(misplaced.reason).toBe(`the last event ends at ${segment.endPosition}, the manifest says ${segment.endPosition + 100}`);
  });
});
