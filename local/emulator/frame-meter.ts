/**
 * Measures every frame a client sends, before `ws` assembles frames into messages.
 *
 * API Gateway limits frames to 32 KB and messages to 128 KB. `ws` has one knob, `maxPayload`,
 * which bounds whole messages (fragmented or not), so it enforces the 128 KB rule; this meter reads
 * just the frame headers off the raw socket to enforce the 32 KB one. It never buffers payloads.
 */
import type { Duplex } from 'node:stream';

/**
 * Parses WebSocket frame headers out of a byte stream, skipping payloads. It keeps a few numbers
 * and no buffer: one meter per open connection, so every byte it holds is multiplied by them.
 */
export class FrameMeter {
  readonly #maxFrameBytes: number;
  /** Header bytes of the current frame read so far (0 between frames). */
  #headerBytes = 0;
  /** The whole header's length, known once its second byte is in. */
  #needed = 2;
  /** Bytes of extended payload length (0, 2 or 8). */
  #extended = 0;
  #opcode = 0;
  #length = 0;
  #skip = 0;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Feeds the next chunk; returns the payload length of the first oversized data frame, if any. */
  feed(chunk: Buffer): number | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        this.#skip -= n;
        i += n;
        continue;
      }
      const byte = chunk[i++] as number;
      const at = this.#headerBytes++;
      if (at === 0) {
        this.#opcode = byte & 0x0f;
      } else if (at === 1) {
        const len7 = byte & 0x7f;
        this.#extended = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
        this.#needed = 2 + this.#extended + (byte & 0x80 ? 4 : 0);
        this.#length = this.#extended === 0 ? len7 : 0;
      } else if (at < 2 + this.#extended) {
        // Big-endian; a 64-bit length past 2^53 loses precision but stays far over any limit.
        this.#length = this.#length * 256 + byte;
      }
      if (this.#headerBytes < this.#needed) continue;
      this.#headerBytes = 0;
      this.#needed = 2;
      this.#skip = this.#length;
      // Control frames (opcode ≥ 8) are at most 125 bytes by the RFC; only data frames count here.
      if (this.#opcode < 0x08 && this.#length > this.#maxFrameBytes) return this.#length;
    }
    return undefined;
  }
}

/**
 * Meters the frames of many sockets with one `data` listener, so a socket costs its meter's few
 * numbers and no closures. `onOversized` is called once per socket, when a data frame exceeds
 * `maxFrameBytes`; the listener is prepended so it sees each chunk before `ws` parses it, and the
 * caller can close with 1009 before the oversized frame is ever delivered as a message.
 */
export class FrameMeters {
  readonly #meters = new WeakMap<Duplex, FrameMeter>();
  readonly #maxFrameBytes: number;
  readonly #listener: (this: Duplex, chunk: Buffer) => void;

  constructor(maxFrameBytes: number, onOversized: (socket: Duplex, bytes: number) => void) {
    this.#maxFrameBytes = maxFrameBytes;
    const meters = this.#meters;
    const listener = function (this: Duplex, chunk: Buffer): void {
      const oversized = meters.get(this)?.feed(chunk);
      if (oversized === undefined) return;
      this.removeListener('data', listener);
      meters.delete(this);
      onOversized(this, oversized);
    };
    this.#listener = listener;
  }

  /** Starts metering `socket`. */
  watch(socket: Duplex): void {
    this.#meters.set(socket, new FrameMeter(this.#maxFrameBytes));
    socket.prependListener('data', this.#listener);
  }
}
