import { buildApp, createApp } from '../infra/app';
import { ConfigError, loadConfig } from '../infra/config/load';
import { ValidationError } from '../infra/constructs/validation-error';

/**
 * CDK entry point. The config file comes from `-c config=<file>`, else STRONGBOX_CONFIG, else
 * ./strongbox.config.yaml. A bad config, or a value a construct rejects, prints one line per problem and exits 1,
 * without a stack trace.
 */
const app = createApp();
const file: string = app.node.tryGetContext('config') ?? process.env.STRONGBOX_CONFIG ?? 'strongbox.config.yaml';
try {
  buildApp(loadConfig(file), { app });
} catch (error) {
  if (error instanceof ConfigError || error instanceof ValidationError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
app.synth();
