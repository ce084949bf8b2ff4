import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { redisServerArgs } from '../../src/runtime/local-probes.js';
import { freePort } from './redis-server.js';
import { waitFor } from './wait-for.js';

interface ClusterNodeProcess {
  port: number;
  busPort: number;
  dir: string;
  process: ChildProcess;
  exited: Promise<void>;
}

/** Runs a command to its end; rejects with its output when it fails. */
function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`${command} exited ${code}: ${output}`)),
    );
  });
}

/**
 * A private Redis Cluster for one suite: `masters` redis-server processes (no replicas), each
 * with its own port, cluster bus port and directory, AOF on and noeviction, joined with
 * `redis-cli --cluster create`. `destroy()` kills every process and removes the directories.
 */
export class PrivateRedisCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'smad-cluster-'));
  private readonly nodes: ClusterNodeProcess[] = [];

  private constructor() {}

  /** `redis://127.0.0.1:A,redis://127.0.0.1:B,...`: every node, as redis.url takes them with redis.cluster. */
  get url(): string {
    return this.nodes.map((n) => `redis://127.0.0.1:${n.port}`).join(',');
  }

  get ports(): number[] {
    return this.nodes.map((n) => n.port);
  }

  static async start(masters = 3): Promise<PrivateRedisCluster> {
    const cluster = new PrivateRedisCluster();
    try {
      for (let i = 0; i < masters; i++) await cluster.startNode();
      await run('redis-cli', [
        '--cluster',
        'create',
        ...cluster.nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ]);
      await waitFor(
        async () => (await Promise.all(cluster.nodes.map((n) => cluster.stateOk(n.port)))).every(Boolean),
        {
          timeoutMs: 20_000,
          what: 'cluster_state:ok on every node',
        },
      );
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  private async startNode(): Promise<void> {
    const port = await freePort();
    // The bus port is given explicitly (cluster-port): port + 10000 may be taken or out of range.
    let busPort = await freePort();
    while (busPort === port) busPort = await freePort();
    const dir = join(this.dir, String(port));
    mkdirSync(dir);
    const child = spawn(
      'redis-server',
      [
        ...redisServerArgs(port, dir),
        '--cluster-enabled',
        'yes',
        '--cluster-port',
        String(busPort),
        '--cluster-config-file',
        join(dir, 'nodes.conf'),
        '--cluster-node-timeout',
        '5000',
      ],
      { stdio: 'ignore' },
    );
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    this.nodes.push({ port, busPort, dir, process: child, exited });
    await waitFor(() => this.ping(port), { timeoutMs: 10_000, what: `cluster node on port ${port}` });
  }

  private async withNode<T>(port: number, fn: (client: Redis) => Promise<T>): Promise<T> {
    const client = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      return await fn(client);
    } finally {
      client.disconnect();
    }
  }

  private async ping(port: number): Promise<boolean> {
    try {
      return await this.withNode(port, async (c) => (await c.ping()) === 'PONG');
    } catch {
      return false;
    }
  }

  private async stateOk(port: number): Promise<boolean> {
    try {
      return await this.withNode(port, async (c) => /cluster_state:ok/.test(await c.cluster('INFO')));
    } catch {
      return false;
    }
  }

  /** The port of the master that serves a key. */
  async ownerOf(key: string): Promise<number> {
    const first = this.nodes[0];
    if (!first) throw new Error('no nodes');
    const slot = await this.withNode(first.port, (c) => c.cluster('KEYSLOT', key));
    const slots = await this.withNode(first.port, (c) => c.cluster('SLOTS'));
    const range = slots.find(([from, to]) => slot >= from && slot <= to);
    const port = range?.[2]?.[1];
    if (port === undefined) throw new Error(`no node serves slot ${slot}`);
    return port;
  }

  /** Keys held by each node (port → count). */
  async keysPerNode(): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    for (const node of this.nodes) out.set(node.port, await this.withNode(node.port, (c) => c.dbsize()));
    return out;
  }

  /** A cluster client; the caller disconnects it. */
  client(): Cluster {
    const client = new Cluster(
      this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
      { redisOptions: { maxRetriesPerRequest: null } },
    );
    client.on('error', () => {});
    return client;
  }

  /** The last lines of each node's log (for failure messages). */
  logs(lines = 20): string {
    return this.nodes
      .map((n) => {
        let text = '';
        try {
          text = readFileSync(join(n.dir, 'redis.log'), 'utf8');
        } catch {
          text = '(no log)';
        }
        return `--- node ${n.port}\n${text.split('\n').slice(-lines).join('\n')}`;
      })
      .join('\n');
  }

  /** Kills every node and removes the directories. */
  async destroy(): Promise<void> {
    for (const node of this.nodes) {
      if (node.process.exitCode === null && node.process.signalCode === null) node.process.kill('SIGKILL');
    }
    await Promise.all(this.nodes.map((n) => n.exited));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
