import { Aws } from 'aws-cdk-lib';

/*
 * Names and paths of the dump task's roles, in a file of their own: the DumpTask construct creates the roles and
 * run-task-grants lets the state machines pass them, and run-task-grants is below restore-workflow, which
 * dump-task imports (RESTORE_TARGET_TAG); keeping these in dump-task made that an import circle.
 */

/**
 * IAM paths of the task roles: the state machines may pass `restore` roles (restore, drill) or `dump` and
 * `execution` roles (backup) by path, so their policies stay the same size at 4 or 500 databases.
 */
export function taskRolePath(app: string, kind: 'dump' | 'restore' | 'execution'): string {
  return `/strongbox/${app}/${kind}/`;
}

/**
 * `<app>.<database>`: a restore role has a deterministic name, so the Lambdas find it from one ARN template
 * instead of a per-database map (at most 20 + 1 + 40 = 61 characters; IAM allows 64).
 */
export function restoreRoleName(app: string, database: string): string {
  return `${app}.${database}`;
}

/** The restore role ARN with `{database}` for the database name (STRONGBOX_RESTORE_ROLE_ARN_TEMPLATE). */
export function restoreRoleArnTemplate(app: string): string {
  return `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role${taskRolePath(app, 'restore')}${restoreRoleName(app, '{database}')}`;
}

/** A role path pattern as IAM resource ARN: every role under that path. */
export function taskRolePathArn(app: string, kind: 'dump' | 'restore' | 'execution'): string {
  return `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role${taskRolePath(app, kind)}*`;
}
