import { describe, expect, it } from 'vitest';
import { type CfnTemplate, IntrinsicResolver, UnresolvableIntrinsicError } from '../../../local/executor/intrinsics';

const template: CfnTemplate = {
  Resources: {
    PrepareFn1234ABCD: { Type: 'AWS::Lambda::Function', Properties: {} },
    ChatTopic: { Type: 'AWS::SNS::Topic', Properties: {} },
    VaultBucket: {
      Type: 'AWS::S3::Bucket',
      Properties: { BucketName: { 'Fn::Join': ['', ['app-vault-', { Ref: 'AWS::AccountId' }, '-', { Ref: 'AWS::Region' }]] } },
    },
    DumpTask: { Type: 'AWS::ECS::TaskDefinition', Properties: { Family: 'app-orders-dump' } },
    Cluster: { Type: 'AWS::ECS::Cluster', Properties: { ClusterName: 'app-tasks' } },
  },
};

describe('IntrinsicResolver', () => {
  it('turns a DefinitionString Fn::Join of Refs and GetAtts into plain text with stable fake ARNs', () => {
    // Prepare
    const resolver = new IntrinsicResolver(template, { region: 'eu-west-1' });
    const definitionString = {
      'Fn::Join': [
        '',
        [
          '{"fn":"',
          { 'Fn::GetAtt': ['PrepareFn1234ABCD', 'Arn'] },
          '","topic":"',
          { Ref: 'ChatTopic' },
          '","bucket":"',
          { Ref: 'VaultBucket' },
          '","task":"',
          { Ref: 'DumpTask' },
          '","cluster":"',
          { 'Fn::GetAtt': ['Cluster', 'Arn'] },
          '"}',
        ],
      ],
    };

    // Act
    const text = resolver.resolveString(definitionString);

    // Assess
    expect(JSON.parse(text)).toEqual({
      fn: 'arn:aws:lambda:eu-west-1:000000000000:function:PrepareFn1234ABCD',
      topic: 'arn:aws:sns:eu-west-1:000000000000:ChatTopic',
      bucket: 'app-vault-000000000000-eu-west-1',
      task: 'arn:aws:ecs:eu-west-1:000000000000:task-definition/app-orders-dump:1',
      cluster: 'arn:aws:ecs:eu-west-1:000000000000:cluster/app-tasks',
    });
  });

  it('resolves Fn::Sub, Fn::Select and Fn::Split and drops AWS::NoValue', () => {
    // Prepare
    const resolver = new IntrinsicResolver(template, { region: 'eu-central-1' });

    // Act
    const value = resolver.resolve({
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Fn::Sub placeholders are CloudFormation's, not JavaScript's.
      sub: { 'Fn::Sub': ['${Topic}/${AWS::Region}/${Cluster}', { Topic: { Ref: 'ChatTopic' } }] },
      select: { 'Fn::Select': [1, { 'Fn::Split': [',', 'a,b,c'] }] },
      gone: { Ref: 'AWS::NoValue' },
      list: ['x', { Ref: 'AWS::NoValue' }],
    });

    // Assess
    expect(value).toEqual({
      sub: 'arn:aws:sns:eu-central-1:000000000000:ChatTopic/eu-central-1/app-tasks',
      select: 'b',
      list: ['x'],
    });
  });

  it('names the reference it cannot resolve', () => {
    // Prepare
    const resolver = new IntrinsicResolver(template, { region: 'eu-west-1' });

    // Act
    const resolve = () => resolver.resolve({ a: { Ref: 'Missing' } });

    // Assess
    expect(resolve).toThrow(UnresolvableIntrinsicError);
    expect(resolve).toThrow('$.a: Ref to "Missing", which is not a resource, parameter or pseudo parameter');
  });
});
