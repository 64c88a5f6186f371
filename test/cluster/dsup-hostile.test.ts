/**
 * Distributed-supervisor gossip from a hostile (authenticated) peer: the tables it feeds are
 * bounded (records, tombstones), a record of many children costs one count per placement
 * pass rather than one per child, and a behaviour this node does not offer is reported once,
 * not once per child and attempt.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DsupHost, type DsupLinks } from '../../src/cluster/distributed-supervisor.js';
import type { AnyRef } from '../../src/index.js';
import { Runtime, withRuntime } from '../../src/index.js';
import { waitFor } from '../../src/testing.js';

const SELF = 'a@127.0.0.1:1';
const PEER = 'p@127.0.0.2:2~x';

const hosts: DsupHost[] = [];
afterEach(() => {
  for (const h of hosts.splice(0)) h.close();
});

function setup() {
  const errors: string[] = [];
  const rt = new Runtime({ logger: { error: (m) => errors.push(m), warn: () => {}, info: () => {} } });
  const stats = { whereis: 0 };
  const links: DsupLinks = {
    self: SELF,
    connected: () => [],
    control: () => {},
    call: () => Promise.resolve(true),
    whereis: (): AnyRef | undefined => {
      stats.whereis++;
      return undefined;
    },
    register: () => Promise.resolve(),
  };
  const host = withRuntime(rt, () => new DsupHost(rt, links));
  hosts.push(host);
  return { rt, host, errors, stats };
}

const rec = (name: string, uid: string, children: number, selector = 'local_first') => ({
  uid,
  name,
  version: 1,
  selector,
  intensity: { maxRestarts: 3, withinMs: 5000 },
  splitBrain: 'none',
  children: Array.from({ length: children }, (_, i) => [`c${i}`, { id: `c${i}`, behavior: 'Nope' }, 'active']),
  participants: [],
});

describe('distributed supervisors under hostile gossip', () => {
  it('keeps at most 1,024 records, however many a peer sends', () => {
    const { host } = setup();
    for (let i = 0; i < 1100; i++) host.gossip(PEER, { type: 'd_rec', rec: rec(`s${i}`, `u${i}`, 0) });
    expect(host.names()).toHaveLength(1024);
  });

  it('remembers at most 4,096 stopped uids, and ignores an oversized one', () => {
    const { host } = setup();
    for (let i = 0; i < 10_000; i++) host.gossip(PEER, { type: 'd_stop', uid: `t${i}`, name: 'x' });
    host.gossip(PEER, { type: 'd_stop', uid: 'u'.repeat(1_000_000), name: 'x' });
    const tombs = (host as unknown as { tombstones: Set<string> }).tombstones;
    expect(tombs.size).toBe(4096);
    expect(tombs.has('t9999')).toBe(true);
    expect(tombs.has('t0')).toBe(false);
    // A stopped supervisor still in memory is not revived by a record from a node that missed the stop.
    host.gossip(PEER, { type: 'd_rec', rec: rec('late', 't9999', 0) });
    expect(host.names()).not.toContain('late');
  });

  it('places 10,000 least_loaded children with one count per pass, and reports a missing behaviour once', async () => {
    const { host, errors, stats } = setup();
    host.gossip(PEER, { type: 'd_rec', rec: rec('big', 'ubig', 10_000, 'least_loaded') });
    // Counting every child again for each placement made 10^8 lookups (seconds of blocked main thread).
    expect(stats.whereis).toBeLessThan(40_000);
    await waitFor(() => errors.length > 0, 5000, 'the missing behaviour to be reported');
    await new Promise((r) => setTimeout(r, 50));
    expect(errors.filter((e) => e.includes('behaviour Nope'))).toHaveLength(1);
  });
});
