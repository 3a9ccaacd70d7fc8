import { Aws, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { TIER_TAG as TIER_TAG_KEY } from '../../contracts/vault';
import { flattenReference } from './nag';

/**
 * Which of the two vaults a bucket is. The names are deterministic so that the primary stack can reference
 * the replica vault (another region, another stack) without exports, lookups or custom resources.
 */
export type VaultRole = 'primary' | 'replica';

/**
 * `<app>-vault-<account>-<region>` (primary) or `<app>-vault-replica-<account>-<region>` (replica). The account
 * is the `AWS::AccountId` pseudo parameter, so the name stays env-agnostic and both stacks agree on it.
 */
export function vaultBucketName(app: string, role: VaultRole, region: string): string {
  return `${app}-vault${role === 'replica' ? '-replica' : ''}-${Aws.ACCOUNT_ID}-${region}`;
}

/** `alias/<app>-vault` or `alias/<app>-vault-replica`: how the other region finds a created key. */
export function vaultKeyAliasName(app: string, role: VaultRole): string {
  return `alias/${app}-vault${role === 'replica' ? '-replica' : ''}`;
}

/** The alias ARN; S3 accepts it as `SSEKMSKeyId`, IAM does not (use {@link grantVaultKeyUse} for IAM). */
export function vaultKeyAliasArn(app: string, role: VaultRole, region: string): string {
  return `arn:${Aws.PARTITION}:kms:${region}:${Aws.ACCOUNT_ID}:${vaultKeyAliasName(app, role)}`;
}

/**
 * Where a vault is, as plain values: enough to grant on it from any stack in the same account. The replica
 * vault is known to the primary stack only this way.
 */
export interface VaultLocation {
  readonly bucketName: string;
  readonly bucketArn: string;
  readonly region: string;
  /** Key ARN when known (created in this stack, or imported through `vault.kms.mode: import`). */
  readonly keyArn?: string;
  /** Alias of a key created by Strongbox in another stack; IAM then matches it with `kms:ResourceAliases`. */
  readonly keyAliasName?: string;
}

/** The replica vault as seen from the primary region. */
export function replicaVaultLocation(app: string, replicaRegion: string, importedKeyArn?: string): VaultLocation {
  const bucketName = vaultBucketName(app, 'replica', replicaRegion);
  return {
    bucketName,
    bucketArn: `arn:${Aws.PARTITION}:s3:::${bucketName}`,
    region: replicaRegion,
    keyArn: importedKeyArn,
    keyAliasName: importedKeyArn ? undefined : vaultKeyAliasName(app, 'replica'),
  };
}

/** S3 actions per access level. Kept minimal: each role of the pipeline picks exactly what it needs. */
export const VAULT_ACCESS = {
  /** Dump task: upload (multipart) and abort. No read, no delete, no retention changes. */
  write: ['s3:PutObject', 's3:AbortMultipartUpload'],
  /** Verify, restore, drill: read bodies and their metadata. */
  read: ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectAttributes', 's3:GetObjectTagging'],
} as const;

/** KMS actions S3 performs on the caller's behalf. A multipart upload needs Decrypt to assemble the parts. */
const KEY_ACTIONS = {
  encrypt: ['kms:GenerateDataKey', 'kms:Decrypt'],
  decrypt: ['kms:Decrypt'],
} as const;

export interface VaultGrantOptions {
  /** Object actions on `<prefix>*`. */
  readonly objectActions?: readonly string[];
  /** Bucket actions (`s3:ListBucket`, `s3:ListBucketVersions`), restricted to `<prefix>*` by `s3:prefix`. */
  readonly listActions?: readonly string[];
  /** What the grantee does with the vault key through S3. @default none */
  readonly key?: 'encrypt' | 'decrypt';
}

/**
 * Grants `options` under `prefix` of a vault, least privilege: objects under the prefix only, listing only
 * with that prefix, and the key only through S3 in the vault's region (`kms:ViaService`). The wildcard at the
 * end of the prefix is the point of a per-prefix grant, so it is acknowledged for cdk-nag right here, on the
 * grantee, with the exact resource it names.
 */
export function grantVaultAccess(grantee: iam.IGrantable, vault: VaultLocation, prefix: string, options: VaultGrantOptions): void {
  if (prefix.includes('*')) {
    throw new Error(`grantVaultAccess: prefix must be literal (no "*"), got "${prefix}"`);
  }
  const objectResource = `${vault.bucketArn}/${prefix}*`;
  const statements: iam.PolicyStatement[] = [];
  if (options.objectActions?.length) {
    statements.push(new iam.PolicyStatement({ actions: [...options.objectActions], resources: [objectResource] }));
  }
  if (options.listActions?.length) {
    statements.push(
      new iam.PolicyStatement({
        actions: [...options.listActions],
        resources: [vault.bucketArn],
        conditions: prefix ? { StringLike: { 's3:prefix': [`${prefix}*`] } } : undefined,
      }),
    );
  }
  if (options.key) {
    statements.push(...keyStatements(vault, KEY_ACTIONS[options.key]));
  }
  for (const statement of statements) {
    grantee.grantPrincipal.addToPrincipalPolicy(statement);
  }
  acknowledgeWildcards(grantee, statements, `${prefix}*`);
}

function keyStatements(vault: VaultLocation, actions: readonly string[]): iam.PolicyStatement[] {
  const viaS3 = { 'kms:ViaService': `s3.${vault.region}.amazonaws.com` };
  if (vault.keyArn) {
    return [new iam.PolicyStatement({ actions: [...actions], resources: [vault.keyArn], conditions: { StringEquals: viaS3 } })];
  }
  if (!vault.keyAliasName) {
    throw new Error(`grantVaultAccess: vault ${vault.bucketName} has neither keyArn nor keyAliasName`);
  }
  // The replica key's ARN is minted in the other region at deploy time; its alias is deterministic.
  return [
    new iam.PolicyStatement({
      actions: [...actions],
      resources: [`arn:${Aws.PARTITION}:kms:${vault.region}:${Aws.ACCOUNT_ID}:key/*`],
      conditions: { StringEquals: viaS3, 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [vault.keyAliasName] } },
    }),
  ];
}

