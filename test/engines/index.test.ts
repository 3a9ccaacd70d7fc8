import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import mysql from 'mysql2/promise';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connection } from '../../engines/connection';
import type { EngineAdapter } from '../../engines/engine';
import { ADAPTERS } from '../../engines/index';
import { redisThrowaway } from '../../engines/redis/throwaway';
import { startThrowaway, type ThrowawayServer } from '../../engines/throwaway';

/**
 * The registry is the one place an engine is named: the drill, the restore guard and dev/servers reach the
 * throwaway server, the sanity checks and the target check through the adapter only. Every drillable adapter
 * is driven here through those fields alone, against the real server its own spec starts.
 */

/** One object per engine, written with the engine's own client: the only engine-specific part of this file. */
const SEED: Record<string, (connection: Connection) => Promise<void>> = {
  postgres: async (c) => {
    const client = new Client({ host: c.host, port: c.port, user: c.username, password: c.password, database: c.database });
    await client.connect();
    await client.query('CREATE TABLE public.orders (id int primary key); INSERT INTO public.orders VALUES (1), (2)');
    await client.end();
  },
  mariadb: async (c) => {
    const conn = await mysql.createConnection({ host: c.host, port: c.port, user: c.username, password: c.password });
    await conn.query('CREATE DATABASE shop');
    await conn.query('CREATE TABLE shop.orders (id int primary key)');
    await conn.query('INSERT INTO shop.orders VALUES (1), (2)');
    await conn.end();
  },
  redis: async (c) => {
    const client = new Redis({ host: c.host, port: c.port, password: c.password });
    await client.set('user:1', 'one');
    client.disconnect();
  },
};

const drillable = [...new Set(Object.values(ADAPTERS))].filter(
  (adapter): adapter is EngineAdapter & Required<Pick<EngineAdapter, 'drill'>> => Boolean(adapter.drill),
);

describe('engine registry', () => {
  it('names every engine once, and says which ones a drill can restore', () => {
    // Prepare, Act
    const withDrill = Object.entries(ADAPTERS)
      .filter(([, adapter]) => adapter.drill)
      .map(([name]) => name);
    // Assess
    expect(withDrill).toEqual(['postgres', 'mysql', 'mariadb', 'redis']);
    expect(drillable.map((adapter) => adapter.drill.throwaway.engine)).toEqual(['postgres', 'mariadb', 'redis']);
  });

  it('says which binary could not be started, and leaves no directory behind', async () => {
    // Prepare
    const spec = { ...redisThrowaway, command: () => ({ command: '/nonexistent/redis-server', args: [] }) };
    const before = new Set(readdirSync(tmpdir()).filter((name) => name.startsWith('strongbox-drill-redis-')));
    // Act
    const failure = await startThrowaway(spec, { prefix: join(tmpdir(), 'strongbox-drill-redis-') }).then(
      () => undefined,
      (error: Error) => error,
    );
    // Assess
    expect(failure?.message).toMatch(/^throwaway redis-server could not be started: spawn \/nonexistent\/redis-server ENOENT/);
    expect(readdirSync(tmpdir()).filter((name) => name.startsWith('strongbox-drill-redis-') && !before.has(name))).toEqual([]);
  });

  it('keeps the output a server wrote after its exit, where its reason for exiting often is', async () => {
    // Prepare: the shell exits at once; a child still holding its stderr writes the reason half a second later
    const script = 'echo "FATAL:  the database system is starting up" >&2; (sleep 0.5; echo "FATAL:  the real reason" >&2) & exit 3';
    const spec = {
      ...redisThrowaway,
      command: () => ({ command: '/bin/sh', args: ['-c', script] }),
      probe: async () => {
        throw new Error('not up');
      },
    };
    // Act
    const failure = await startThrowaway(spec).then(
      () => undefined,
      (error: Error) => error,
    );
    // Assess
    expect(failure?.message).toMatch(/^throwaway redis-server exited with code 3 before accepting connections:\n/);
    expect(failure?.message).toContain('FATAL:  the real reason');
  });

  describe.each(drillable.map((adapter) => [adapter.drill.throwaway.engine, adapter] as const))(
    '%s, through its adapter only',
    (engine, adapter) => {
      let server: ThrowawayServer;

      beforeAll(async () => {
        server = await startThrowaway(adapter.drill.throwaway);
      }, 180_000);
      afterAll(async () => {
        await server?.stop();
      });

      it('starts an empty server that the target check finds empty and the sanity checks pass', async () => {
        // Prepare
        const connection = server.connection;
        // Act
        const holds = await adapter.targetHoldsData(connection, []);
        const checks = await adapter.drill.sanityChecks(connection, await adapter.inventory(connection));
        // Assess
        expect(holds).toBeUndefined();
        expect(checks.length).toBeGreaterThan(0);
        expect(checks.filter((c) => !c.passed)).toEqual([]);
        expect(checks.every((c) => c.name.startsWith(`${engine}: `))).toBe(true);
      });

      it('finds the seeded object in the way of a restore, and still passes the sanity checks over it', async () => {
        // Prepare
        await SEED[engine](server.connection);
        // Act
        const holds = await adapter.targetHoldsData(server.connection, []);
        const inventory = await adapter.inventory(server.connection);
        const checks = await adapter.drill.sanityChecks(server.connection, inventory);
        // Assess
        expect(holds).toMatch(engine === 'redis' ? /^1 key in db0$/ : /^1 existing object, such as (public|shop)\.orders$/);
        expect(inventory.entries.length).toBeGreaterThan(0);
        expect(checks.filter((c) => !c.passed)).toEqual([]);
      });

      it("connects through the adapter's own helper: a wrong password fails naming the host, never the password", async () => {
        // Prepare
        const wrong = { ...server.connection, password: 'not-the-password' };
        // Act
        const failure = await adapter.drill
          .sanityChecks(wrong, { exact: false, entries: [{ name: 'db0', kind: 'keyspace', count: 1 }] })
          .then(
            () => undefined,
            (error: Error) => error,
          );
        // Assess
        expect(failure?.message).toContain(`${server.connection.host}:${server.connection.port}`);
        expect(failure?.message).not.toContain(server.connection.password);
      });

      it('stops the server and removes its directory', async () => {
        // Prepare
        const directory = server.directory;
        // Act
        await server.stop();
        // Assess
        expect(existsSync(directory)).toBe(false);
        await expect(adapter.targetHoldsData(server.connection, [])).rejects.toThrow(/cannot connect/);
      });
    },
  );
});
