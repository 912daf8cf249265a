/**
 * Measures every frame a client sends, before `ws` assembles frames into messages.
 *
 * API Gateway limits frames to 32 KB and messages to 128 KB. `ws` has one knob, `maxPayload`,
 * which bounds whole messages (fragmented or not), so it enforces the 128 KB rule; this meter reads
 * just the frame headers off the raw socket to enforce the 32 KB one. It never buffers payloads.
 */
import type { Duplex } from 'node:stream';

/** Parses WebSocket frame headers out of a byte stream, skipping payloads. */
export class FrameMeter {
  readonly #maxFrameBytes: number;
  readonly #header = Buffer.alloc(14);
  #headerBytes = 0;
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
      this.#header[this.#headerBytes++] = chunk[i++] as number;
      const needed = this.#headerLength();
      if (needed === undefined || this.#headerBytes < needed) continue;
      const opcode = (this.#header[0] as number) & 0x0f;
      const length = this.#payloadLength();
      this.#headerBytes = 0;
      this.#skip = length;
      // Control frames (opcode ≥ 8) are at most 125 bytes by the RFC; only data frames count here.
      if (opcode < 0x08 && length > this.#maxFrameBytes) return length;
    }
    return undefined;
  }

  #headerLength(): number | undefined {
    if (this.#headerBytes < 2) return undefined;
    const second = this.#header[1] as number;
    const len7 = second & 0x7f;
    const extended = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    const mask = second & 0x80 ? 4 : 0;
    return 2 + extended + mask;
  }

  #payloadLength(): number {
    const len7 = (this.#header[1] as number) & 0x7f;
    if (len7 === 126) return this.#header.readUInt16BE(2);
    if (len7 === 127) return Number(this.#header.readBigUInt64BE(2));
    return len7;
  }
}

/**
 * Watches `socket` and calls `onOversized` once when a data frame exceeds `maxFrameBytes`. The
 * listener is prepended so it sees each chunk before `ws` parses it, and can close with 1009
 * before the oversized frame is ever delivered as a message.
 */
export function meterFrames(
  socket: Duplex,
  maxFrameBytes: number,
  onOversized: (bytes: number) => void,
): void {
  const meter = new FrameMeter(maxFrameBytes);
  const listener = (chunk: Buffer) => {
    const oversized = meter.feed(chunk);
    if (oversized === undefined) return;
    socket.removeListener('data', listener);
    onOversized(oversized);
  };
  socket.prependListener('data', listener);
}
