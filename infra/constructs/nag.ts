import { Aspects, type IAspect, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';

/**
 * cdk-nag v3 acknowledges each finding by its exact id (`AwsSolutions-IAM5[Resource::<flattened>]`,
 * `AwsSolutions-IAM5[Action::s3:*]`); a bare `AwsSolutions-IAM5` does not cover them. The policies of a role
 * are complete only once every grant has run, so the exact ids are computed by an aspect, just before
 * validation, from the statements the role really has. The reason stays one sentence written next to the role.
 */
/** The packs next to AwsSolutions that `compliance.nagPacks` turns on, by the prefix of their rule ids. */
export const COMPLIANCE_PACKS = { nist: 'NIST.800.53.R5', hipaa: 'HIPAA.Security', serverless: 'Serverless' } as const;
export type CompliancePack = keyof typeof COMPLIANCE_PACKS;

/**
 * Acknowledges one rule of the compliance packs on a construct and everything under it, once per pack that
 * has the rule (`NIST.800.53.R5-LambdaDLQ`, `HIPAA.Security-LambdaDLQ`, ...), with one reason written there.
 */
export function acknowledgeRule(scope: IConstruct, rule: string, packs: readonly CompliancePack[], reason: string): void {
  for (const pack of packs) {
    Validations.of(scope).acknowledge({ id: `${COMPLIANCE_PACKS[pack]}-${rule}`, reason });
  }
}

export function acknowledgeWildcardPermissions(role: IConstruct, reason: string): void {
  Aspects.of(role).add(new AcknowledgeWildcards(role, reason));
}

class AcknowledgeWildcards implements IAspect {
  /**
   * Ids already acknowledged on the role. A dump role repeats the same wildcard in several statements, and each
   * acknowledgement records a stack trace in the assembly: at 500 databases the repeats cost seconds of synth.
   */
  private readonly acknowledged = new Set<string>();

  public constructor(
    private readonly role: IConstruct,
    private readonly reason: string,
  ) {}

  public visit(node: IConstruct): void {
    if (!(node instanceof iam.CfnPolicy)) {
      return;
    }
    const document = Stack.of(node).resolve(node.policyDocument) as { Statement?: Record<string, unknown>[] };
    for (const statement of document.Statement ?? []) {
      for (const action of asList(statement.Action)) {
        if (typeof action === 'string' && action.includes('*')) {
          this.acknowledge(`AwsSolutions-IAM5[Action::${action}]`);
        }
      }
      for (const resource of asList(statement.Resource)) {
        const flat = flattenReference(resource);
        if (flat.includes('*')) {
          this.acknowledge(`AwsSolutions-IAM5[Resource::${flat}]`);
        }
      }
    }
  }

  private acknowledge(id: string): void {
    if (!this.acknowledged.has(id)) {
      this.acknowledged.add(id);
      Validations.of(this.role).acknowledge({ id, reason: this.reason });
    }
  }
}

function asList(value: unknown): unknown[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** Same flattening as cdk-nag's `flattenCfnReference` (not exported by the package). */
export function flattenReference(node: unknown): string {
  if (node === undefined) {
    return '';
  }
  if (typeof node === 'string') {
    return node.replace(/\$\{/g, '<').replace(/}/g, '>');
  }
  const value = node as Record<string, unknown>;
  if (value['Fn::Join']) {
    const [delimiter, items] = value['Fn::Join'] as [string, unknown[]];
    return items.map(flattenReference).join(delimiter);
  }
  if (value['Fn::Sub']) {
    return flattenReference(value['Fn::Sub']);
  }
  if (value['Fn::GetAtt']) {
    const [resource, attribute] = value['Fn::GetAtt'] as [unknown, unknown];
    return `<${flattenReference(resource)}.${flattenReference(attribute)}>`;
  }
  if (value['Fn::ImportValue']) {
    return flattenReference(value['Fn::ImportValue']);
  }
  if (value.Ref) {
    return `<${flattenReference(value.Ref)}>`;
  }
  return JSON.stringify(node);
}
