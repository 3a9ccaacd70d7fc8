import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

// s3rver stores a streamed PutObject with its chunk framing unless the SDK only sends checksums when
// an operation requires them (DESIGN.md, "Known facts").
process.env.AWS_REQUEST_CHECKSUM_CALCULATION = 'WHEN_REQUIRED';
process.env.AWS_RESPONSE_CHECKSUM_VALIDATION = 'WHEN_REQUIRED';
process.env.AWS_REGION ??= 'eu-west-1';
process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
// Powertools metrics would otherwise warn about a missing namespace in every unit test.
process.env.POWERTOOLS_METRICS_NAMESPACE ??= 'Strongbox';
process.env.POWERTOOLS_DEV ??= 'true';
// The SDK warns once per process that Node 20 loses support in 2027; CI runs Node 20 on purpose (the machine's).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

// In-process synths (new App() without an outdir) would each leave a cdk.out* directory in the system temp
// directory; one per test file, removed when the file is done, keeps /tmp clean.
const cdkOutdir = mkdtempSync(join(tmpdir(), 'strongbox-test-cdk-'));
process.env.CDK_OUTDIR ??= cdkOutdir;
afterAll(() => rmSync(cdkOutdir, { recursive: true, force: true }));

// Bundling runs esbuild per function and prints a block for each; only the one test that checks the bundle
// (test/infra/constructs/app-function.test.ts) turns it back on, through postCliContext, which wins over this.
process.env.CDK_CONTEXT_JSON ??= JSON.stringify({ 'aws:cdk:bundling-stacks': [] });

// Tests that run a task command in process would print its JSON log and result lines (tasks/src/log.ts) and its
// one-line error on stderr between the file names; they assert on results, records and errors instead.
// STRONGBOX_TEST_TASK_LOG=1 shows them again.
if (!process.env.STRONGBOX_TEST_TASK_LOG) {
  const quiet = (stream: NodeJS.WriteStream, dropped: (line: string) => boolean) => {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) =>
      typeof chunk === 'string' && dropped(chunk) ? true : write(chunk, ...rest)) as typeof stream.write;
  };
  quiet(process.stdout, (line) => line.startsWith('{"level":') || line.startsWith('{"command":'));
  quiet(process.stderr, (line) => line.startsWith('strongbox: '));
}
