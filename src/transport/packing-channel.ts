/**
 * A {@link Channel} that packs each frame into its batch's bytes as the frame is written (the
 * batch codec's {@link BatchPacker}), for a transport that takes packed bytes: a node link.
 *
 * Packing is the clone check too: a message that packs can cross, so a message to another
 * node is walked once, where checking it when sent and encoding its batch when posted walked
 * it twice (the two walks were about a third of a cross-node cast's cost). Only a message that
 * does not pack is also checked with {@link findUncloneable}, for the typed error its sender
 * gets; its batch then goes in the transport's exact form, from the words the channel keeps.
 *
 * A packed message is copied as it is sent, as Erlang copies at the send; a batch that does
 * not pack is copied at its post, at the end of the turn (what changed in a message meanwhile
 * goes with it). Send values you will not change.
 */
import { type CloneProblem, findUncloneable, lastBinaryBytes } from './cloneable.js';
import { BatchPacker } from './codec.js';
import { Channel, HEAVY_BYTES, type Transferable, type Transport } from './transport.js';

/** A transport that also takes a batch packed by a {@link BatchPacker}. */
export interface PackedTransport extends Transport {
  /** Bytes free before the packed batch, for the transport's frame header. */
  readonly packedHeadroom: number;
  /**
   * Sends a packed batch: `bytes` holds `packedHeadroom` free bytes and then the batch. The
   * bytes are valid only during the call. Throws as {@link Transport.post} does.
   */
  postPacked(bytes: Buffer): void;
}

export function takesPacked(t: Transport): t is PackedTransport {
  return typeof (t as Partial<PackedTransport>).postPacked === 'function';
}

export class PackingChannel extends Channel {
  private readonly packer: BatchPacker | undefined;

  constructor(transport: Transport, maxWords?: number) {
    super(transport, maxWords);
    this.packer = takesPacked(transport) ? new BatchPacker(transport.packedHeadroom) : undefined;
  }

  override write(tag: number, to: number, a: unknown, b: unknown, transfer?: readonly Transferable[], heavy = false): boolean {
    if (this.isClosed) return false;
    this.packer?.frame(tag, to, a, b);
    return super.write(tag, to, a, b, transfer, heavy);
  }

  /**
   * Writes a frame whose `a` is a value from user code (a message, a reply): when it cannot
   * cross, nothing is written and the problem is returned (`root` starts its path) for the
   * caller to throw. A frame that carries much binary data is posted at once (see `write`).
   */
  sendValue(tag: number, to: number, a: unknown, b: unknown, root: string): CloneProblem | undefined {
    // Closed: nothing is sent, but a value that could never cross is still refused.
    if (this.isClosed) return findUncloneable(a, root);
    let heavy: boolean;
    if (this.packer?.frame(tag, to, a, b) === true) heavy = this.packer.binary >= HEAVY_BYTES;
    else {
      const problem = findUncloneable(a, root);
      if (problem !== undefined) return problem;
      heavy = lastBinaryBytes() >= HEAVY_BYTES;
    }
    super.write(tag, to, a, b, undefined, heavy);
    return undefined;
  }

  protected override send(batch: unknown[], transfer: readonly Transferable[] | undefined): void {
    const bytes = this.packer?.take(batch.length);
    if (bytes !== undefined) (this.transport as PackedTransport).postPacked(bytes);
    else this.transport.post(batch, transfer);
  }
}
