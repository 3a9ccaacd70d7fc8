import { ReplicateEnvSchema } from '../../../contracts/function-env';
import { BackupRefSchema } from '../../../contracts/payloads/backup';
import { lambdaHandler } from '../../runtime/lambda-handler';
import { replicateDeps } from './deps';
import { replicate } from './replicate';

export const handler = lambdaHandler({ name: 'Replicate event', schema: BackupRefSchema, env: ReplicateEnvSchema }, async (event, env) =>
  replicate(event, replicateDeps(env)),
);
