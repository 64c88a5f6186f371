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
  private listener: ((v: unknown) => void) | undefined;
  private paused = false;
  /**
   * A MessagePort can pause: with no 'message' listener it stops reading and its messages wait
   * in the port, serialized, outside the JS heap. A Worker object cannot (it re-emits every
   * message of its internal port, listened or not), so it is never paused.
   */
  readonly canPause: boolean;

  constructor(
    private readonly port: PortLike,
    closeEvent: 'close' | 'exit' = 'close',
  ) {
    port.on(closeEvent, () => this.fireClose());
    this.canPause = closeEvent === 'close' && typeof (port as { off?: unknown }).off === 'function';
  }

  /** Stops reading until {@link resume}; later messages stay queued in the port, in order. */
  pause(): void {
    if (!this.canPause || this.paused || this.listener === undefined) return;
    this.paused = true;
    (this.port as PortLike & { off(e: 'message', l: (v: unknown) => void): unknown }).off('message', this.listener);
  }

  resume(): void {
    if (!this.paused || this.listener === undefined) return;
    this.paused = false;
    this.port.on('message', this.listener);
  }

  post(batch: unknown[], transfer?: readonly Transferable[]): void {
    this.port.postMessage(batch, transfer);
  }

  onBatch(handler: (batch: unknown[]) => void): void {
    this.listener = (v: unknown) => {
      if (Array.isArray(v)) handler(v);
    };
    this.port.on('message', this.listener);
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
