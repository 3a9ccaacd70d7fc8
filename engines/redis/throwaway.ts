import { join } from 'node:path';
import type { ThrowawaySpec } from '../engine';
import { connectRedis } from './connection';

/** redis-server on 127.0.0.1:`port`, AUTH by `password`, no persistence of its own. */
export function redisServerArgs(port: number, directory: string, password: string): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--dir', directory, '--save', '', '--appendonly', 'no', '--requirepass', password];
}

export const redisThrowaway: ThrowawaySpec = {
  engine: 'redis',
  binary: 'redis-server',
  stopSignal: 'SIGTERM',
  drillOptions: [],
  // An RDB restore is a file the fresh server loads at start.
  loadsAtStart: { formats: ['rdb'], options: (path) => ['--dir', join(path, '..'), '--dbfilename', path.split('/').pop() ?? 'dump.rdb'] },
  initialize: () => undefined,
  command: (directory, port, password, options) => ({
    command: 'redis-server',
    args: [...redisServerArgs(port, directory, password), ...options],
  }),
  async probe(_directory, port, password) {
    const client = await connectRedis({ host: '127.0.0.1', port, password, tls: 'disable' });
    try {
      if ((await client.info('persistence')).includes('loading:1')) {
        throw new Error('still loading the RDB');
      }
    } finally {
      client.disconnect();
    }
  },
  login: async (_directory, _port, password) => ({ password }),
};
