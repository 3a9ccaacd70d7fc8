import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NestedStack, type Stack } from 'aws-cdk-lib';
import { buildApp } from '../infra/app';
import type { StrongboxConfig } from '../infra/config/schema';
import { type CfnTemplate, IntrinsicResolver } from './executor/intrinsics';
import type { AslDefinition } from './executor/runtime';

/**
 * Synthesizes the Strongbox app for a config exactly as `cdk synth` would (bundling off, so no esbuild and
 * no Docker) and turns the primary stack into what the local runtime needs: each state machine's ASL with
 * intrinsics resolved to stable fake ARNs, and the resources those ARNs point at (functions and the handler
 * module each one runs, task definitions with their static environment and secrets, topics, buckets).
 */

export const REPO_ROOT = join(__dirname, '..');

export interface SynthesizedFunction {
  readonly logicalId: string;
  readonly arn: string;
  readonly functionName: string;
  /** Repository-relative path of the handler module, `lambdas/<name>/handler.ts`. */
  readonly handlerModule: string;
  /** The function's environment from the template, intrinsics resolved. */
  readonly environment: Readonly<Record<string, string>>;
  readonly timeoutSeconds: number;
  readonly memoryMiB: number;
}

export interface SynthesizedContainer {
  readonly name: string;
  readonly environment: Readonly<Record<string, string>>;
  /** ECS `secrets`: variable name -> ValueFrom (a Secrets Manager ARN, optionally `:<json-key>::`). */
  readonly secrets: Readonly<Record<string, string>>;
  readonly command?: readonly string[];
}

export interface SynthesizedTaskDefinition {
  readonly logicalId: string;
  readonly family: string;
  readonly arn: string;
  readonly containers: readonly SynthesizedContainer[];
}

export interface SynthesizedStateMachine {
  readonly logicalId: string;
  readonly name: string;
  readonly definition: AslDefinition;
}

export interface SynthesizedApp {
  readonly region: string;
  readonly stackName: string;
  readonly template: CfnTemplate;
  readonly stateMachines: readonly SynthesizedStateMachine[];
  /** By fake ARN and by function name. */
  readonly functions: ReadonlyMap<string, SynthesizedFunction>;
  /** By family and by fake ARN. */
  readonly taskDefinitions: ReadonlyMap<string, SynthesizedTaskDefinition>;
  readonly buckets: { readonly primary: string; readonly replica: string };
}

export class LocalSynthError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'LocalSynthError';
  }
}

/** `ConfigSecretArn:username::` -> the JSON key; a bare secret ARN -> undefined (the whole string). */
export function secretJsonKey(valueFrom: string): { secretArn: string; jsonKey?: string } {
  const match = /^(arn:[^:]+:secretsmanager:[^:]+:[^:]+:secret:[^:]+)(?::([^:]*):([^:]*):([^:]*))?$/.exec(valueFrom);
  if (!match) {
    return { secretArn: valueFrom };
  }
  return { secretArn: match[1], jsonKey: match[2] || undefined };
}

export function synthesize(config: StrongboxConfig): SynthesizedApp {
  const { app, primary } = buildApp(config, { bundling: false, nag: false });
  // Each stack's template alone, rendered the way synth renders it (tokens resolved per stack). A full
  // `app.synth()` also writes the whole cloud assembly, validates it and runs the aspects (tags): 5-15 s here
  // against 0.2 s, for nothing a definition, a function environment or a task definition depends on.
  const renderTemplate = (stack: Stack) => {
    const render = (stack as unknown as { _toCloudFormation?: () => unknown })._toCloudFormation;
    return (typeof render === 'function' ? render.call(stack) : app.synth().getStackArtifact(stack.artifactId).template) as CfnTemplate;
  };
  const template = renderTemplate(primary);
  const region = config.vault.primaryRegion;
  const resolver = new IntrinsicResolver(template, { region, stackName: primary.stackName });
  const buckets = {
    primary: resolver.resolveString(primary.resolve(primary.vaultBucket.bucketName), 'vault bucket name'),
    replica: resolver.resolveString(primary.resolve(primary.replica.bucketName), 'replica bucket name'),
  };
  const main = extractApp(template, { region, stackName: primary.stackName, buckets });
  // The dump task definitions live in the primary stack's database shards (nested stacks).
  const taskDefinitions = new Map(main.taskDefinitions);
  for (const shard of primary.node.findAll().filter((c): c is NestedStack => NestedStack.isNestedStack(c))) {
    const nested = extractApp(renderTemplate(shard), { region, stackName: shard.stackName, buckets });
    for (const [key, definition] of nested.taskDefinitions) {
      taskDefinitions.set(key, definition);
    }
  }
  return { ...main, taskDefinitions };
}

export interface ExtractOptions {
  readonly region: string;
  readonly stackName: string;
  readonly buckets: SynthesizedApp['buckets'];
}

