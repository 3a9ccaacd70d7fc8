import { ReplicateEnvSchema } from '../../../contracts/function-env';
import { BaseRefSchema } from '../../../contracts/payloads/backup';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { replicateBase } from '../replicate/bases';
import { replicateDeps } from '../replicate/deps';

export const handler = lambdaHandler({ name: 'Replicate base event', schema: BaseRefSchema, env: ReplicateEnvSchema }, async (event, env) =>
  replicateBase(event, replicateDeps(env)),
);
