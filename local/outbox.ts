import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';

/**
 * Where SNS messages go locally: a JSONL file (one message per line), also handed to `onMessage` so the
 * demo can print it. Lambdas publish through the real SNS SDK client; `startLocalSns` serves the SNS Query
 * API on loopback and the runtime points the SDK at it with `AWS_ENDPOINT_URL_SNS`, so no handler code
 * knows it runs locally. Publish Task states in a definition write here directly.
 */
export interface OutboxMessage {
  readonly at: string;
  readonly topicArn: string;
  readonly subject?: string;
  readonly message: string;
  readonly attributes: Record<string, string>;
  /** Which publisher: `sdk` (a Lambda through the local endpoint) or the Task state's name. */
  readonly via: string;
}

export class Outbox {
  private readonly listeners: ((message: OutboxMessage) => void)[] = [];

  public constructor(public readonly file: string) {
    mkdirSync(dirname(file), { recursive: true });
  }

  public onMessage(listener: (message: OutboxMessage) => void): void {
    this.listeners.push(listener);
  }

  public publish(message: Omit<OutboxMessage, 'at'>): OutboxMessage {
    const record: OutboxMessage = { at: new Date().toISOString(), ...message };
    appendFileSync(this.file, `${JSON.stringify(record)}\n`);
    for (const listener of this.listeners) {
      listener(record);
    }
    return record;
  }

  /** Starts an empty outbox (the demo shows one run's messages). */
  public clear(): void {
    writeFileSync(this.file, '');
  }

  /** Every message so far, oldest first. */
  public read(): OutboxMessage[] {
    if (!existsSync(this.file)) {
      return [];
    }
    return readFileSync(this.file, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as OutboxMessage);
  }
}

export interface LocalSns {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Unsupported SNS actions fail loudly rather than pretending to succeed. */
function errorXml(code: string, message: string): string {
  return `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Reads the Query-protocol form `MessageAttributes.entry.N.Name` / `.Value.StringValue` into a flat map. */
function messageAttributes(form: URLSearchParams, prefix = 'MessageAttributes.entry.'): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (let n = 1; form.has(`${prefix}${n}.Name`); n++) {
    const name = form.get(`${prefix}${n}.Name`)!;
    attributes[name] = form.get(`${prefix}${n}.Value.StringValue`) ?? form.get(`${prefix}${n}.Value.BinaryValue`) ?? '';
  }
  return attributes;
}

/** Serves SNS `Publish` and `PublishBatch` (Query protocol) on loopback into `outbox`. */
export async function startLocalSns(outbox: Outbox): Promise<LocalSns> {
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const action = form.get('Action');
      response.setHeader('content-type', 'text/xml');
      const requestId = randomUUID();
      if (action === 'Publish') {
        const topicArn = form.get('TopicArn') ?? form.get('TargetArn') ?? '';
        outbox.publish({
          topicArn,
          subject: form.get('Subject') ?? undefined,
          message: form.get('Message') ?? '',
          attributes: messageAttributes(form),
          via: 'sdk',
        });
        response.end(
          `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${randomUUID()}</MessageId></PublishResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></PublishResponse>`,
        );
        return;
      }
      if (action === 'PublishBatch') {
        const topicArn = form.get('TopicArn') ?? '';
        const ids: string[] = [];
        for (let n = 1; form.has(`PublishBatchRequestEntries.member.${n}.Id`); n++) {
          const entry = `PublishBatchRequestEntries.member.${n}.`;
          ids.push(form.get(`${entry}Id`)!);
          outbox.publish({
            topicArn,
            subject: form.get(`${entry}Subject`) ?? undefined,
            message: form.get(`${entry}Message`) ?? '',
            attributes: messageAttributes(form, `${entry}MessageAttributes.entry.`),
            via: 'sdk',
          });
        }
        const members = ids.map((id) => `<member><Id>${escapeXml(id)}</Id><MessageId>${randomUUID()}</MessageId></member>`).join('');
        response.end(
          `<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult><Successful>${members}</Successful><Failed/></PublishBatchResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></PublishBatchResponse>`,
        );
        return;
      }
      response.statusCode = 400;
      response.end(errorXml('InvalidAction', `the local SNS endpoint only serves Publish and PublishBatch, not ${action ?? '(none)'}`));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