/** Reads a synthesized stack template into the runtime's model (see {@link synthesize}). */
export function extractApp(template: CfnTemplate, options: ExtractOptions): SynthesizedApp {
  const { region } = options;
  const resolver = new IntrinsicResolver(template, { region, stackName: options.stackName });
  const resources = template.Resources ?? {};

  const functions = new Map<string, SynthesizedFunction>();
  const taskDefinitions = new Map<string, SynthesizedTaskDefinition>();
  const stateMachines: SynthesizedStateMachine[] = [];

  for (const [logicalId, resource] of Object.entries(resources)) {
    const props = resource.Properties ?? {};
    if (resource.Type === 'AWS::Lambda::Function') {
      const environment = resolver.resolve((props.Environment as { Variables?: unknown } | undefined)?.Variables ?? {}) as Record<
        string,
        unknown
      >;
      const handlerModule = findHandlerModule(logicalId, resource.Metadata?.['aws:cdk:path'] as string | undefined, environment);
      if (!handlerModule) {
        // CDK's own helper functions (log retention, custom resources) never run in a state machine.
        continue;
      }
      const fn: SynthesizedFunction = {
        logicalId,
        arn: resolver.lambdaArn(logicalId),
        functionName: resolver.ref(logicalId),
        handlerModule,
        environment: Object.fromEntries(Object.entries(environment).map(([k, v]) => [k, String(v)])),
        timeoutSeconds: Number(props.Timeout ?? 3),
        memoryMiB: Number(props.MemorySize ?? 128),
      };
      functions.set(fn.arn, fn);
      functions.set(fn.functionName, fn);
    } else if (resource.Type === 'AWS::ECS::TaskDefinition') {
      const arn = resolver.taskDefinitionArn(logicalId);
      const family = arn.replace(/^.*:task-definition\//, '').replace(/:\d+$/, '');
      const containers = ((props.ContainerDefinitions as Record<string, unknown>[] | undefined) ?? []).map((c, i) => {
        const resolved = resolver.resolve(c, `${logicalId}.ContainerDefinitions[${i}]`) as {
          Name: string;
          Environment?: { Name: string; Value: string }[];
          Secrets?: { Name: string; ValueFrom: string }[];
          Command?: string[];
        };
        return {
          name: resolved.Name,
          environment: Object.fromEntries((resolved.Environment ?? []).map((e) => [e.Name, String(e.Value)])),
          secrets: Object.fromEntries((resolved.Secrets ?? []).map((s) => [s.Name, s.ValueFrom])),
          command: resolved.Command,
        };
      });
      const taskDefinition = { logicalId, family, arn, containers };
      taskDefinitions.set(family, taskDefinition);
      taskDefinitions.set(arn, taskDefinition);
    } else if (resource.Type === 'AWS::StepFunctions::StateMachine') {
      const text = props.DefinitionString
        ? resolver.resolveString(props.DefinitionString, `${logicalId}.DefinitionString`)
        : JSON.stringify(resolver.resolve(props.Definition));
      let definition: AslDefinition;
      try {
        definition = JSON.parse(text) as AslDefinition;
      } catch (error) {
        throw new LocalSynthError(`${logicalId}: the resolved DefinitionString is not JSON (${(error as Error).message})`);
      }
      if ((definition as { QueryLanguage?: string }).QueryLanguage === 'JSONata') {
        throw new LocalSynthError(`${logicalId}: JSONata state machines cannot run locally; Strongbox definitions use JSONPath`);
      }
      const name = props.StateMachineName !== undefined ? resolver.resolveString(props.StateMachineName) : logicalId;
      stateMachines.push({ logicalId, name, definition });
    }
  }

  return { region, stackName: options.stackName, template, stateMachines, functions, taskDefinitions, buckets: options.buckets };
}

/**
 * Which `lambdas/<name>/handler.ts` a function runs. With bundling off the template only says `index.handler`,
 * so this reads the names the constructs give: POWERTOOLS_SERVICE_NAME (`<app>-<name>` or `<name>`) and the
 * construct path segments, and takes the first that names an existing handler module.
 */
export function findHandlerModule(
  logicalId: string,
  cdkPath: string | undefined,
  environment: Record<string, unknown>,
): string | undefined {
  const candidates: string[] = [];
  const service = environment.POWERTOOLS_SERVICE_NAME;
  if (typeof service === 'string') {
    const parts = service.split('-');
    // Handlers live in lambdas/<workflow>/<step>/ and their service name is "<workflow>-<step>".
    for (let i = 1; i < parts.length; i++) {
      candidates.push(`${parts.slice(0, i).join('-')}/${parts.slice(i).join('-')}`);
    }
    for (let i = 0; i < parts.length; i++) {
      candidates.push(parts.slice(i).join('-'));
    }
  }
  for (const segment of (cdkPath ?? '').split('/').reverse()) {
    candidates.push(kebab(segment));
    candidates.push(kebab(segment.replace(/(Function|Fn|Handler|Lambda)$/, '')));
  }
  candidates.push(kebab(logicalId.replace(/[0-9A-F]{8}$/, '')));
  for (const candidate of candidates) {
    if (candidate && /^[a-z][a-z0-9-]*(\/[a-z][a-z0-9-]*)?$/.test(candidate)) {
      const module = `lambdas/${candidate}/handler.ts`;
      if (existsSync(join(REPO_ROOT, module))) {
        return module;
      }
    }
  }
  return undefined;
}

function kebab(text: string): string {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/[^A-Za-z0-9-]/g, '-')
    .toLowerCase();
}
