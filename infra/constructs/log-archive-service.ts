import { Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FUNCTION_ENV } from '../../contracts/function-env';
import type { Plan } from '../../contracts/plan';
import { logsPrefix } from '../../contracts/vault';
import { AppFunction } from './app-function';
import { ValidationError } from './validation-error';
import { grantReplicationUnder, type IVault, replicaEnvironment } from './vault';

export interface LogArchiveServiceProps {
  readonly plan: Plan;
  readonly cluster: ecs.ICluster;
  readonly taskSubnets: readonly ec2.ISubnet[];
  readonly taskSecurityGroups: readonly ec2.ISecurityGroup[];
  /** Each database's own task definition (DumpTask): its default command is stream-logs for a continuous database. */
  readonly taskDefinitions: Readonly<Record<string, ecs.FargateTaskDefinition>>;
  readonly vault: IVault;
  /** The replica vault and its region's KMS key: the streamed segments are copied there as the scheduled ones are. */
  readonly replicaVault: IVault;
  readonly replicaKmsKey: string;
  /** Where the replication schedule's failed invocations land (the fleet's schedule DLQ). */
  readonly deadLetterQueue: sqs.IQueue;
  /**
   * How often the streamed segments are copied to the replica vault.
   * @default Duration.minutes(1)
   */
  readonly replicateEvery?: Duration;
}

/**
 * logs.mode continuous: per database an ECS Fargate service of one task running stream-logs, which archives the
 * binlog tail every logs.flushSeconds and holds the archiving lock as a lease (no scheduled run is made for it).
 * Deployments stop the old task before starting the new one (minimum healthy 0 %, maximum 100 %): the old
 * task's SIGTERM makes its last flush and frees the lease, so two streamers never wait on each other; the
 * circuit breaker rolls back a revision whose task keeps failing. No public IP, the task's own roles and
 * logs CMK (DumpTask). The lag alarm (Monitoring, LogArchiveLagSeconds against the RPO, missing data breaching)
 * is the "service not running" signal: a stopped streamer emits nothing.
 *
 * Segments reach the replica vault through the log-archive workflow's replicate handler, as a function of its
 * own that a rule invokes per continuous database every `replicateEvery`: asynchronous, so it has a DLQ and a
 * concurrency ceiling, which the workflow's synchronous copy must not have.
 */
export class LogArchiveService extends Construct {
  public readonly services: Readonly<Record<string, ecs.FargateService>>;
  public readonly replicateSegments: AppFunction;
  public readonly replicationRules: Readonly<Record<string, events.Rule>>;

  public constructor(scope: Construct, id: string, props: LogArchiveServiceProps) {
    super(scope, id);
    const streamed = Object.values(props.plan.databases).filter((db) => db.logs?.mode === 'continuous');
    if (streamed.length === 0) {
      throw new ValidationError(
        `the plan of "${props.plan.app}" has no database with logs.mode continuous; build LogArchiveService only when one streams its binlog`,
        this,
      );
    }
    if (props.taskSubnets.length === 0) {
      throw new ValidationError('taskSubnets is empty; the log-archive service needs at least one subnet', this);
    }
    const app = props.plan.app;
    const services: Record<string, ecs.FargateService> = {};
    for (const db of streamed) {
      const taskDefinition = props.taskDefinitions[db.name];
      if (!taskDefinition) {
        throw new ValidationError(`no task definition for "${db.name}"; expected one per continuous database (DumpTask)`, this);
      }
      services[db.name] = new ecs.FargateService(this, `Service-${db.name}`, {
        serviceName: `${app}-logs-${db.name}`,
        cluster: props.cluster,
        taskDefinition,
        desiredCount: 1,
        minHealthyPercent: 0,
        maxHealthyPercent: 100,
        circuitBreaker: { enable: true, rollback: true },
        assignPublicIp: false,
        vpcSubnets: { subnets: [...props.taskSubnets] },
        securityGroups: [...props.taskSecurityGroups],
        platformVersion: ecs.FargatePlatformVersion.LATEST,
        propagateTags: ecs.PropagatedTagSource.SERVICE,
        enableECSManagedTags: true,
      });
    }
    this.services = services;

    const every = props.replicateEvery ?? Duration.minutes(1);
    this.replicateSegments = new AppFunction(this, 'ReplicateSegments', {
      name: 'logs/replicate',
      plan: props.plan,
      description: `Strongbox (${app}) log-archive service: server-side copy of streamed segments to the replica vault, every ${every.toHumanString()}`,
      timeout: Duration.minutes(5),
      memorySize: 512,
      environment: {
        [FUNCTION_ENV.vaultBucket]: props.vault.bucketName,
        ...replicaEnvironment(props.replicaVault, props.replicaKmsKey),
      },
      deadLetterQueue: props.deadLetterQueue,
      // One copy per database and minute; a copy still running when the next starts would only repeat its work.
      reservedConcurrency: streamed.length,
    });
    const replicationRules: Record<string, events.Rule> = {};
    for (const db of streamed) {
      const segments = logsPrefix(db.name);
      grantReplicationUnder(this.replicateSegments.function, props.vault, props.replicaVault, segments);
      replicationRules[db.name] = new events.Rule(this, `Replicate-${db.name}`, {
        description: `Strongbox (${app}): copy the streamed segments of ${db.name} to the replica vault every ${every.toHumanString()}`,
        schedule: events.Schedule.rate(every),
        targets: [
          new targets.LambdaFunction(this.replicateSegments.function, {
            event: events.RuleTargetInput.fromObject({ database: db.name }),
            retryAttempts: 0,
            deadLetterQueue: props.deadLetterQueue,
          }),
        ],
      });
    }
    this.replicationRules = replicationRules;
  }
}
