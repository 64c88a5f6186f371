/**
 * In-memory loopback transport pair: what one end posts, the other receives in a later turn,
 * structured-cloned (so value semantics match a real thread boundary). For tests and for
 * running several runtimes in one thread.
 */
import type { Transferable, Transport } from './transport.js';

class LoopbackEnd implements Transport {
  peer!: LoopbackEnd;
  private handler: ((batch: unknown[]) => void) | undefined;
  private closeHandlers: (() => void)[] = [];
  private closed = false;
  private inbox: unknown[][] = [];

  post(batch: unknown[], transfer?: readonly Transferable[]): void {
    if (this.closed) return;
    const copy = structuredClone(batch, transfer === undefined ? undefined : { transfer: transfer as Transferable[] });
    const peer = this.peer;
    peer.inbox.push(copy);
    if (peer.inbox.length === 1) setImmediate(() => peer.deliver());
  }

  private deliver(): void {
    const items = this.inbox;
    this.inbox = [];
    if (this.closed) return;
    for (const b of items) this.handler?.(b);
  }

  onBatch(handler: (batch: unknown[]) => void): void {
    this.handler = handler;
  }

  onClose(handler: () => void): void {
    this.closeHandlers.push(handler);
  }

  close(): void {
    this.fireClose();
    const peer = this.peer;
    // As over a MessagePort or a socket, what was posted before the close still arrives:
    // the peer sees the close after its pending batches (their delivery is already queued).
    if (peer.inbox.length === 0) peer.fireClose();
    else setImmediate(() => peer.fireClose());
  }

  private fireClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.closeHandlers) h();
  }
}

/** Two connected transports. */
export function loopbackPair(): [Transport, Transport] {
  const a = new LoopbackEnd();
  const b = new LoopbackEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
