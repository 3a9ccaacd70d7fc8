import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { StrongboxConfig } from '../config/schema';
import { Vault } from '../constructs/vault';

export interface ReplicaStackProps extends StackProps {
  readonly config: StrongboxConfig;
}

/**
 * The replica-region stack: only the replica vault. The primary stack finds it by its deterministic bucket
 * name and key alias (see `replicaVaultLocation`), so this stack exports nothing.
 */
export class ReplicaStack extends Stack {
  public readonly config: StrongboxConfig;
  public readonly vault: Vault;

  public constructor(scope: Construct, id: string, props: ReplicaStackProps) {
    super(scope, id, props);
    this.config = props.config;
    const { vault } = props.config;
    this.vault = new Vault(this, 'Vault', {
      appName: props.config.app.name,
      role: 'replica',
      objectLock: vault.objectLock,
      importedKeyArn: vault.kms.mode === 'import' ? vault.kms.replicaKeyArn : undefined,
    });
  }
}
