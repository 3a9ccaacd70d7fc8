/**
 * Resolves CloudFormation intrinsics in a synthesized template to stable fake values, so that a state
 * machine's DefinitionString (an Fn::Join of Refs and GetAtts) becomes plain ASL that aws-local-stepfunctions
 * can run, and so that every fake ARN in it can be traced back to the resource it came from.
 *
 * The fake values are deterministic (account 000000000000, names from logical ids) so that tests and the
 * outbox can name them.
 */

export const LOCAL_ACCOUNT = '000000000000';

export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}

export interface CfnTemplate {
  readonly Resources?: Record<string, TemplateResource>;
  readonly Parameters?: Record<string, { Default?: unknown }>;
  readonly Mappings?: Record<string, Record<string, Record<string, unknown>>>;
  readonly Conditions?: Record<string, unknown>;
}

/** An intrinsic the resolver cannot give a local meaning; names the path so the construct can be fixed. */
export class UnresolvableIntrinsicError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'UnresolvableIntrinsicError';
  }
}

export interface ResolverOptions {
  readonly region: string;
  readonly stackName?: string;
  /** Overrides by logical id, e.g. bucket logical id -> local bucket name. */
  readonly refOverrides?: Readonly<Record<string, string>>;
}

/** Lower-case, S3-safe rendering of a logical id, used where a resource has no literal physical name. */
function physicalName(logicalId: string): string {
  return logicalId.toLowerCase().replace(/[^a-z0-9-]/g, '-');
}

export class IntrinsicResolver {
  private readonly resources: Record<string, TemplateResource>;

  public constructor(
    private readonly template: CfnTemplate,
    private readonly options: ResolverOptions,
  ) {
    this.resources = template.Resources ?? {};
  }

  public get region(): string {
    return this.options.region;
  }

