/**
 * Exit codes scripts can rely on (README, "The strongbox command"):
 *   0    the command did what it was asked
 *   1    the operation failed or was refused (a restore or drill that failed, a recovery point that is not there)
 *   2    bad arguments or input: nothing was started
 *   3    the vault or AWS could not be reached (credentials, network, no local vault in the data directory)
 *   130  the run was stopped with Ctrl-C (the execution was stopped)
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, unavailable: 3, stopped: 130 } as const;

/** Bad arguments or input; the message names the flag or field and the fix. */
export class CliUsageError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'CliUsageError';
  }
}

/** The operation ran (or was checked) and did not succeed. */
export class OperationFailedError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'OperationFailedError';
  }
}

/** The vault or the AWS account cannot be reached. */
export class VaultUnavailableError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'VaultUnavailableError';
  }
}
