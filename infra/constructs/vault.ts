import { Aws, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct, type IConstruct } from 'constructs';
import { FUNCTION_ENV } from '../../contracts/function-env';
import { databasePrefix, keys, logsPrefix, mintBackupId, TIER_TAG as TIER_TAG_KEY } from '../../contracts/vault';
import { basesPrefix } from '../../contracts/wal';
import { acknowledgeRule, flattenReference } from './nag';
import { ValidationError } from './validation-error';

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

/** The alias ARN; S3 accepts it as `SSEKMSKeyId`, IAM does not (grants match a key by alias instead). */
export function vaultKeyAliasArn(app: string, role: VaultRole, region: string): string {
  return `arn:${Aws.PARTITION}:kms:${region}:${Aws.ACCOUNT_ID}:${vaultKeyAliasName(app, role)}`;
}

/**
 * Where a vault is, as plain values: enough to grant on it from any stack in the same account.
 */
export interface VaultAttributes {
  readonly bucketName: string;
  readonly bucketArn: string;
  readonly region: string;
  /** Key ARN when known (created in this stack, or imported through `vault.kms.mode: import`). */
  readonly keyArn?: string;
  /** Alias of a key created by Strongbox in another stack; IAM then matches it with `kms:ResourceAliases`. */
  readonly keyAliasName?: string;
}

/** S3 actions per access level. Kept minimal: each role of the pipeline picks exactly what it needs. */
export const VAULT_ACCESS = {
  /** Dump task: upload (multipart) and abort. No read, no delete, no retention changes. */
  write: ['s3:PutObject', 's3:AbortMultipartUpload'],
  /** Verify, restore, drill: read bodies and their metadata. */
  read: ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectAttributes', 's3:GetObjectTagging'],
  /** Retention: delete, tag and lock, and read no object body. */
  retain: [
    's3:DeleteObject',
    's3:GetObjectTagging',
    's3:PutObjectTagging',
    's3:GetObjectRetention',
    's3:PutObjectRetention',
    's3:GetObjectLegalHold',
    's3:PutObjectLegalHold',
  ],
} as const;

/** KMS actions S3 performs on the caller's behalf. A multipart upload needs Decrypt to assemble the parts. */
const KEY_ACTIONS = {
  encrypt: ['kms:GenerateDataKey', 'kms:Decrypt'],
  decrypt: ['kms:Decrypt'],
} as const;

const SAMPLE_DB = 'db';
const SAMPLE_BACKUP_ID = mintBackupId(SAMPLE_DB, 'full', new Date(0));
const topFolder = (key: string) => `${key.split('/')[0]}/`;
const fileName = (key: string) => key.slice(key.lastIndexOf('/') + 1);

/**
 * The vault's top-level folders and record names, derived from the vault contract (contracts/vault.ts)
 * rather than spelled again here, so a grant cannot drift from where the code reads and writes.
 */
