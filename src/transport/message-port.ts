/**
 * MessagePort adapter (also fits a Worker object and `parentPort`): posts batches, receives
 * batches, reports close. Nothing else.
 */
import type { Transferable, Transport } from './transport.js';

/** What we need of a MessagePort, a Worker or parentPort. */
export interface PortLike {
  postMessage(value: unknown, transferList?: readonly Transferable[]): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
  on(event: 'close' | 'exit', listener: () => void): unknown;
  close?(): void;
}

export class MessagePortTransport implements Transport {
  private closeHandlers: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly port: PortLike,
    closeEvent: 'close' | 'exit' = 'close',
  ) {
    port.on(closeEvent, () => this.fireClose());
  }

  post(batch: unknown[], transfer?: readonly Transferable[]): void {
    this.port.postMessage(batch, transfer);
  }

  onBatch(handler: (batch: unknown[]) => void): void {
    this.port.on('message', (v: unknown) => {
      if (Array.isArray(v)) handler(v);
    });
  }

  onClose(handler: () => void): void {
    this.closeHandlers.push(handler);
  }

  close(): void {
    this.port.close?.();
    this.fireClose();
  }

  private fireClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.closeHandlers) h();
  }
}
