/** Node ids: `name@host:port[~creation]`, parsed as hostile input. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatNodeId, newCreation, parseNodeId, sameNode, tryParseNodeId } from '../../src/cluster/node-id.js';
import { InvalidArgumentError } from '../../src/index.js';

describe('node ids', () => {
  it('parses and formats the short and long forms, IPv4, IPv6 and host names', () => {
    expect(parseNodeId('a@127.0.0.1:4001')).toEqual({ name: 'a', host: '127.0.0.1', port: 4001 });
    expect(parseNodeId('node-2.x@localhost:9')).toEqual({ name: 'node-2.x', host: 'localhost', port: 9 });
    expect(parseNodeId('b@[::1]:4002~zz')).toEqual({ name: 'b', host: '::1', port: 4002, creation: 35 * 36 + 35 });
    for (const s of ['a@127.0.0.1:4001', 'b@[::1]:4002~1k9zq3', 'c@my-host.example:65535~1']) expect(formatNodeId(parseNodeId(s))).toBe(s);
    expect(formatNodeId(parseNodeId('b@[::1]:4002~1k'), false)).toBe('b@[::1]:4002');
    expect(sameNode(parseNodeId('a@h:1~1'), parseNodeId('a@h:1~2'))).toBe(true);
  });

  it('refuses malformed ids with InvalidArgumentError naming the argument, never a TypeError', () => {
    const bad: unknown[] = [
      '',
      'a',
      '@h:1',
      'a@:1',
      'a@h',
      'a@h:0',
      'a@h:65536',
      'a@h:-1',
      'a@h:1~',
      'a@h:1~ZZ',
      'a@h:1~zzzzzzzz',
      'a b@h:1',
      'a@h h:1',
      'a@[::1:1',
      'a@[zz]:1',
      'a@999.1.1.1.1:1',
      `${'n'.repeat(65)}@h:1`,
      `a@${'h'.repeat(400)}:1`,
      null,
      42,
      {},
      ['a@h:1'],
    ];
    for (const v of bad) {
      let err: unknown;
      try {
        parseNodeId(v, 'seeds[0]');
      } catch (e) {
        err = e;
      }
      expect(InvalidArgumentError.is(err), String(v)).toBe(true);
      expect((err as InvalidArgumentError).argument).toBe('seeds[0]');
      expect(tryParseNodeId(v)).toBeUndefined();
    }
  });

  it('never throws anything but InvalidArgumentError on random strings, and round-trips what it accepts', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 500 }), fc.stringMatching(/^[a-z]{1,5}@[a-z0-9.:[\]]{1,20}:\d{1,6}(~[0-9a-z]{0,8})?$/)),
        (s) => {
          const parsed = tryParseNodeId(s);
          if (parsed !== undefined) expect(parseNodeId(formatNodeId(parsed))).toEqual(parsed);
          else expect(() => parseNodeId(s)).toThrow(InvalidArgumentError);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('creations are 32-bit and never 0', () => {
    expect(newCreation(() => 0)).toBe(1);
    expect(newCreation(() => 0.9999999999)).toBeLessThanOrEqual(0xffffffff);
    expect(newCreation()).toBeGreaterThan(0);
  });
});
