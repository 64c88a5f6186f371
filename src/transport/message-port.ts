/**
 * MessagePort adapter (also fits a Worker object and `parentPort`): posts batches, receives
 * batches, reports close. Nothing else.
 */
import { decodeBatch, encodeBatchView } from './codec.js';
import type { Transferable, Transport } from './transport.js';

let packing = true;

/**
 * Smallest batch (in words, 4 a frame) that is packed. Below it packing costs more than it
 * saves: measured on one MessageChannel hop (post, receive, decode), packed vs plain array,
 * 1 frame 2.6 vs 1.7 µs, 4 frames 5.4 vs 3.5, 8 frames 6.7 vs 6.0, 16 frames 8.5 vs 10.5,
 * 64 frames 18 vs 36. (The decoder compiles a reader for each record shape used more than
 * twice in a batch: worth it only when the batch is long enough.)
 */
export const MIN_PACKED_WORDS = 64;

/**
 * Turns batch packing (below) on or off for the MessagePort transports of this thread: off,
 * every batch is posted as a plain array. For measurements and as a kill switch; the
 * receiving side reads either form whatever its own setting.
 */
export function setBatchPacking(on: boolean): void {
  packing = on;
}

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

  /**
   * Posts a batch of at least {@link MIN_PACKED_WORDS} words packed (codec.ts) when every
   * value in it packs exactly, else as the plain array, structured-cloned; a batch with
   * transfers always as the array. The receiver sees
   * structured clone's value semantics either way, with one difference: identity is kept
   * within each message, not across the messages of one batch, so one object cast twice in a
   * turn arrives as two equal copies where a structured-cloned batch would deliver one object
   * twice (as it already did whenever the two casts fell into different batches).
   *
   * The packed bytes travel as a one-byte (Latin-1) string: posting a string costs about half
   * of posting a freshly allocated ArrayBuffer, transferred or not (measured ~1.5 µs vs
   * ~3.6 µs a post), and the encoder's reused buffer needs no copy of its own.
   */
  post(batch: unknown[], transfer?: readonly Transferable[]): void {
    if (packing && batch.length >= MIN_PACKED_WORDS && (transfer === undefined || transfer.length === 0)) {
      const bytes = encodeBatchView(batch);
      if (bytes !== undefined) {
        this.port.postMessage(bytes.toString('latin1'));
        return;
      }
    }
    this.port.postMessage(batch, transfer);
  }

  onBatch(handler: (batch: unknown[]) => void): void {
    this.listener = (v: unknown) => {
      if (Array.isArray(v)) handler(v);
      else if (typeof v === 'string') handler(unpack(Buffer.from(v, 'latin1')));
      else if (v instanceof Uint8Array) handler(unpack(v));
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

/**
 * A packed batch, decoded. Bytes that do not decode (only a broken or hostile peer sends
 * them) become a one-word batch: the receiver's frame check rejects it as a batch whose
 * length is not a multiple of 4, the outcome of any other malformed batch (links.ts).
 */
function unpack(bytes: Uint8Array): unknown[] {
  try {
    return decodeBatch(bytes);
  } catch (e) {
    return [e instanceof Error ? e.message : 'undecodable packed batch'];
  }
}
