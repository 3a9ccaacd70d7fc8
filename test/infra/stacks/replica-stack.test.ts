import { readFileSync } from 'node:fs';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../../infra/app';
import { parseConfig } from '../../../infra/config/load';

describe('ReplicaStack', () => {
  it('holds only the replica vault, in the replica region, under its deterministic name and alias', () => {
    // Prepare
    const config = parseConfig(readFileSync('strongbox.config.yaml', 'utf8'));

    // Act
    const { replica } = buildApp(config, { bundling: false });

    // Assess
    const template = Template.fromStack(replica);
    expect(replica.region).toBe('eu-central-1');
    expect(replica.stackName).toBe('strongbox-replica');
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: { 'Fn::Join': ['', ['strongbox-vault-replica-', { Ref: 'AWS::AccountId' }, '-eu-central-1']] },
      VersioningConfiguration: { Status: 'Enabled' },
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 7 } } },
    });
    template.hasResource('AWS::KMS::Key', { Properties: { EnableKeyRotation: true }, DeletionPolicy: 'Retain' });
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/strongbox-vault-replica' });
    const types = new Set(Object.values(template.toJSON().Resources as Record<string, { Type: string }>).map((r) => r.Type));
    expect([...types].sort()).toEqual(['AWS::KMS::Alias', 'AWS::KMS::Key', 'AWS::S3::Bucket', 'AWS::S3::BucketPolicy']);
    expect(template.toJSON().Outputs ?? {}).toEqual({});
  });
});
