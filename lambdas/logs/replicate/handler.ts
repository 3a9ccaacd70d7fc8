import { ReplicateEnvSchema } from '../../../contracts/function-env';
import { ReplicateSegmentsEventSchema } from '../../../contracts/payloads/backup';
import { replicateDeps } from '../../backup/replicate/deps';
import { replicateSegments } from '../../backup/replicate/segments';
import { lambdaHandler } from '../../runtime/lambda-handler';

export const handler = lambdaHandler(
  { name: 'Replicate segments event', schema: ReplicateSegmentsEventSchema, env: ReplicateEnvSchema },
  async (event, env) => replicateSegments(event.database, replicateDeps(env)),
);