export const VAULT_PATHS = {
  backups: topFolder(databasePrefix(SAMPLE_DB)),
  locks: topFolder(keys.lock(SAMPLE_DB)),
  index: topFolder(keys.latestVerified(SAMPLE_DB)),
  restores: topFolder(keys.restoreAudit(SAMPLE_DB, new Date(0))),
  /** `logs/`: every database's log segments (contracts/logs.ts). */
  logs: topFolder(logsPrefix(SAMPLE_DB)),
  /** `bases/`: every PostgreSQL database's base backups (contracts/wal.ts). */
  bases: topFolder(basesPrefix(SAMPLE_DB)),
  /** `backups/<database>/` of one database. */
  database: (database: string) => databasePrefix(database),
  /** A record of every backup (`backups/<any>/verification.json`), for the functions that handle any database. */
  anyBackupRecord: (record: 'manifest' | 'verification' | 'failure' | 'drill') =>
    `${topFolder(databasePrefix(SAMPLE_DB))}*/${fileName(keys[record](SAMPLE_BACKUP_ID))}`,
  /** A record of one database's backups (`backups/<database>/<any>/drill.json`). */
  databaseBackupRecord: (database: string, record: 'manifest' | 'verification' | 'failure' | 'drill') =>
    `${databasePrefix(database)}*/${fileName(keys[record](SAMPLE_BACKUP_ID))}`,
  /** A failed restore task's error records of one database (`restores/<database>/task-errors/<any>`). */
  restoreTaskErrors: (database: string) => `${keys.restoreTaskErrorPrefix(database)}*`,
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
 * A vault seen from a stack: the one it creates ({@link Vault}) or one it only knows by name
 * ({@link Vault.fromReplica}, {@link Vault.fromAttributes}). Every grant is least privilege, returns the
 * iam.Grant, and acknowledges for cdk-nag, on the grantee, exactly the wildcards it writes.
 */
export interface IVault extends VaultAttributes, IConstruct {
  /** Any combination under a literal `prefix` (e.g. `backups/orders/`): objects, listing, key use through S3. */
  grantUnder(grantee: iam.IGrantable, prefix: string, options: VaultGrantOptions): iam.Grant;
  /** Upload under `prefix`: PutObject and AbortMultipartUpload, key use through S3; no read, no delete. */
  grantWriteUnder(grantee: iam.IGrantable, prefix: string): iam.Grant;
  /** Read objects under `prefix` and list it; no write of any kind. */
  grantReadUnder(grantee: iam.IGrantable, prefix: string): iam.Grant;
  /**
   * `actions` on keys matching `patterns` (from {@link VAULT_PATHS}), whose wildcards stand for folders made
   * at run time (`backups/<any>/verification.json`). No listing and no key use: pair it with grantUnder.
   */
  grantObjects(grantee: iam.IGrantable, actions: readonly string[], patterns: readonly string[]): iam.Grant;
}

/**
 * A copier of `prefix` into the replica vault (ReplicateBase, ReplicateSegments): reads it in the primary, writes
 * (and removes a copy that does not match) under it in the replica. Server-side copies only: no other write.
 */
export function grantReplicationUnder(grantee: iam.IGrantable, vault: IVault, replicaVault: IVault, prefix: string): void {
  vault.grantUnder(grantee, prefix, {
    objectActions: ['s3:GetObject', 's3:GetObjectTagging'],
    listActions: ['s3:ListBucket'],
    key: 'decrypt',
  });
  replicaVault.grantUnder(grantee, prefix, {
    objectActions: ['s3:GetObject', 's3:PutObject', 's3:PutObjectTagging', 's3:DeleteObject', 's3:AbortMultipartUpload'],
    listActions: ['s3:ListBucket'],
    key: 'encrypt',
  });
}

/** The environment every replica copier reads (beside grantReplicationUnder, which gives it the access). */
export function replicaEnvironment(replicaVault: IVault, replicaKmsKey: string): Record<string, string> {
  return {
    [FUNCTION_ENV.replicaBucket]: replicaVault.bucketName,
    [FUNCTION_ENV.replicaRegion]: replicaVault.region,
    [FUNCTION_ENV.replicaKmsKey]: replicaKmsKey,
  };
}

abstract class VaultBase extends Construct implements IVault {
  public abstract readonly bucketName: string;
  public abstract readonly bucketArn: string;
  public abstract readonly region: string;
  public abstract readonly keyArn?: string;
  public abstract readonly keyAliasName?: string;

  public grantUnder(grantee: iam.IGrantable, prefix: string, options: VaultGrantOptions): iam.Grant {
    if (prefix.includes('*')) {
      throw new ValidationError(`grant prefix must be literal (no "*"), got "${prefix}"; use grantObjects for key patterns`, this);
    }
    const grants: iam.Grant[] = [];
    if (options.objectActions?.length) {
      grants.push(this.statementGrant(grantee, options.objectActions, [`${this.bucketArn}/${prefix}*`]));
    }
    if (options.listActions?.length) {
      grants.push(
        this.statementGrant(
          grantee,
          options.listActions,
          [this.bucketArn],
          prefix ? { StringLike: { 's3:prefix': [`${prefix}*`] } } : undefined,
        ),
      );
    }
    if (options.key) {
      grants.push(this.keyGrant(grantee, KEY_ACTIONS[options.key]));
    }
    if (grants.length === 0) {
      throw new ValidationError(`grant under "${prefix}" names no object, list or key actions; expected at least one`, this);
    }
    acknowledgeWildcards(grantee, grants, `${prefix}*`);
    return grants.reduce((all, next) => all.combine(next));
  }

  public grantWriteUnder(grantee: iam.IGrantable, prefix: string): iam.Grant {
    return this.grantUnder(grantee, prefix, { objectActions: VAULT_ACCESS.write, key: 'encrypt' });
  }

  public grantReadUnder(grantee: iam.IGrantable, prefix: string): iam.Grant {
    return this.grantUnder(grantee, prefix, { objectActions: VAULT_ACCESS.read, listActions: ['s3:ListBucket'], key: 'decrypt' });
  }

  public grantObjects(grantee: iam.IGrantable, actions: readonly string[], patterns: readonly string[]): iam.Grant {
    if (patterns.length === 0 || actions.length === 0) {
      throw new ValidationError(`grantObjects needs actions and key patterns, got ${JSON.stringify({ actions, patterns })}`, this);
    }
    const grant = this.statementGrant(
      grantee,
      actions,
      patterns.map((p) => `${this.bucketArn}/${p}`),
    );
    acknowledgeWildcards(grantee, [grant], patterns.join(', '));
    return grant;
  }

  private statementGrant(
    grantee: iam.IGrantable,
    actions: readonly string[],
    resourceArns: string[],
    conditions?: Record<string, Record<string, unknown>>,
  ): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: [...actions], resourceArns, conditions });
  }

  private keyGrant(grantee: iam.IGrantable, actions: readonly string[]): iam.Grant {
    const viaS3 = { 'kms:ViaService': `s3.${this.region}.amazonaws.com` };
    if (this.keyArn) {
      return this.statementGrant(grantee, actions, [this.keyArn], { StringEquals: viaS3 });
    }
    if (!this.keyAliasName) {
      throw new ValidationError(`vault ${this.bucketName} has neither keyArn nor keyAliasName; expected one of them`, this);
    }
    // A key created in another stack (the replica region, or the primary stack seen from a shard) has an ARN
    // minted at deploy time; its alias is deterministic.
    return this.statementGrant(grantee, actions, [`arn:${Aws.PARTITION}:kms:${this.region}:${Aws.ACCOUNT_ID}:key/*`], {
      StringEquals: viaS3,
      'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [this.keyAliasName] },
    });
  }
}

