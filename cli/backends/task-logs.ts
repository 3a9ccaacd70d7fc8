import { type CloudWatchLogsClient, GetLogEventsCommand, type OutputLogEvent } from '@aws-sdk/client-cloudwatch-logs';
import { taskLineText } from './runner';

/**
 * Follows the CloudWatch log streams of the tasks a deployed execution started, so that the CLI shows their lines
 * (progress included) exactly as it does for a local run: each event is a line the task wrote, read with
 * GetLogEvents from the head of the stream and then from the last nextForwardToken.
 */

export interface TaskStream {
  readonly group: string;
  readonly stream: string;
}

/** GetLogEvents pages one poll reads at most, so that a stream with a backlog cannot hold up the history. */
export const MAX_PAGES_PER_POLL = 10;

interface Followed {
  readonly where: TaskStream;
  /** The nextForwardToken of the last page read; absent before the first one. */
  token?: string;
  /** An error the follower cannot retry: the stream is not read again. */
  dead?: boolean;
}

function errorName(error: unknown): string {
  return (error as { name?: string } | undefined)?.name ?? '';
}

function lineOf(event: OutputLogEvent): string | undefined {
  const raw = (event.message ?? '').replace(/\n$/, '');
  let json: Record<string, unknown> | undefined;
  if (raw.startsWith('{')) {
    try {
      json = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      json = undefined;
    }
  }
  // The awslogs driver merges stdout and stderr into one stream; the task's stdout lines are all JSON.
  return taskLineText(json, raw, json ? 'stdout' : 'stderr');
}

export class TaskLogFollower {
  private readonly followed = new Map<string, Followed>();
  private denied = false;

  /**
   * @param say one readable line (the runner's taskLine)
   * @param fallback the line naming the stream for the operator to read themselves, when it cannot be read here
   */
  public constructor(
    private readonly logs: CloudWatchLogsClient,
    private readonly say: (line: string) => void,
    private readonly fallback: (where: TaskStream) => string,
  ) {}

  public add(where: TaskStream): void {
    const key = `${where.group}\n${where.stream}`;
    if (!this.followed.has(key)) {
      this.followed.set(key, { where });
    }
  }

  /** Reads what each followed stream gained since the last poll. */
  public async poll(): Promise<void> {
    for (const entry of this.followed.values()) {
      if (this.denied) {
        return;
      }
      if (!entry.dead) {
        await this.read(entry);
      }
    }
  }

  private async read(entry: Followed): Promise<void> {
    for (let page = 0; page < MAX_PAGES_PER_POLL; page++) {
      let response: { events?: OutputLogEvent[]; nextForwardToken?: string };
      try {
        response = await this.logs.send(
          new GetLogEventsCommand({
            logGroupName: entry.where.group,
            logStreamName: entry.where.stream,
            // Required with a nextForwardToken, and from the head the first time so no early line is missed.
            startFromHead: true,
            ...(entry.token !== undefined && { nextToken: entry.token }),
          }),
        );
      } catch (error) {
        this.failed(entry, error);
        return;
      }
      for (const event of response.events ?? []) {
        const text = lineOf(event);
        if (text !== undefined) {
          this.say(text);
        }
      }
      const next = response.nextForwardToken;
      // At the end of the stream GetLogEvents returns the token it was given; a page can be empty before the end.
      const caughtUp = next === undefined || next === entry.token;
      entry.token = next ?? entry.token;
      if (caughtUp) {
        return;
      }
    }
  }

  private failed(entry: Followed, error: unknown): void {
    const name = errorName(error);
    if (name === 'ResourceNotFoundException' || name === 'ThrottlingException') {
      // The task has not written its first line yet, or the account's GetLogEvents quota is spent
      // (the SDK already backed off and retried): the next poll tries again.
      return;
    }
    if (name === 'AccessDeniedException' || name === 'AccessDenied') {
      this.denied = true;
      this.say(
        `progress not shown: AccessDenied: these credentials may not call logs:GetLogEvents on log group ${entry.where.group} (grant it, see README "The strongbox command (CLI)"); following the steps only`,
      );
      return;
    }
    entry.dead = true;
    this.say(
      `${this.fallback(entry.where)} (the CLI could not read it: ${name || 'Error'}: ${String((error as Error)?.message ?? error).split('\n')[0]})`,
    );
  }
}
