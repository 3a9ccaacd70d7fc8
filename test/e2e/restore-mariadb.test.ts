import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineServer, startMariadb } from '../../dev/servers/engines';
import { auditOf, backedUp, causeMessage, type E2e, startE2e, targetSecret } from './harness';

/** The console restore of MariaDB, end to end on the synthesized definition with the real restore task. */

let maria: EngineServer;
let e2e: E2e;
let secretArn: string;
let first: string;

async function query<T>(sql: string, database?: string): Promise<T[]> {
  const c = await mysql.createConnection({
    host: maria.host,
    port: maria.port,
    user: maria.username,
    password: maria.password,
    database,
    multipleStatements: true,
  });
  try {
    return (await c.query(sql))[0] as T[];
  } finally {
    await c.end();
  }
}

const count = async (database: string, table: string) =>
  Number((await query<{ n: number }>(`SELECT COUNT(*) AS n FROM \`${database}\`.\`${table}\``))[0].n);
const tables = async (database: string) =>
  (await query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = '${database}' ORDER BY 1`)).map(
    (r) => r.t,
  );

beforeAll(async () => {
  maria = await startMariadb();
  await query(
    `CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(100) CHARACTER SET utf8mb4 NOT NULL);
     CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, note TEXT NULL, FOREIGN KEY (customer_id) REFERENCES customers (id));
     INSERT INTO customers VALUES (1, 'Zoë'), (2, 'Jürgen'), (3, '李雷');
     INSERT INTO orders VALUES (10, 1, NULL), (11, 1, 'über'), (12, 3, NULL), (13, 2, 'x');`,
    'strongbox',
  );
  e2e = await startE2e([{ name: 'billing', server: maria, database: 'strongbox' }], {
    onTaskFailure: (failure) => process.stderr.write(`task failed (${failure.stateName}):\n${failure.stderrTail}\n`),
  });
  secretArn = targetSecret(e2e.strongbox, 'billing-scratch', maria);
  first = await backedUp(e2e.strongbox, 'billing');
}, 240_000);

afterAll(async () => {
  await e2e?.stop();
  await maria?.stop();
});

describe('restore state machine, end to end on MariaDB', () => {
  it('restores a backup by backupId into a new database under another name', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'billing',
      backupId: first,
      target: { host: maria.host, port: maria.port, database: 'billing_first', secretArn },
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(await tables('billing_first')).toEqual(['customers', 'orders']);
    expect(await count('billing_first', 'orders')).toBe(4);
    expect((await query<{ name: string }>('SELECT name FROM billing_first.customers WHERE id = 3'))[0].name).toBe('李雷');
  });

  it('restores by pointInTime', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'billing',
      pointInTime: new Date().toISOString(),
      target: { host: maria.host, port: maria.port, database: 'billing_pit', secretArn },
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect((result.output as { resolved: { backupId: string } }).resolved.backupId).toBe(first);
    expect(await count('billing_pit', 'customers')).toBe(3);
  });

  it('restores "latest" after a newer backup, and the audit record names it', async () => {
    // Prepare
    await query("INSERT INTO orders VALUES (14, 2, 'new')", 'strongbox');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const second = await backedUp(e2e.strongbox, 'billing');

    // Act
    const result = await e2e.strongbox.restore({
      database: 'billing',
      latest: true,
      target: { host: maria.host, port: maria.port, database: 'billing_latest', secretArn },
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(await count('billing_latest', 'orders')).toBe(5);
    expect(await auditOf(e2e.strongbox, 'billing', result.name)).toMatchObject({ outcome: 'restored', backupId: second });
  });

  it('restores one table only', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'billing',
      latest: true,
      target: { host: maria.host, port: maria.port, database: 'billing_orders', secretArn },
      include: ['strongbox.orders'],
    });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(await tables('billing_orders')).toEqual(['orders']);
    expect(await count('billing_orders', 'orders')).toBe(5);
  });

  it('refuses a non-empty target at Guard and leaves it as it was', async () => {
    // Act
    const result = await e2e.strongbox.restore({
      database: 'billing',
      latest: true,
      target: { host: maria.host, port: maria.port, database: 'billing_first', secretArn },
    });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RestoreRefusedError');
    expect(causeMessage(result.cause)).toContain(
      `Refusing to restore "billing" into a non-empty target 127.0.0.1:${maria.port}/billing_first (2 existing objects, such as `,
    );
    expect(result.path).not.toContain('Restore');
    expect(await count('billing_first', 'orders')).toBe(4);
  });
});
