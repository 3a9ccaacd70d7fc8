import type { S3Client } from '@aws-sdk/client-s3';
import { Aws } from 'aws-cdk-lib';
import type { Plan } from '../../contracts/plan';
import type { StrongboxConfig } from '../../infra/config/schema';
import { vaultBucketName } from '../../infra/constructs/vault';

/** One of the two vaults, as the commands read it. */
export interface VaultSide {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly region: string;
}

/** Where a command reads from: the deployed vaults, or the local vault of `npm run demo`. */
export interface VaultAccess {
  readonly where: 'aws' | 'local';
  readonly primary: VaultSide;
  readonly replica: VaultSide;
  /** False for s3rver, which has no Object Lock: lock state is then "unknown (not supported by this vault)". */
  readonly objectLock: boolean;
  /** `s3://<bucket> (eu-west-1)` or `local vault .strongbox/vault`, for headers and reports. */
  readonly description: string;
  readonly config: StrongboxConfig;
  readonly plan: Plan;
  close(): Promise<void>;
}

/**
 * The vault bucket names for an account: the constructs' own naming (`<app>-vault[-replica]-<account>-<region>`),
 * with the AWS::AccountId token they name the account by replaced by the real one.
 */
export function vaultBuckets(config: StrongboxConfig, account: string): { primary: string; replica: string } {
  const named = (role: 'primary' | 'replica', region: string) =>
    vaultBucketName(config.app.name, role, region).split(Aws.ACCOUNT_ID).join(account);
  return { primary: named('primary', config.vault.primaryRegion), replica: named('replica', config.vault.replicaRegion) };
}
