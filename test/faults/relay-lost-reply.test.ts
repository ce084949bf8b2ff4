import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger } from '../../src/ledger/ledger.js';
import { openDeliveryQueue } from '../../src/webhooks/delivery-queue.js';
import { OutboxRelay, type RelayOutcome } from '../../src/webhooks/outbox-relay.js';
import { PrivateRedis } from '../support/redis-server.js';
import { testConfig } from '../support/smad.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Found by the fault suite: Redis stopped the moment it handed an outbox entry to a relay's
 * blocking XREADGROUP; the reply was lost with the connection, the entry stayed pending for
 * that (living) consumer, and only another process's XAUTOCLAIM freed it, a minute later.
 * After every (re)connect the relay now reads its own pending entries first.
 */
describe('outbox relay after a lost read reply', () => {
  let redis: PrivateRedis;
  let client: Redis;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    client = redis.client();
    client.on('error', () => {});
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.destroy();
  });

  it('relays entries Redis handed to this consumer before its connection dropped, without waiting for a claim', async () => {
    const config = testConfig({ 'redis.url': redis.url, 'queue.prefix': `t${process.pid}relay` });
    const ledger = new Ledger(client, config.queue.prefix, 0);
    const queue = openDeliveryQueue(config, client);
    const outcomes: [string, RelayOutcome][] = [];
    const relay = new OutboxRelay({
      config,
      connection: client,
      ledger,
      queue,
      logger: pino({ level: 'silent' }),
      consumer: 'relay-1',
      blockMs: 200,
      // Far away: only the relay's own recovery can relay these entries in time.
      claimIdleMs: 3_600_000,
      hooks: { beforeAck: (entry, outcome) => void outcomes.push([entry.inferenceId, outcome]) },
    });
    const stream = ledger.keys.outbox;
    const lose = async (inferenceId: string) => {
      // An entry Redis delivered to relay-1 whose reply never arrived: pending, unseen.
      await client.xadd(
        stream,
        '*',
        'type',
        'inference.completed',
        'inferenceId',
        inferenceId,
        'at',
        Date.now(),
      );
      await client.call(
        'XREADGROUP',
        'GROUP',
        'webhook-relay',
        'relay-1',
        'COUNT',
        10,
        'STREAMS',
        stream,
        '>',
      );
    };
    try {
      await relay.ensureGroup();
      await lose('before-start');
      await relay.start();
      await waitFor(() => outcomes.some(([id]) => id === 'before-start'), {
        what: 'the entry pending before the start to be relayed',
      });

      await lose('before-reconnect');
      // The relay's blocking connection drops and reconnects, as after a Redis restart.
      await client.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      await waitFor(() => outcomes.some(([id]) => id === 'before-reconnect'), {
        what: 'the entry pending before the reconnect to be relayed',
      });
      expect(outcomes).toEqual([
        ['before-start', 'missing'],
        ['before-reconnect', 'missing'],
      ]);
      expect(await client.xlen(stream)).toBe(0);
    } finally {
      await relay.close();
      await queue.close();
    }
  });
});