/** cdk-nag reports IAM5 per flattened resource string; compute exactly those strings and acknowledge them. */
function acknowledgeWildcards(grantee: iam.IGrantable, statements: readonly iam.PolicyStatement[], what: string): void {
  const principal = grantee.grantPrincipal;
  if (!(principal instanceof Construct)) {
    return;
  }
  const stack = Stack.of(principal);
  for (const statement of statements) {
    for (const resource of statement.resources) {
      if (!resource.includes('*')) {
        continue;
      }
      const flat = flattenReference(stack.resolve(resource));
      const isKey = flat.includes(':key/');
      Validations.of(principal).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${flat}]`,
        reason: isKey
          ? 'The replica vault key is created in another region; this statement matches it by its alias (kms:ResourceAliases) and only through S3 (kms:ViaService).'
          : `Per-prefix vault grant: the wildcard covers only the objects under ${what}, which is this role's own slice of the vault.`,
      });
    }
  }
}

export interface VaultProps {
  /** Application name (`app.name` in the config); part of the bucket name and key alias. */
  readonly appName: string;
  /** Primary or replica vault; decides the bucket name and key alias. */
  readonly role: VaultRole;
  /** Object Lock default retention applied to every new object version. */
  readonly objectLock: { readonly mode: 'GOVERNANCE' | 'COMPLIANCE'; readonly defaultDays: number };
  /**
   * A key to import instead of creating one (`vault.kms.mode: import`).
   * @default a new customer-managed key with yearly rotation
   */
  readonly importedKeyArn?: string;
  /**
   * Days after which a noncurrent object version is expired. The Retain Lambda deletes pruned backups; in a
   * versioned bucket that only hides them, so this is the undo window before the bytes are really gone
   * (Object Lock still keeps a locked version until its retention date passes).
   * @default 30
   */
  readonly noncurrentVersionExpirationDays?: number;
  /**
   * Days the server access logs are kept.
   * @default 365
   */
  readonly accessLogRetentionDays?: number;
}

/**
 * One region's backup vault: a versioned, Object Lock-enabled bucket encrypted with its own KMS key, its
 * access logs in a separate bucket, and per-prefix grant helpers for the roles of the pipeline.
 */
export class Vault extends Construct {
  public readonly bucket: s3.Bucket;
  public readonly key: kms.IKey;
  public readonly accessLogBucket: s3.Bucket;
  public readonly location: VaultLocation;

