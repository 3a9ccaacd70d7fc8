import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * s3rver has neither ListMultipartUploads nor AbortMultipartUpload. This loopback proxy in front of it tracks
 * multipart uploads from the real HTTP traffic (initiate, complete, abort) and answers those two calls, so a
 * test can ask S3's own question: is any incomplete multipart upload left?
 */
export interface MultipartProxy {
  readonly endpoint: string;
  /** Uploads initiated and neither completed nor aborted. */
  open(): { key: string; uploadId: string }[];
  /** Upload ids the client aborted. */
  readonly aborted: string[];
  /** Holds UploadPart requests (backpressure all the way to the dump tool) until `releaseParts`. */
  holdParts(): void;
  releaseParts(): void;
  /** UploadPart requests currently held. */
  heldParts(): number;
  stop(): Promise<void>;
}

export async function startMultipartProxy(target: string): Promise<MultipartProxy> {
  const upstream = new URL(target);
  const uploads = new Map<string, string>();
  const aborted: string[] = [];
  let held: (() => void)[] | undefined;
  const server: Server = createServer((req, res) => {
    if (held && req.method === 'PUT' && new URL(req.url ?? '/', 'http://proxy').searchParams.has('partNumber')) {
      held.push(() => handle(req, res));
      return;
    }
    handle(req, res);
  });
  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const [, bucket, ...keyParts] = url.pathname.split('/');
    const key = decodeURIComponent(keyParts.join('/'));
    if (req.method === 'DELETE' && url.searchParams.has('uploadId')) {
      const uploadId = url.searchParams.get('uploadId') as string;
      uploads.delete(uploadId);
      aborted.push(uploadId);
      req.resume();
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'GET' && url.searchParams.has('uploads') && key === '') {
      const items = [...uploads].map(([id, k]) => `<Upload><Key>${k}</Key><UploadId>${id}</UploadId></Upload>`).join('');
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>${bucket}</Bucket><IsTruncated>false</IsTruncated>${items}</ListMultipartUploadsResult>`,
      );
      return;
    }
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (upstreamRes) => {
        const chunks: Buffer[] = [];
        upstreamRes.on('data', (c: Buffer) => chunks.push(c));
        upstreamRes.on('end', () => {
          const body = Buffer.concat(chunks);
          if (req.method === 'POST' && url.searchParams.has('uploads') && upstreamRes.statusCode === 200) {
            const id = /<UploadId>([^<]+)<\/UploadId>/.exec(body.toString())?.[1];
            if (id) uploads.set(id, key);
          }
          if (req.method === 'POST' && url.searchParams.has('uploadId') && upstreamRes.statusCode === 200) {
            uploads.delete(url.searchParams.get('uploadId') as string);
          }
          res.writeHead(upstreamRes.statusCode ?? 500, upstreamRes.headers);
          res.end(body);
        });
      },
    );
    forward.on('error', (error) => res.writeHead(502).end(error.message));
    req.pipe(forward);
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    open: () => [...uploads].map(([uploadId, k]) => ({ key: k, uploadId })),
    aborted,
    holdParts: () => {
      held ??= [];
    },
    releaseParts: () => {
      const waiting = held ?? [];
      held = undefined;
      for (const go of waiting) go();
    },
    heldParts: () => held?.length ?? 0,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
