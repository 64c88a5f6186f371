/**
 * Registry: node-wide unique names for processes, released automatically when the process
 * exits; keyed registries (unique or duplicate keys) for lookup, pub/sub, glob queries and
 * per-entry metadata; and `{ via: registry, key }` names.
 *
 *   npx tsx examples/concepts/registry.ts
 */
import type { GenServerBehavior } from '../../src/index.js';
import { AlreadyRegisteredError, GenServer, NotRegisteredError, Registry } from '../../src/index.js';

type EchoProtocol = { call: ['ping', string] };
const echo: GenServerBehavior<string, EchoProtocol, string> = {
  init: (label) => label,
  handleCall: (_msg, label) => [`pong from ${label}`, label],
};

// 1. Name a process when starting it; call it by name.
await GenServer.start(echo, { name: 'echo', args: 'echo' });
console.log(await GenServer.call('echo', 'ping')); // pong from echo

// 2. Or register a running process. register is async: await it.
const other = await GenServer.start(echo, { args: 'other' });
await Registry.register('backup', other);
console.log('isRegistered backup ->', Registry.isRegistered('backup'), '| names:', Registry.getNames().join(', '));

// 3. A name has one holder at a time.
try {
  await Registry.register('echo', other);
} catch (e) {
  if (AlreadyRegisteredError.is(e)) console.log(`register -> ${e.code}: ${e.message}`);
}

// 4. lookup throws for an unknown name; whereis returns undefined.
try {
  Registry.lookup('nobody');
} catch (e) {
  if (NotRegisteredError.is(e)) console.log(`lookup -> ${e.code}`);
}

// 5. Names are released when their process exits.
await GenServer.stop(other);
console.log('after stop, whereis backup ->', Registry.whereis('backup')); // undefined

// 6. A duplicate-key registry as a pub/sub topic table.
const topics = Registry.create<string>({ keys: 'duplicate' });
type SubProtocol = { info: { topic: string; text: string } };
const subscriber: GenServerBehavior<string, SubProtocol, string> = {
  init(label) {
    topics.register('news', GenServer.self(), label); // self() is valid in init's synchronous part
    return label;
  },
  handleInfo(msg, label) {
    if ('text' in msg) console.log(`  ${label} got ${msg.topic}: ${msg.text}`);
    return label;
  },
};
const alice = await GenServer.start(subscriber, { args: 'alice' });
await GenServer.start(subscriber, { args: 'bob' });

const delivered = topics.dispatch('news', (entries) => {
  for (const { ref } of entries) GenServer.send(ref, { topic: 'news', text: 'hello' });
});
console.log('dispatched to', delivered, 'subscribers');
await new Promise((r) => setImmediate(r)); // let the subscribers handle it

await GenServer.stop(alice);
console.log(
  'after alice stops ->',
  topics.lookup('news').map((e) => e.value),
); // [ 'bob' ]

// 7. Keys as paths: match globs over keys (* within a segment, ** across), and each entry's
//    value is its metadata.
const sessions = Registry.create<{ lastSeen: number }>({ keys: 'unique' });
const s1 = await GenServer.start(echo, { args: 's1' });
const s2 = await GenServer.start(echo, { args: 's2' });
sessions.register('user/1/web', s1, { lastSeen: 0 });
sessions.register('user/2/app', s2, { lastSeen: 0 });
sessions.updateMetadata('user/1/web', s1, (m) => ({ lastSeen: m.lastSeen + 1 }));
const web = sessions.match('user/*/web').map((e) => `${e.key} ${JSON.stringify(e.value)}`);
console.log('match user/*/web ->', web); // [ 'user/1/web {"lastSeen":1}' ]
console.log('match user/** ->', sessions.match('user/**').length, '| keys:', sessions.keys().join(', '));

// 8. Elixir's {:via, Registry, {reg, key}}: name a process through a unique keyed registry.
const byKey = { via: sessions, key: 'echo/main' };
await GenServer.start(echo, { name: byKey, args: 'via' });
console.log(await GenServer.call(byKey, 'ping')); // pong from via
await GenServer.stop(byKey); // the entry goes with the process
console.log('after stop ->', sessions.countForKey('echo/main')); // 0
sessions.close(); // drops every entry; later calls throw RuntimeClosedError
