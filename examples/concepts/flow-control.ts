/**
 * Flow control: a bounded mailbox under each overflow policy, and Process.info to watch it.
 *
 *   npx tsx examples/concepts/flow-control.ts
 */
import type { GenServerBehavior } from '../../src/index.js';
import { GenServer, MailboxFullError, Process, Supervisor, isErrorExit } from '../../src/index.js';

type SinkProtocol = { cast: number; call: ['count', number] };

// A consumer that handles one number per cast.
const sink: GenServerBehavior<number, SinkProtocol> = {
  init: () => 0,
  handleCast: (_n, count) => count + 1,
  handleCall: (_msg, count) => [count, count],
};

// drop_new (the default policy once maxMailbox is set): what does not fit is dropped and counted.
const dropping = await GenServer.start(sink, { maxMailbox: 100 });
for (let i = 0; i < 1000; i++) GenServer.cast(dropping, i);
const info = await Process.info(dropping);
console.log(`drop_new: mailbox ${info?.mailbox}/${info?.maxMailbox}, dropped ${info?.dropped}`);
console.log(`drop_new: handled ${await GenServer.call(dropping, 'count')} of 1000`);

// reject: a same-thread sender is told at once.
const rejecting = await GenServer.start(sink, { maxMailbox: 100, overflow: 'reject' });
let refused = 0;
for (let i = 0; i < 1000; i++) {
  try {
    GenServer.cast(rejecting, i);
  } catch (e) {
    if (MailboxFullError.is(e)) refused++;
  }
}
console.log(`reject: ${refused} casts refused to the sender`);

// crash: the overflow is a crash; the supervisor restarts the process with an empty mailbox.
const sup = await Supervisor.start({
  children: [{ id: 'sink', behavior: sink, options: { maxMailbox: 100, overflow: 'crash' } }],
});
const [before] = await Supervisor.getChildren(sup);
const first = before?.ref;
if (first === undefined) throw new Error('sink not running');
const exited = Process.awaitExit(first);
for (let i = 0; i < 1000; i++) GenServer.cast(first, i);
const reason = await exited;
console.log(`crash: exited with ${isErrorExit(reason) ? (reason.error as Error).name : String(reason)}`);
const [after] = await Supervisor.getChildren(sup);
console.log(`crash: restarted ${after?.restartCount} time(s)`);

await GenServer.stop(dropping);
await GenServer.stop(rejecting);
await Supervisor.stop(sup);
