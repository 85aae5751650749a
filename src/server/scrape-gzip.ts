import { promisify } from 'node:util';
import { constants, crc32, deflateRaw } from 'node:zlib';
import type { ScrapeSegment } from '../metrics/scrape-renderer.js';

/** On the libuv thread pool: a megabyte family does not hold up the event loop while it compresses. */
const deflateRawAsync = promisify(deflateRaw);

/**
 * A sync flush ends the compressed data on a byte boundary with no final block and no reference
 * beyond it, so such pieces can follow one another in one deflate stream (RFC 1951 section 3.2.3:
 * a back-reference may only point into earlier output, which is allowed, not required).
 */
const syncFlush = { finishFlush: constants.Z_SYNC_FLUSH };

/** RFC 1952 member header: deflate, no flags, no modification time, unknown OS. */
const gzipHeader = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff]);
/** An empty final block with fixed Huffman codes (BFINAL=1, BTYPE=01, end-of-block): what zlib ends a stream with. */
const finalBlock = Buffer.from([0x03, 0x00]);

/** Compressed segments by their bytes' identity: a family that did not change is compressed once. */
const compressed = new WeakMap<Buffer, Promise<Buffer>>();

function compressOnce(bytes: Buffer): Promise<Buffer> {
  let piece = compressed.get(bytes);
  if (piece === undefined) {
    piece = deflateRawAsync(bytes, syncFlush);
    compressed.set(bytes, piece);
    piece.catch(() => compressed.delete(bytes));
  }
  return piece;
}

/**
 * One gzip member of the whole scrape: the stable segments' compressed pieces are reused, the
 * segments rendered afresh (process metrics, gauges) are compressed together on each scrape, and
 * the CRC-32 and length cover the whole text as RFC 1952 asks, so any gzip reader inflates it.
 */
export async function gzipSegments(segments: readonly ScrapeSegment[]): Promise<Buffer> {
  const pieces: Promise<Buffer>[] = [];
  let fresh: Buffer[] = [];
  const compressFresh = () => {
    if (fresh.length === 0) return;
    pieces.push(deflateRawAsync(Buffer.concat(fresh), syncFlush));
    fresh = [];
  };
  let checksum = 0;
  let length = 0;
  for (const { bytes, stable } of segments) {
    checksum = crc32(bytes, checksum);
    length += bytes.length;
    if (!stable) {
      fresh.push(bytes);
      continue;
    }
    compressFresh();
    pieces.push(compressOnce(bytes));
  }
  compressFresh();
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(checksum >>> 0, 0);
  // ISIZE is the length modulo 2^32.
  trailer.writeUInt32LE(length % 2 ** 32, 4);
  return Buffer.concat([gzipHeader, ...(await Promise.all(pieces)), finalBlock, trailer]);
}