/** A vault this stack does not own, known by its attributes. */
class ImportedVault extends VaultBase {
  public readonly bucketName: string;
  public readonly bucketArn: string;
  public readonly region: string;
  public readonly keyArn?: string;
  public readonly keyAliasName?: string;

  public constructor(scope: Construct, id: string, attributes: VaultAttributes) {
    super(scope, id);
    if (!attributes.keyArn && !attributes.keyAliasName) {
      throw new ValidationError(`vault ${attributes.bucketName} needs keyArn or keyAliasName, got neither`, this);
    }
    this.bucketName = attributes.bucketName;
    this.bucketArn = attributes.bucketArn;
    this.region = attributes.region;
    this.keyArn = attributes.keyArn;
    this.keyAliasName = attributes.keyAliasName;
  }
}

/** cdk-nag reports IAM5 per flattened resource string; compute exactly those strings and acknowledge them. */
function acknowledgeWildcards(grantee: iam.IGrantable, grants: readonly iam.Grant[], what: string): void {
  const principal = grantee.grantPrincipal;
  if (!(principal instanceof Construct)) {
    return;
  }
  const stack = Stack.of(principal);
  for (const grant of grants) {
    for (const statement of grant.principalStatements) {
      for (const resource of statement.resources) {
        if (!resource.includes('*')) {
          continue;
        }
        const flat = flattenReference(stack.resolve(resource));
        const isKey = flat.includes(':key/');
        Validations.of(principal).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${flat}]`,
          reason: isKey
            ? 'The vault key is created in another stack (the replica region, or the primary stack for a database shard); this statement matches it by its alias (kms:ResourceAliases) and only through S3 (kms:ViaService).'
            : `Per-prefix vault grant: the wildcard covers only ${what}, which is this role's own slice of the vault.`,
        });
      }
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
export class Vault extends VaultBase {
  /**
   * The replica vault as seen from the primary region: by its deterministic bucket name and key alias (or the
   * imported key), without exports, lookups or custom resources.
   */
  public static fromReplica(scope: Construct, id: string, props: { appName: string; region: string; importedKeyArn?: string }): IVault {
    const bucketName = vaultBucketName(props.appName, 'replica', props.region);
    return new ImportedVault(scope, id, {
      bucketName,
      bucketArn: `arn:${Aws.PARTITION}:s3:::${bucketName}`,
      region: props.region,
      keyArn: props.importedKeyArn,
      keyAliasName: props.importedKeyArn ? undefined : vaultKeyAliasName(props.appName, 'replica'),
    });
  }

