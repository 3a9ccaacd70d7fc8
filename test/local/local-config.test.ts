import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../infra/config/load';
import { DEMO_CONFIG_FILE, loadLocalConfig, parseLocalConfig } from '../../local/local-config';

const base = `
vault: { primaryRegion: eu-west-1, replicaRegion: eu-central-1 }
alerts: {}
databases:
  - name: orders
    engine: postgres
    tier: general
    connection: { host: 127.0.0.1, port: 5433, database: orders, tls: disable }
    schedule: { expression: rate(1 hour) }
`;

function problems(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) {
      return error.problems;
    }
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('local config', () => {
  it('loads the demo config with a placeholder secret ARN for its credentials', () => {
    // Act
    const local = loadLocalConfig(DEMO_CONFIG_FILE, {}, '/somewhere');

    // Assess
    expect(local.dataDir).toBe('/somewhere/.strongbox');
    expect(local.config.databases.map((d) => d.name)).toEqual(['demo', 'ledger']);
    expect(local.config.databases.map((d) => d.connection.secretArn)).toEqual([
      'arn:aws:secretsmanager:eu-west-1:000000000000:secret:strongbox-local/demo-000000',
      'arn:aws:secretsmanager:eu-west-1:000000000000:secret:strongbox-local/ledger-000000',
    ]);
    expect(local.credentials.demo.username).toBe('strongbox');
    expect(local.credentials.ledger.username).toBe('strongbox');
  });

  it('reads a password from the environment variable named by passwordEnv', () => {
    // Act
    const local = parseLocalConfig(`${base}local:\n  credentials:\n    orders: { username: backup, passwordEnv: ORDERS_PW }\n`, 'l.yaml', {
      ORDERS_PW: 's3cret',
    });

    // Assess
    expect(local.credentials.orders).toEqual({ username: 'backup', password: 's3cret' });
  });

  it('names the database whose credentials are missing, and an unknown database under credentials', () => {
    // Act
    const withSecret = base.replace(
      'tls: disable',
      'tls: disable, secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders"',
    );
    const missing = problems(() => parseLocalConfig(withSecret, 'l.yaml', {}));
    const neither = problems(() => parseLocalConfig(base, 'l.yaml', {}));
    const unknown = problems(() =>
      parseLocalConfig(
        `${base}local:\n  credentials:\n    orders: { username: a, password: b }\n    ordres: { username: a }\n`,
        'l.yaml',
        {},
      ),
    );
    const unset = problems(() =>
      parseLocalConfig(`${base}local:\n  credentials:\n    orders: { username: a, passwordEnv: NOPE }\n`, 'l.yaml', {}),
    );

    // Assess
    expect(missing).toEqual([
      'local.credentials.orders: found nothing; expected the username and password (or passwordEnv) postgres needs',
    ]);
    expect(neither).toEqual([
      'line 7: databases[0].connection.secretArn: found nothing; expected a Secrets Manager ARN: postgres needs credentials',
    ]);
    expect(unknown).toEqual(['local.credentials.ordres: found a database name that is not in databases; expected one of orders']);
    expect(unset).toEqual(['local.credentials.orders.passwordEnv: found NOPE, which is not set; expected it to hold the password']);
  });

  it('rejects an unknown key in the local section with its path', () => {
    // Act
    const found = problems(() => parseLocalConfig(`${base}local:\n  datadir: x\n`, 'l.yaml', {}));

    // Assess
    expect(found).toEqual(['local.unknown field "datadir"; remove it']);
  });
});
