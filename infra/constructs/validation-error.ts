import type { IConstruct } from 'constructs';

/**
 * A construct prop or config value that cannot deploy. The message starts with the construct path, so a
 * fleet of hundreds of databases still says which one (`strongbox-primary/DumpTask-orders: ...`), and
 * bin/strongbox.ts prints it as one line without a stack trace. aws-cdk-lib has a ValidationError of its own,
 * but it is @internal (not part of its public API), hence this small class.
 */
export class ValidationError extends Error {
  /** Construct path of the scope that rejected the value. */
  public readonly path: string;

  public constructor(message: string, scope: IConstruct) {
    super(`${scope.node.path}: ${message}`);
    this.name = 'ValidationError';
    this.path = scope.node.path;
  }
}