  /** Any vault by its attributes (tests, and stacks that receive a vault from elsewhere). */
  public static fromAttributes(scope: Construct, id: string, attributes: VaultAttributes): IVault {
    return new ImportedVault(scope, id, attributes);
  }

  public readonly bucket: s3.Bucket;
  public readonly key: kms.IKey;
  public readonly accessLogBucket: s3.Bucket;
  public readonly bucketName: string;
  public readonly bucketArn: string;
  public readonly region: string;
  public readonly keyArn: string;
  public readonly keyAliasName?: string = undefined;

  public constructor(scope: Construct, id: string, props: VaultProps) {
    super(scope, id);
    const region = Stack.of(this).region;
    if (Token.isUnresolved(region)) {
      throw new ValidationError('the stack needs a concrete region (env.region) to name the bucket, got a token', this);
    }
    const noncurrentDays = props.noncurrentVersionExpirationDays ?? 30;
    if (!Number.isInteger(noncurrentDays) || noncurrentDays < 1) {
      throw new ValidationError(`noncurrentVersionExpirationDays must be a whole number of days >= 1, got ${noncurrentDays}`, this);
    }
    const logDays = props.accessLogRetentionDays ?? 365;
    if (!Number.isInteger(logDays) || logDays < 1) {
      throw new ValidationError(`accessLogRetentionDays must be a whole number of days >= 1, got ${logDays}`, this);
    }
    if (!Number.isInteger(props.objectLock.defaultDays) || props.objectLock.defaultDays < 1) {
      throw new ValidationError(`objectLock.defaultDays must be a whole number of days >= 1, got ${props.objectLock.defaultDays}`, this);
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
    acknowledgeRule(
      this.accessLogBucket,
      'S3DefaultEncryptionKMS',
      ['nist', 'hipaa'],
      'S3 server access logging delivers only to a bucket with SSE-S3 default encryption, not SSE-KMS; the logs hold request metadata, never backup contents.',
    );
    acknowledgeRule(
      this.accessLogBucket,
      'S3BucketReplicationEnabled',
      ['nist', 'hipaa'],
      "The access logs describe this region's vault and stay with it; the vault in the other region keeps its own.",
    );

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

    acknowledgeRule(
      this.bucket,
      'S3BucketReplicationEnabled',
      ['nist', 'hipaa'],
      props.role === 'primary'
        ? "Backups reach the replica vault in the other region through the workflow's Replicate step, a server-side copy whose checksum is compared before the backup counts as replicated; S3 replication could not report that per backup, nor keep the replica's own Object Lock and retention."
        : 'This is the replica vault: the Replicate step of the primary region copies every backup here, and a replica of the replica would add a third region.',
    );
    this.bucketName = this.bucket.bucketName;
    this.bucketArn = this.bucket.bucketArn;
    this.region = region;
    this.keyArn = this.key.keyArn;
  }
}
