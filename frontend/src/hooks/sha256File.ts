/**
 * SHA-256 of a file (or any Blob) read in slices, so that a multi-gigabyte video is hashed in bounded memory.
 * The resumable upload declares it when it starts; the server checks the whole file against it at the end.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";

/** Bytes read and hashed at once. */
export const HASH_SLICE_BYTES = 4 * 1024 * 1024;

export class HashCancelled extends Error {
  constructor() {
    super("Hashing was cancelled.");
    this.name = "HashCancelled";
  }
}

/**
 * The blob's SHA-256 as 64 lowercase hex digits. `onProgress(hashed)` after each slice, in bytes;
 * `cancelled()` is asked before each slice (true: stop with `HashCancelled`).
 */
export async function sha256OfBlob(
  blob: Blob,
  onProgress?: (hashed: number) => void,
  cancelled?: () => boolean,
  sliceBytes: number = HASH_SLICE_BYTES,
): Promise<string> {
  const hash = sha256.create();
  for (let start = 0; start < blob.size; start += sliceBytes) {
    if (cancelled?.()) throw new HashCancelled();
    const slice = new Uint8Array(await readBytes(blob.slice(start, start + sliceBytes)));
    hash.update(slice);
    onProgress?.(start + slice.length);
  }
  return bytesToHex(hash.digest());
}

/** A blob's bytes (`Blob.arrayBuffer`, or a FileReader where a Blob lacks it). */
function readBytes(blob: Blob): Promise<ArrayBuffer> {
  if (typeof blob.arrayBuffer === "function") return blob.arrayBuffer();
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result as ArrayBuffer);
    reader.onerror = () => reject(reader.error);
    reader.readAsArrayBuffer(blob);
  });
}
