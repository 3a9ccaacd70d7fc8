import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3, startS3rver } from '../../../dev/servers/s3rver';

describe('s3rver test support', () => {
  let s3: LocalS3;
  beforeAll(async () => {
    s3 = await startS3rver(['vault']);
  });
  afterAll(async () => s3.stop());

  it('lists more than one page of keys', async () => {
    // Prepare
    const client = s3.client();
    for (let i = 0; i < 5; i++) {
      await client.send(new PutObjectCommand({ Bucket: 'vault', Key: `k/${i}`, Body: `v${i}` }));
    }
    // Act
    const first = await client.send(new ListObjectsV2Command({ Bucket: 'vault', Prefix: 'k/', MaxKeys: 2 }));
    const second = await client.send(
      new ListObjectsV2Command({ Bucket: 'vault', Prefix: 'k/', MaxKeys: 10, ContinuationToken: first.NextContinuationToken }),
    );
    // Assess
    expect(first.Contents?.map((o) => o.Key)).toEqual(['k/0', 'k/1']);
    expect(second.Contents?.map((o) => o.Key)).toEqual(['k/2', 'k/3', 'k/4']);
  });
});
