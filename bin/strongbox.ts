import { buildApp, createApp } from '../infra/app';
import { ConfigError, loadConfig } from '../infra/config/load';

/**
 * CDK entry point. The config file comes from `-c config=<file>`, else STRONGBOX_CONFIG, else
 * ./strongbox.config.yaml. A bad config prints one line per problem and exits 1, without a stack trace.
 */
const app = createApp();
const file: string = app.node.tryGetContext('config') ?? process.env.STRONGBOX_CONFIG ?? 'strongbox.config.yaml';
try {
  buildApp(loadConfig(file), { app });
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
app.synth();