  public constructor(scope: Construct, id: string, props: VaultProps) {
    super(scope, id);
    const region = Stack.of(this).region;
    if (Token.isUnresolved(region)) {
      throw new Error(`Vault ${this.node.path}: the stack needs a concrete region (env.region) to name the bucket, got a token`);
    }
    const noncurrentDays = props.noncurrentVersionExpirationDays ?? 30;
    if (!Number.isInteger(noncurrentDays) || noncurrentDays < 1) {
      throw new Error(`Vault: noncurrentVersionExpirationDays must be a whole number of days >= 1, got ${noncurrentDays}`);
    }
    const logDays = props.accessLogRetentionDays ?? 365;
    if (!Number.isInteger(logDays) || logDays < 1) {
      throw new Error(`Vault: accessLogRetentionDays must be a whole number of days >= 1, got ${logDays}`);
    }
    if (!Number.isInteger(props.objectLock.defaultDays) || props.objectLock.defaultDays < 1) {
      throw new Error(`Vault: objectLock.defaultDays must be a whole number of days >= 1, got ${props.objectLock.defaultDays}`);
    }

    if (props.importedKeyArn) {
      this.key = kms.Key.fromKeyArn(this, 'Key', props.importedKeyArn);
    } else {
      const key = new kms.Key(this, 'Key', {
        description: `Strongbox ${props.role} vault (${props.appName})`,
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      key.addAlias(vaultKeyAliasName(props.appName, props.role));
      this.key = key;
    }

    // S3 server access logging cannot deliver to a KMS-encrypted bucket, hence SSE-S3 here.
    this.accessLogBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'expire-access-logs',
          expiration: Duration.days(logDays),
          noncurrentVersionExpiration: Duration.days(1),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });
    Validations.of(this.accessLogBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access log bucket of the vault; logging it into itself would loop, and its reads are in CloudTrail.',
    });

    const lock =
      props.objectLock.mode === 'COMPLIANCE'
        ? s3.ObjectLockRetention.compliance(Duration.days(props.objectLock.defaultDays))
        : s3.ObjectLockRetention.governance(Duration.days(props.objectLock.defaultDays));

    this.bucket = new s3.Bucket(this, 'Bucket', {
      bucketName: vaultBucketName(props.appName, props.role, region),
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      // One data key per bucket instead of per object keeps a 10,000-part upload from making 10,000 KMS calls.
      bucketKeyEnabled: true,
      versioned: true,
      objectLockEnabled: true,
      objectLockDefaultRetention: lock,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'vault/',
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        { id: 'expire-noncurrent-versions', noncurrentVersionExpiration: Duration.days(noncurrentDays) },
        { id: 'remove-expired-delete-markers', expiredObjectDeleteMarker: true },
        {
          id: 'monthly-to-glacier-ir',
          tagFilters: { [TIER_TAG_KEY]: 'monthly' },
          transitions: [{ storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(0) }],
        },
        {
          id: 'yearly-to-deep-archive',
          tagFilters: { [TIER_TAG_KEY]: 'yearly' },
          transitions: [{ storageClass: s3.StorageClass.DEEP_ARCHIVE, transitionAfter: Duration.days(0) }],
        },
      ],
    });

    this.location = {
      bucketName: this.bucket.bucketName,
      bucketArn: this.bucket.bucketArn,
      region,
      keyArn: this.key.keyArn,
    };
  }

  /** Upload under `prefix` (e.g. `backups/<db>/`): PutObject and AbortMultipartUpload, key use through S3. */
  public grantWriteUnder(grantee: iam.IGrantable, prefix: string): void {
    grantVaultAccess(grantee, this.location, prefix, { objectActions: VAULT_ACCESS.write, key: 'encrypt' });
  }

  /** Read objects under `prefix` and list it. No write of any kind. */
  public grantReadUnder(grantee: iam.IGrantable, prefix: string): void {
    grantVaultAccess(grantee, this.location, prefix, {
      objectActions: VAULT_ACCESS.read,
      listActions: ['s3:ListBucket'],
      key: 'decrypt',
    });
  }

  /** List keys (and versions) under `prefix` without reading any body. */
  public grantListUnder(grantee: iam.IGrantable, prefix: string): void {
    grantVaultAccess(grantee, this.location, prefix, { listActions: ['s3:ListBucket', 's3:ListBucketVersions'] });
  }

  /** Any other per-prefix combination (retention: delete, tag, legal hold, without GetObject). */
  public grantUnder(grantee: iam.IGrantable, prefix: string, options: VaultGrantOptions): void {
    grantVaultAccess(grantee, this.location, prefix, options);
  }
}
