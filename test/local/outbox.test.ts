import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterEach, describe, expect, it } from 'vitest';
import { Outbox, startLocalSns } from '../../local/outbox';

const dirs: string[] = [];
function outboxFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'strongbox-outbox-'));
  dirs.push(dir);
  return join(dir, 'nested', 'outbox.jsonl');
}

afterEach(() => {
  for (const dir of dirs.splice(0)) {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('Outbox and the local SNS endpoint', () => {
  it('receives a Publish from the real SNS SDK client, appends it as JSONL and tells listeners', async () => {
    // Prepare
    const outbox = new Outbox(outboxFile());
    const heard: string[] = [];
    outbox.onMessage((m) => heard.push(m.subject ?? ''));
    const sns = await startLocalSns(outbox);
    const client = new SNSClient({ endpoint: sns.endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });

    // Act
    const response = await client.send(
      new PublishCommand({
        TopicArn: 'arn:aws:sns:eu-west-1:000000000000:Chat',
        Subject: 'Backup demo succeeded',
        Message: JSON.stringify({ backupId: 'demo-20261121T000000Z-full', bytes: 42 }),
        MessageAttributes: { severity: { DataType: 'String', StringValue: 'info' } },
      }),
    );
    await sns.stop();

    // Assess
    expect(response.MessageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(heard).toEqual(['Backup demo succeeded']);
    expect(outbox.read()).toEqual([
      {
        at: expect.any(String),
        topicArn: 'arn:aws:sns:eu-west-1:000000000000:Chat',
        subject: 'Backup demo succeeded',
        message: '{"backupId":"demo-20261121T000000Z-full","bytes":42}',
        attributes: { severity: 'info' },
        via: 'sdk',
      },
    ]);
  });

  it('rejects actions it does not implement instead of pretending they worked', async () => {
    // Prepare
    const outbox = new Outbox(outboxFile());
    const sns = await startLocalSns(outbox);

    // Act
    const response = await fetch(sns.endpoint, { method: 'POST', body: 'Action=CreateTopic&Name=x' });
    const text = await response.text();
    await sns.stop();

    // Assess
    expect(response.status).toBe(400);
    expect(text).toContain('only serves Publish and PublishBatch, not CreateTopic');
    expect(outbox.read()).toEqual([]);
  });
});
