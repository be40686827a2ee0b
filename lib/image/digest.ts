/**
 * Content digests (`sha256:<64 hex>`): validation, and hashing of bytes as
 * they stream past, so content is verified without a second read.
 * @module
 */

import type { Hash } from "node:crypto";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2";
import { bytesToHex } from "@noble/hashes/utils";

type CreateHash = (algorithm: string) => Hash;
let nodeCreateHash: CreateHash | undefined;

/**
 * node:crypto's createHash, loaded at the first hash: loading it (with the
 * parts of Node's compatibility layer it needs) costs ~70 ms, and a run of
 * a stored image hashes nothing.
 */
function createHash(algorithm: string): Hash {
  nodeCreateHash ??= (globalThis as unknown as {
    process: { getBuiltinModule(id: "node:crypto"): { createHash: CreateHash } };
  }).process.getBuiltinModule("node:crypto").createHash;
  return nodeCreateHash(algorithm);
}

/** A digest as the OCI image spec writes it: `algorithm:encoded`. */
export type Digest = `sha256:${string}`;

const SHA256 = /^sha256:[a-f0-9]{64}$/;
const ANY = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Whether `s` is a sha256 digest ctr can store. */
export function isDigest(s: unknown): s is Digest {
  return typeof s === "string" && SHA256.test(s);
}

/** What is wrong with a digest string, as a phrase; undefined when it is a sha256 digest. */
export function digestProblem(s: string): string | undefined {
  if (isDigest(s)) return undefined;
  if (ANY.test(s)) {
    const alg = s.slice(0, s.indexOf(":"));
    if (alg !== "sha256") return `the digest algorithm ${alg} is not supported (only sha256)`;
  }
  return `${JSON.stringify(s)} is not sha256:<64 lowercase hex digits>`;
}

/** Checks a digest string; throws `Invalid <what>: <problem>`. */
export function checkDigest(s: string, what = "digest"): Digest {
  const problem = digestProblem(s);
  if (problem) throw new Error(`Invalid ${what}: ${problem}`);
  return s as Digest;
}

/** The hex part of a digest. */
export function hexOf(d: Digest): string {
  return d.slice(7);
}

/**
 * The sha256 digest of some bytes (a manifest, a config, an ID's seed), on
 * this thread in JavaScript (@noble/hashes): node:crypto would start Deno's
 * Node compatibility layer, 50-75 ms, in commands such as `network ls` and
 * `info` that hash a few bytes. Streams of layers go through {@link Hasher}.
 */
export function sha256(data: Uint8Array | string): Digest {
  return `sha256:${bytesToHex(nobleSha256(data))}`;
}

/** Hashes and counts bytes as they go by. */
export class Hasher {
  #hash: Hash = createHash("sha256");
  /** Bytes seen so far. */
  size = 0;

  /** Adds bytes. */
  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.size += chunk.length;
  }

  /** The digest of everything seen (call once). */
  digest(): Digest {
    return `sha256:${this.#hash.digest("hex")}`;
  }
}
