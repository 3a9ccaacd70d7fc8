import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../infra/app';
import { Vault, type VaultProps, vaultBucketName, vaultKeyAliasArn, vaultKeyAliasName } from '../../../infra/constructs/vault';

const IMPORTED_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-0000-4000-8000-000000000001';

function vaultStack(props: Partial<VaultProps> = {}) {
  const app = createApp();
  const stack = new Stack(app, 'Test', { env: { region: 'eu-west-1' } });
  const vault = new Vault(stack, 'Vault', {
    appName: 'sb',
    role: 'primary',
    objectLock: { mode: 'GOVERNANCE', defaultDays: 7 },
    ...props,
  });
  const role = new iam.Role(stack, 'Task', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
  return { app, stack, vault, role };
}

/** The policy statements of the test role's default policy. */
function roleStatements(template: Template): Record<string, unknown>[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
}

describe('Vault', () => {
  it('encrypts with its own customer-managed key, rotated and retained, with a deterministic alias', () => {
    // Prepare
    const { stack } = vaultStack();

    // Act
    const template = Template.fromStack(stack);

    // Assess
    template.hasResource('AWS::KMS::Key', {
      Properties: { EnableKeyRotation: true },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/sb-vault' });
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: { 'Fn::Join': ['', ['sb-vault-', { Ref: 'AWS::AccountId' }, '-eu-west-1']] },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('^VaultKey'), 'Arn'] },
            },
          },
        ],
      },
    });
  });

  it('enables versioning and Object Lock with the configured default retention', () => {
    // Prepare
    const { stack } = vaultStack({ objectLock: { mode: 'COMPLIANCE', defaultDays: 30 } });

    // Act
    const template = Template.fromStack(stack);

    // Assess
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: Match.anyValue(),
      VersioningConfiguration: { Status: 'Enabled' },
      ObjectLockEnabled: true,
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 30 } } },
    });
  });

  it('blocks public access and denies requests without TLS', () => {
    // Prepare
    const { stack } = vaultStack();

    // Act
    const template = Template.fromStack(stack);

    // Assess
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: Match.anyValue(),
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: Match.stringLikeRegexp('^VaultBucket') },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('logs server access to a separate SSE-S3 bucket that is itself private, TLS-only and retained', () => {
    // Prepare
    const { stack } = vaultStack();

    // Act
    const template = Template.fromStack(stack);

    // Assess
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: Match.anyValue(),
      LoggingConfiguration: { DestinationBucketName: { Ref: Match.stringLikeRegexp('^VaultAccessLogs') }, LogFilePrefix: 'vault/' },
    });
    template.hasResource('AWS::S3::Bucket', {
      Properties: {
        BucketName: Match.absent(),
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        LifecycleConfiguration: { Rules: [Match.objectLike({ Id: 'expire-access-logs', ExpirationInDays: 365 })] },
      },
      DeletionPolicy: 'Retain',
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: Match.stringLikeRegexp('^VaultAccessLogs') },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Action: 's3:PutObject',
            Condition: Match.objectLike({
              ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [Match.stringLikeRegexp('^VaultBucket'), 'Arn'] } },
            }),
          }),
        ]),
      },
    });
  });

  it('has the lifecycle rules: abort uploads, expire noncurrent versions, and tier transitions by tag', () => {
    // Prepare
    const { stack } = vaultStack({ noncurrentVersionExpirationDays: 45 });

    // Act
    const template = Template.fromStack(stack);

    // Assess
    const buckets = template.findResources('AWS::S3::Bucket', { Properties: { BucketName: Match.anyValue() } });
    const rules = (Object.values(buckets)[0].Properties.LifecycleConfiguration.Rules as Record<string, unknown>[]).map(
      ({ Status, ...r }) => {
        expect(Status).toBe('Enabled');
        return r;
      },
    );
    expect(rules).toEqual([
      { Id: 'abort-incomplete-multipart-uploads', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
      { Id: 'expire-noncurrent-versions', NoncurrentVersionExpiration: { NoncurrentDays: 45 } },
      { Id: 'remove-expired-delete-markers', ExpiredObjectDeleteMarker: true },
      {
        Id: 'monthly-to-glacier-ir',
        TagFilters: [{ Key: 'strongbox:tier', Value: 'monthly' }],
        Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 0 }],
      },
      {
        Id: 'yearly-to-deep-archive',
        TagFilters: [{ Key: 'strongbox:tier', Value: 'yearly' }],
        Transitions: [{ StorageClass: 'DEEP_ARCHIVE', TransitionInDays: 0 }],
      },
    ]);
  });

  it('retains the vault bucket on stack deletion', () => {
    // Prepare
    const { stack } = vaultStack();

    // Act
    const template = Template.fromStack(stack);

    // Assess
    template.hasResource('AWS::S3::Bucket', {
      Properties: { BucketName: Match.anyValue() },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('uses an imported key instead of creating one', () => {
    // Prepare
    const { stack } = vaultStack({ importedKeyArn: IMPORTED_KEY });

    // Act
    const template = Template.fromStack(stack);

    // Assess
    template.resourceCountIs('AWS::KMS::Key', 0);
    template.resourceCountIs('AWS::KMS::Alias', 0);
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          Match.objectLike({ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: IMPORTED_KEY } }),
        ],
      },
    });
  });

  it('grantWriteUnder lets a role upload under its prefix only, with the key only through S3', () => {
    // Prepare
    const { app, stack, vault, role } = vaultStack();

    // Act
    vault.grantWriteUnder(role, 'backups/orders/');

    // Assess
    const statements = roleStatements(Template.fromStack(stack));
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:AbortMultipartUpload'],
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^VaultBucket/), 'Arn'] }, '/backups/orders/*']] },
      },
      {
        Effect: 'Allow',
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^VaultKey/), 'Arn'] },
        Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } },
      },
    ]);
    expect(JSON.stringify(statements)).not.toMatch(/s3:GetObject|s3:Delete|PutObjectRetention|PutObjectLegalHold/);
    expect(new AwsSolutionsChecks(app).validateScope(app).violations).toEqual([]);
  });

  it('grantReadUnder reads and lists under the prefix and cannot write', () => {
    // Prepare
    const { app, stack, vault, role } = vaultStack();

    // Act
    vault.grantReadUnder(role, 'backups/orders/');

    // Assess
    const statements = roleStatements(Template.fromStack(stack));
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectAttributes', 's3:GetObjectTagging'],
      }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: 's3:ListBucket',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^VaultBucket/), 'Arn'] },
        Condition: { StringLike: { 's3:prefix': ['backups/orders/*'] } },
      }),
    );
    expect(statements).toContainEqual(expect.objectContaining({ Action: 'kms:Decrypt' }));
    expect(JSON.stringify(statements)).not.toMatch(/s3:Put|s3:Delete|kms:GenerateDataKey/);
    expect(new AwsSolutionsChecks(app).validateScope(app).violations).toEqual([]);
  });

  it('grants on the replica vault match its key by alias, through S3 in the replica region', () => {
    // Prepare
    const { app, stack, role } = vaultStack();
    const replica = Vault.fromReplica(stack, 'Replica', { appName: 'sb', region: 'eu-central-1' });

    // Act
    const grant = replica.grantUnder(role, 'backups/orders/', { objectActions: ['s3:PutObject'], key: 'encrypt' });

    // Assess
    const statements = roleStatements(Template.fromStack(stack));
    expect(statements).toContainEqual({
      Effect: 'Allow',
      Action: 's3:PutObject',
      Resource: {
        'Fn::Join': [
          '',
          ['arn:', { Ref: 'AWS::Partition' }, ':s3:::sb-vault-replica-', { Ref: 'AWS::AccountId' }, '-eu-central-1/backups/orders/*'],
        ],
      },
    });
    expect(statements).toContainEqual({
      Effect: 'Allow',
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':kms:eu-central-1:', { Ref: 'AWS::AccountId' }, ':key/*']] },
      Condition: {
        StringEquals: { 'kms:ViaService': 's3.eu-central-1.amazonaws.com' },
        'ForAnyValue:StringEquals': { 'kms:ResourceAliases': ['alias/sb-vault-replica'] },
      },
    });
    expect(grant.success).toBe(true);
    expect(grant.principalStatements).toHaveLength(2);
    expect(new AwsSolutionsChecks(app).validateScope(app).violations).toEqual([]);
  });

  it('uses the imported replica key ARN when there is one', () => {
    // Prepare
    const importedReplicaKey = 'arn:aws:kms:eu-central-1:123456789012:key/0a1b2c3d-0000-4000-8000-000000000002';
    const { stack } = vaultStack();

    // Act
    const replica = Vault.fromReplica(stack, 'Replica', { appName: 'sb', region: 'eu-central-1', importedKeyArn: importedReplicaKey });

    // Assess
    expect(replica.keyArn).toBe(importedReplicaKey);
    expect(replica.keyAliasName).toBeUndefined();
  });

  it('refuses a wildcard in a grant prefix', () => {
    // Prepare
    const { vault, role } = vaultStack();

    // Act
    const grant = () => vault.grantWriteUnder(role, 'backups/*/');

    // Assess
    expect(grant).toThrow('Test/Vault: grant prefix must be literal (no "*"), got "backups/*/"; use grantObjects for key patterns');
  });

  it.each([
    [{ noncurrentVersionExpirationDays: 0 }, 'noncurrentVersionExpirationDays must be a whole number of days >= 1, got 0'],
    [{ accessLogRetentionDays: 1.5 }, 'accessLogRetentionDays must be a whole number of days >= 1, got 1.5'],
    [{ objectLock: { mode: 'GOVERNANCE', defaultDays: 0 } }, 'objectLock.defaultDays must be a whole number of days >= 1, got 0'],
  ] as [Partial<VaultProps>, string][])('validates its props early and shows the received value (%o)', (props, message) => {
    // Prepare
    const build = () => vaultStack(props);

    // Act + Assess
    expect(build).toThrow(message);
  });

  it('names buckets and key aliases deterministically for both regions', () => {
    // Prepare
    const stack = new Stack(createApp(), 'Names', { env: { region: 'eu-west-1' } });

    // Act
    const names = {
      primary: stack.resolve(vaultBucketName('sb', 'primary', 'eu-west-1')),
      replica: stack.resolve(vaultBucketName('sb', 'replica', 'eu-central-1')),
      alias: vaultKeyAliasName('sb', 'replica'),
      aliasArn: stack.resolve(vaultKeyAliasArn('sb', 'replica', 'eu-central-1')),
    };

    // Assess
    expect(names).toEqual({
      primary: { 'Fn::Join': ['', ['sb-vault-', { Ref: 'AWS::AccountId' }, '-eu-west-1']] },
      replica: { 'Fn::Join': ['', ['sb-vault-replica-', { Ref: 'AWS::AccountId' }, '-eu-central-1']] },
      alias: 'alias/sb-vault-replica',
      aliasArn: {
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':kms:eu-central-1:', { Ref: 'AWS::AccountId' }, ':alias/sb-vault-replica']],
      },
    });
  });
});
