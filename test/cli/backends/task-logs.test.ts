import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { MAX_PAGES_PER_POLL, TaskLogFollower } from '../../../cli/backends/task-logs';

/** A deployed task's log stream read with GetLogEvents (aws-sdk-client-mock) into the lines the CLI prints. */

const logs = new CloudWatchLogsClient({ region: 'eu-west-1' });
const logsMock = mockClient(logs);
const where = { group: '/strongbox/acme/dump/orders', stream: 'orders/dump/0f1e2d3c' };
const fallback = (w: { group: string; stream: string }) => `tail ${w.group} ${w.stream}`;

const progress = (fields: Record<string, unknown>) => ({
  timestamp: 1,
  message: JSON.stringify({ level: 'info', time: '2026-12-01T10:00:00.000Z', message: 'restore progress', ...fields }),
});
const notFound = () =>
  Object.assign(new Error('The specified log stream does not exist.'), { name: 'ResourceNotFoundException', $metadata: {} });

function following(): { follower: TaskLogFollower; lines: string[] } {
  const lines: string[] = [];
  const follower = new TaskLogFollower(logs, (line) => lines.push(line), fallback);
  follower.add(where);
  return { follower, lines };
}

beforeEach(() => logsMock.reset());

describe('TaskLogFollower', () => {
  it('prints planted progress events with percent and bytes as the local run does, and pages by nextForwardToken', async () => {
    // Prepare
    logsMock
      .on(GetLogEventsCommand)
      .resolvesOnce({
        events: [
          progress({ bytes: 30_000_000, mbPerSecond: 6, elapsedSeconds: 5, totalBytes: 100_000_000, percent: 30, etaSeconds: 11.7 }),
        ],
        nextForwardToken: 'f/1',
      })
      // GetLogEvents may answer an empty page while more lies behind its token.
      .resolvesOnce({ events: [], nextForwardToken: 'f/2' })
      .resolvesOnce({
        // A tool's stderr line is shown as it is; the task's result line (no level) is not shown.
        events: [
          { timestamp: 2, message: 'zstd: warning on stderr\n' },
          { timestamp: 3, message: JSON.stringify({ result: { restored: true } }) },
        ],
        nextForwardToken: 'f/3',
      })
      .resolvesOnce({ events: [], nextForwardToken: 'f/3' })
      .resolvesOnce({
        events: [
          progress({
            bytes: 100_000_000,
            averageMbPerSecond: 6.2,
            elapsedSeconds: 16,
            totalBytes: 100_000_000,
            percent: 100,
            parts: 4,
            totalParts: 4,
            final: true,
          }),
        ],
        nextForwardToken: 'f/4',
      })
      .resolves({ events: [], nextForwardToken: 'f/4' });
    const { follower, lines } = following();

    // Act
    await follower.poll();
    const afterFirstPoll = [...lines];
    await follower.poll();

    // Assess
    expect(afterFirstPoll).toEqual(['restore: 30.0% of 100 MB (30.0 MB), 6.0 MB/s, ETA 11.7 s, 5 s', 'zstd: warning on stderr']);
    expect(lines.slice(2)).toEqual(['restore: 100% of 100 MB (100,000,000 bytes in 4 parts), 6.2 MB/s on average over 16 s']);
    expect(logsMock.commandCalls(GetLogEventsCommand).map((c) => c.args[0].input)).toEqual([
      { logGroupName: where.group, logStreamName: where.stream, startFromHead: true },
      { logGroupName: where.group, logStreamName: where.stream, startFromHead: true, nextToken: 'f/1' },
      { logGroupName: where.group, logStreamName: where.stream, startFromHead: true, nextToken: 'f/2' },
      { logGroupName: where.group, logStreamName: where.stream, startFromHead: true, nextToken: 'f/3' },
      { logGroupName: where.group, logStreamName: where.stream, startFromHead: true, nextToken: 'f/3' },
      { logGroupName: where.group, logStreamName: where.stream, startFromHead: true, nextToken: 'f/4' },
    ]);
  });

  it('retries a stream that does not exist yet quietly, and reads it from its head once the task has logged', async () => {
    // Prepare
    logsMock
      .on(GetLogEventsCommand)
      .rejectsOnce(notFound())
      .rejectsOnce(notFound())
      .resolvesOnce({
        events: [progress({ bytes: 0, mbPerSecond: 0, elapsedSeconds: 1, totalBytes: 5_000_000, percent: 0 })],
        nextForwardToken: 'f/1',
      })
      .resolves({ events: [], nextForwardToken: 'f/1' });
    const { follower, lines } = following();

    // Act
    await follower.poll();
    await follower.poll();
    const beforeTheTaskLogged = [...lines];
    await follower.poll();

    // Assess
    expect(beforeTheTaskLogged).toEqual([]);
    expect(lines).toEqual(['restore: 0.0% of 5.0 MB (0 B), 0.0 MB/s, 1 s']);
    expect(logsMock.commandCalls(GetLogEventsCommand)[2].args[0].input).toEqual({
      logGroupName: where.group,
      logStreamName: where.stream,
      startFromHead: true,
    });
  });

  it('skips a throttled poll without a word and reads on from the same token at the next one', async () => {
    // Prepare
    logsMock
      .on(GetLogEventsCommand)
      .resolvesOnce({ events: [{ timestamp: 1, message: 'first' }], nextForwardToken: 'f/1' })
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} }))
      .resolvesOnce({ events: [{ timestamp: 2, message: 'second' }], nextForwardToken: 'f/2' })
      .resolves({ events: [], nextForwardToken: 'f/2' });
    const { follower, lines } = following();

    // Act
    await follower.poll();
    await follower.poll();

    // Assess
    expect(lines).toEqual(['first', 'second']);
    expect(logsMock.commandCalls(GetLogEventsCommand).map((c) => c.args[0].input.nextToken)).toEqual([undefined, 'f/1', 'f/1', 'f/2']);
  });

  it('says once that AccessDenied hides the progress, names the permission and the group, and stops asking', async () => {
    // Prepare
    logsMock
      .on(GetLogEventsCommand)
      .rejects(
        Object.assign(new Error('User is not authorized to perform: logs:GetLogEvents'), { name: 'AccessDeniedException', $metadata: {} }),
      );
    const { follower, lines } = following();
    follower.add({ group: '/strongbox/acme/dump/billing', stream: 'billing/dump/1a2b' });

    // Act
    await follower.poll();
    await follower.poll();

    // Assess
    expect(lines).toEqual([
      'progress not shown: AccessDenied: these credentials may not call logs:GetLogEvents on log group /strongbox/acme/dump/orders (grant it, see README "The strongbox command (CLI)"); following the steps only',
    ]);
    expect(logsMock.commandCalls(GetLogEventsCommand)).toHaveLength(1);
  });

  it('falls back to naming the stream on an error it cannot retry, and leaves that stream alone after', async () => {
    // Prepare
    logsMock
      .on(GetLogEventsCommand)
      .rejects(Object.assign(new Error('1 validation error detected\nmore'), { name: 'InvalidParameterException', $metadata: {} }));
    const { follower, lines } = following();

    // Act
    await follower.poll();
    await follower.poll();

    // Assess
    expect(lines).toEqual([
      `tail ${where.group} ${where.stream} (the CLI could not read it: InvalidParameterException: 1 validation error detected)`,
    ]);
    expect(logsMock.commandCalls(GetLogEventsCommand)).toHaveLength(1);
  });

  it('reads at most MAX_PAGES_PER_POLL pages of a backlog per poll and goes on from the last token on the next', async () => {
    // Prepare
    let page = 0;
    logsMock.on(GetLogEventsCommand).callsFake(() => {
      page += 1;
      return { events: [{ timestamp: page, message: `line ${page}` }], nextForwardToken: `f/${page}` };
    });
    const { follower } = following();

    // Act
    await follower.poll();
    const firstPoll = logsMock.commandCalls(GetLogEventsCommand).length;
    await follower.poll();

    // Assess
    expect(firstPoll).toBe(MAX_PAGES_PER_POLL);
    expect(logsMock.commandCalls(GetLogEventsCommand)[MAX_PAGES_PER_POLL].args[0].input.nextToken).toBe(`f/${MAX_PAGES_PER_POLL}`);
  });
});