  /** Resolves every intrinsic in `value`; `AWS::NoValue` removes the key or array element. */
  public resolve(value: unknown, path = '$'): unknown {
    if (Array.isArray(value)) {
      return value.map((item, i) => this.resolve(item, `${path}[${i}]`)).filter((item) => item !== NO_VALUE);
    }
    if (value === null || typeof value !== 'object') {
      return value;
    }
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1 && (entries[0][0] === 'Ref' || entries[0][0].startsWith('Fn::') || entries[0][0] === 'Condition')) {
      const [fn, args] = entries[0];
      if (fn !== 'Condition') {
        return this.intrinsic(fn, args, path);
      }
    }
    const out: Record<string, unknown> = {};
    for (const [key, item] of entries) {
      const resolved = this.resolve(item, `${path}.${key}`);
      if (resolved !== NO_VALUE) {
        out[key] = resolved;
      }
    }
    return out;
  }

  public resolveString(value: unknown, path = '$'): string {
    const resolved = this.resolve(value, path);
    if (typeof resolved !== 'string') {
      throw new UnresolvableIntrinsicError(`${path}: expected a string after resolving intrinsics, found ${JSON.stringify(resolved)}`);
    }
    return resolved;
  }

  /** What `Ref: <logicalId>` yields for this resource type, as CloudFormation documents it. */
  public ref(logicalId: string, path = '$'): string {
    const override = this.options.refOverrides?.[logicalId];
    if (override !== undefined) {
      return override;
    }
    const pseudo = this.pseudo(logicalId);
    if (pseudo !== undefined) {
      return pseudo;
    }
    const parameter = this.template.Parameters?.[logicalId];
    if (parameter) {
      return String(parameter.Default ?? logicalId);
    }
    const resource = this.resources[logicalId];
    if (!resource) {
      throw new UnresolvableIntrinsicError(`${path}: Ref to "${logicalId}", which is not a resource, parameter or pseudo parameter`);
    }
    const { region } = this.options;
    switch (resource.Type) {
      case 'AWS::SNS::Topic':
        return `arn:aws:sns:${region}:${LOCAL_ACCOUNT}:${this.literalName(resource, 'TopicName') ?? logicalId}`;
      case 'AWS::S3::Bucket':
        return this.bucketName(logicalId);
      case 'AWS::ECS::TaskDefinition':
        return this.taskDefinitionArn(logicalId);
      case 'AWS::StepFunctions::StateMachine':
        return `arn:aws:states:${region}:${LOCAL_ACCOUNT}:stateMachine:${this.literalName(resource, 'StateMachineName') ?? logicalId}`;
      case 'AWS::Lambda::Function':
        return this.literalName(resource, 'FunctionName') ?? logicalId;
      case 'AWS::ECS::Cluster':
        return this.literalName(resource, 'ClusterName') ?? logicalId;
      case 'AWS::KMS::Key':
        return `${logicalId.toLowerCase()}-0000-0000-0000-000000000000`.slice(0, 36);
      case 'AWS::EC2::Subnet':
        return `subnet-${physicalName(logicalId)}`;
      case 'AWS::EC2::SecurityGroup':
        return `sg-${physicalName(logicalId)}`;
      case 'AWS::EC2::VPC':
        return `vpc-${physicalName(logicalId)}`;
      default:
        return this.literalName(resource, 'Name') ?? logicalId;
    }
  }

  public getAtt(logicalId: string, attribute: string, path = '$'): string {
    const resource = this.resources[logicalId];
    if (!resource) {
      throw new UnresolvableIntrinsicError(`${path}: Fn::GetAtt of "${logicalId}.${attribute}", which is not a resource in the template`);
    }
    const { region } = this.options;
    const name = () => this.ref(logicalId, path);
    switch (`${resource.Type}.${attribute}`) {
      case 'AWS::Lambda::Function.Arn':
        return this.lambdaArn(logicalId);
      case 'AWS::S3::Bucket.Arn':
        return `arn:aws:s3:::${name()}`;
      case 'AWS::S3::Bucket.DomainName':
      case 'AWS::S3::Bucket.RegionalDomainName':
        return `${name()}.s3.${region}.amazonaws.com`;
      case 'AWS::ECS::Cluster.Arn':
        return `arn:aws:ecs:${region}:${LOCAL_ACCOUNT}:cluster/${name()}`;
      case 'AWS::ECS::TaskDefinition.TaskDefinitionArn':
        return this.taskDefinitionArn(logicalId);
      case 'AWS::IAM::Role.Arn':
        return `arn:aws:iam::${LOCAL_ACCOUNT}:role/${this.literalName(resource, 'RoleName') ?? logicalId}`;
      case 'AWS::KMS::Key.Arn':
        return `arn:aws:kms:${region}:${LOCAL_ACCOUNT}:key/${name()}`;
      case 'AWS::SNS::Topic.TopicArn':
        return name();
      case 'AWS::SNS::Topic.TopicName':
        return this.literalName(resource, 'TopicName') ?? logicalId;
      case 'AWS::StepFunctions::StateMachine.Arn':
        return name();
      case 'AWS::StepFunctions::StateMachine.Name':
        return this.literalName(resource, 'StateMachineName') ?? logicalId;
      case 'AWS::EC2::SecurityGroup.GroupId':
        return `sg-${physicalName(logicalId)}`;
      case 'AWS::Logs::LogGroup.Arn':
        return `arn:aws:logs:${region}:${LOCAL_ACCOUNT}:log-group:${logicalId}:*`;
      default:
        // Anything else only needs to be stable and recognisable, e.g. a custom resource's output.
        return `local:${logicalId}.${attribute}`;
    }
  }

  public lambdaArn(logicalId: string): string {
    return `arn:aws:lambda:${this.options.region}:${LOCAL_ACCOUNT}:function:${this.ref(logicalId)}`;
  }

  public bucketName(logicalId: string): string {
    const override = this.options.refOverrides?.[logicalId];
    if (override !== undefined) {
      return override;
    }
    const resource = this.resources[logicalId];
    const literal = resource?.Properties?.BucketName;
    if (literal !== undefined) {
      return this.resolveString(literal, `${logicalId}.Properties.BucketName`);
    }
    return physicalName(logicalId).slice(0, 63);
  }

  public taskDefinitionArn(logicalId: string): string {
    const resource = this.resources[logicalId];
    const family = resource?.Properties?.Family !== undefined ? this.resolveString(resource.Properties.Family) : logicalId;
    return `arn:aws:ecs:${this.options.region}:${LOCAL_ACCOUNT}:task-definition/${family}:1`;
  }

  private literalName(resource: TemplateResource, property: string): string | undefined {
    const value = resource.Properties?.[property];
    return value === undefined ? undefined : this.resolveString(value);
  }

  private pseudo(name: string): string | undefined {
    switch (name) {
      case 'AWS::Region':
        return this.options.region;
      case 'AWS::AccountId':
        return LOCAL_ACCOUNT;
      case 'AWS::Partition':
        return 'aws';
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return this.options.stackName ?? 'local';
      case 'AWS::StackId':
        return `arn:aws:cloudformation:${this.options.region}:${LOCAL_ACCOUNT}:stack/${this.options.stackName ?? 'local'}/local`;
      default:
        return undefined;
    }
  }

  private intrinsic(fn: string, args: unknown, path: string): unknown {
    switch (fn) {
      case 'Ref':
        if (args === 'AWS::NoValue') {
          return NO_VALUE;
        }
        return this.ref(String(args), path);
      case 'Fn::GetAtt': {
        const [logicalId, attribute] = Array.isArray(args) ? args : String(args).split(/\.(.*)/s);
        return this.getAtt(String(logicalId), this.resolveString(attribute, path), path);
      }
      case 'Fn::Join': {
        const [separator, parts] = args as [string, unknown];
        const resolved = this.resolve(parts, path);
        if (!Array.isArray(resolved)) {
          throw new UnresolvableIntrinsicError(`${path}: Fn::Join expects a list, found ${JSON.stringify(resolved)}`);
        }
        return resolved.map((part) => (typeof part === 'string' ? part : JSON.stringify(part))).join(separator);
      }
      case 'Fn::Sub': {
        const [text, variables] = Array.isArray(args) ? (args as [string, Record<string, unknown>]) : [String(args), {}];
        const vars = this.resolve(variables ?? {}, path) as Record<string, unknown>;
        return text.replace(/\$\{([^}!][^}]*)\}/g, (_, name: string) => {
          if (name in vars) {
            return String(vars[name]);
          }
          const [logicalId, attribute] = name.split(/\.(.*)/s);
          return attribute ? this.getAtt(logicalId, attribute, path) : this.ref(logicalId, path);
        });
      }
      case 'Fn::Select': {
        const [index, list] = args as [unknown, unknown];
        const resolved = this.resolve(list, path) as unknown[];
        return resolved[Number(this.resolve(index, path))];
      }
      case 'Fn::Split': {
        const [separator, text] = args as [string, unknown];
        return this.resolveString(text, path).split(separator);
      }
      case 'Fn::GetAZs':
        return ['a', 'b', 'c'].map((az) => `${this.options.region}${az}`);
      case 'Fn::FindInMap': {
        const [map, top, second] = (args as unknown[]).map((a) => this.resolve(a, path));
        return this.template.Mappings?.[String(map)]?.[String(top)]?.[String(second)];
      }
      case 'Fn::ImportValue':
        return `local-import:${this.resolveString(args, path)}`;
      case 'Fn::If': {
        const [condition, whenTrue, whenFalse] = args as [string, unknown, unknown];
        return this.resolve(this.condition(condition, path) ? whenTrue : whenFalse, path);
      }
      case 'Fn::Equals': {
        const [a, b] = (args as unknown[]).map((x) => this.resolve(x, path));
        return JSON.stringify(a) === JSON.stringify(b);
      }
      case 'Fn::Not':
        return !this.resolve((args as unknown[])[0], path);
      case 'Fn::And':
        return (args as unknown[]).every((x) => this.resolve(x, path) === true);
      case 'Fn::Or':
        return (args as unknown[]).some((x) => this.resolve(x, path) === true);
      case 'Fn::Base64':
        return Buffer.from(this.resolveString(args, path)).toString('base64');
      default:
        throw new UnresolvableIntrinsicError(`${path}: the local runtime does not resolve ${fn}`);
    }
  }

  private condition(name: string, path: string): boolean {
    const definition = this.template.Conditions?.[name];
    if (definition === undefined) {
      throw new UnresolvableIntrinsicError(`${path}: Fn::If names condition "${name}", which the template does not define`);
    }
    return this.resolve(definition, `Conditions.${name}`) === true;
  }
}

/** Marker for `Ref: AWS::NoValue`: the enclosing key or element disappears. */
const NO_VALUE = Symbol('AWS::NoValue');
