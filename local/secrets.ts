import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Secrets Manager on loopback, for the one call Strongbox makes: `GetSecretValue` (JSON 1.1 protocol). The
 * restore task and the restore Validate Lambda read a restore target's credentials through the SDK from the
 * ARN in the restore input, exactly as in AWS; locally the SDK is pointed here with
 * AWS_ENDPOINT_URL_SECRETS_MANAGER. Values come from the local config (`local.credentials`, `local.secrets`)
 * or from `put` in tests, and are never logged.
 */
export interface LocalSecrets {
  readonly endpoint: string;
  /** Stores (or replaces) a secret's string value under its ARN. */
  put(secretArn: string, value: string): void;
  stop(): Promise<void>;
}

function secretName(secretArn: string): string {
  return secretArn.replace(/^arn:[^:]+:secretsmanager:[^:]+:\d+:secret:/, '');
}

export async function startLocalSecrets(initial: Readonly<Record<string, string>> = {}): Promise<LocalSecrets> {
  const values = new Map<string, string>(Object.entries(initial));
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const target = String(request.headers['x-amz-target'] ?? '');
      response.setHeader('content-type', 'application/x-amz-json-1.1');
      const fail = (status: number, type: string, message: string) => {
        response.statusCode = status;
        response.setHeader('x-amzn-errortype', type);
        response.end(JSON.stringify({ __type: type, message }));
      };
      if (target !== 'secretsmanager.GetSecretValue') {
        fail(400, 'InvalidRequestException', `the local Secrets Manager only serves GetSecretValue, not ${target || '(none)'}`);
        return;
      }
      let secretId = '';
      try {
        secretId = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { SecretId?: unknown }).SecretId ?? '');
      } catch {
        fail(400, 'InvalidRequestException', 'the request body is not JSON');
        return;
      }
      // AWS accepts the full ARN or the name; both are looked up here.
      const arn = values.has(secretId) ? secretId : [...values.keys()].find((key) => secretName(key) === secretId);
      if (arn === undefined) {
        fail(400, 'ResourceNotFoundException', `Secrets Manager can't find the specified secret (${secretId}); add it under local.secrets`);
        return;
      }
      response.end(
        JSON.stringify({
          ARN: arn,
          Name: secretName(arn),
          SecretString: values.get(arn),
          VersionId: randomUUID(),
          VersionStages: ['AWSCURRENT'],
          CreatedDate: Date.now() / 1000,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    put: (secretArn, value) => {
      values.set(secretArn, value);
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
