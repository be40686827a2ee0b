/**
 * Layer and archive compression, recognized by its magic bytes rather than by
 * what a manifest claims: plain tar, gzip (the platform's DecompressionStream)
 * and zstd (node:zlib's zstd decompressor, when this Deno has one).
 * @module
 */

import { pipeline, Readable } from "node:stream";
import * as zlib from "node:zlib";

/** A compression format. */
export type Compression = "none" | "gzip" | "zstd";

/** The compression of a stream that starts with `head` (at least 4 bytes when there are). */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (
    head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f &&
    head[3] === 0xfd
  ) return "zstd";
  return "none";
}

/** Whether this Deno can decompress zstd. */
export function zstdSupported(): boolean {
  return typeof (zlib as Record<string, unknown>).createZstdDecompress === "function";
}

/** Reads the first bytes of a stream and gives back a stream that still starts with them. */
async function peek(
  stream: ReadableStream<Uint8Array>,
  n: number,
): Promise<[Uint8Array, ReadableStream<Uint8Array>]> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let have = 0;
  while (have < n) {
    const r = await reader.read();
    if (r.done) break;
    chunks.push(r.value);
    have += r.value.length;
  }
  const head = new Uint8Array(have);
  let off = 0;
  for (const c of chunks) head.set(c, off), off += c.length;
  const rest = new ReadableStream<Uint8Array>({
    start(controller) {
      if (head.length > 0) controller.enqueue(head);
    },
    async pull(controller) {
      const r = await reader.read();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return [head, rest];
}

function zstd(stream: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  if (!zstdSupported()) throw new Error("zstd layers are not supported by this Deno");
  const z = (zlib as unknown as { createZstdDecompress(): NodeJS.ReadWriteStream })
    .createZstdDecompress();
  const out = pipeline(Readable.fromWeb(stream as never), z, () => {/* errors reach `out` */});
  return Readable.toWeb(out as unknown as Readable) as unknown as ReadableStream<Uint8Array>;
}

/**
 * The decompressed content of `stream`, whatever its compression, and which
 * compression it had.
 */
export async function decompress(
  stream: ReadableStream<Uint8Array>,
): Promise<{ compression: Compression; stream: ReadableStream<Uint8Array> }> {
  const [head, whole] = await peek(stream, 4);
  const compression = detectCompression(head);
  switch (compression) {
    case "gzip":
      return {
        compression,
        stream: whole.pipeThrough(
          new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
        ),
      };
    case "zstd":
      return { compression, stream: zstd(whole) };
    default:
      return { compression, stream: whole };
  }
}
