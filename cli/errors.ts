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

/** Credential and network failures read as "cannot reach AWS", with what to do, instead of an SDK stack. */
export function unreachable(error: unknown, what: string): VaultUnavailableError {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const hint =
    e.name === 'CredentialsProviderError' || /credential/i.test(e.message ?? '')
      ? 'configure AWS credentials (AWS_PROFILE, aws sso login, environment variables) or use --local'
      : e.name === 'AccessDeniedException' || e.name === 'AccessDenied' || e.$metadata?.httpStatusCode === 403
        ? 'the credentials lack the permission; use a role that may read the vault and start the state machines'
        : 'check the network and the region in the config';
  return new VaultUnavailableError(`cannot ${what}: ${e.name ?? 'Error'}: ${e.message ?? String(error)}; ${hint}`);
}
