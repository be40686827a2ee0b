/**
 * An arena of C memory that ctr maps itself: strings, argv vectors, structs and
 * the plan's entries are written here, never in V8's heap, so a cloned child
 * (which may not share or inherit V8's memory) reads exactly what was written.
 * @module
 */

import { libc, mapAnonymous } from "./libc.ts";

const enc = new TextEncoder();

/** A bump allocator over one anonymous private mapping. */
export class Arena {
  /** Base address of the mapping. */
  readonly base: bigint;
  /** Size of the mapping in bytes. */
  readonly size: number;
  /** Bytes of the mapping, for writing. */
  readonly bytes: Uint8Array;
  /** DataView of the mapping, for writing numbers. */
  readonly view: DataView;
  #ptr: Deno.PointerObject;
  #used = 0;
  #freed = false;

  constructor(size = 1 << 20) {
    const p = mapAnonymous(size, `${size} bytes`);
    this.#ptr = p;
    this.base = BigInt(Deno.UnsafePointer.value(p));
    this.size = size;
    const ab = Deno.UnsafePointerView.getArrayBuffer(p, size);
    this.bytes = new Uint8Array(ab);
    this.view = new DataView(ab);
  }

  /** Reserves `n` bytes aligned to `align`; returns the offset. */
  reserve(n: number, align = 8): number {
    const off = Math.ceil(this.#used / align) * align;
    if (off + n > this.size) throw new Error(`Arena full: ${off + n} > ${this.size} bytes`);
    this.#used = off + n;
    return off;
  }

  /** Address of an offset. */
  addr(off: number): bigint {
    return this.base + BigInt(off);
  }

  /**
   * Reserves `n` zeroed bytes; returns the address. The mapping is anonymous
   * (the kernel hands it out zeroed) and no byte is reserved twice, so they
   * are zero already: a child's stack is not written (touched page by page)
   * here, and its untouched pages cost nothing.
   */
  zeros(n: number, align = 8): bigint {
    return this.addr(this.reserve(n, align));
  }

  /** Copies bytes in; returns the address. */
  data(b: Uint8Array, align = 8): bigint {
    const off = this.reserve(b.length, align);
    this.bytes.set(b, off);
    return this.addr(off);
  }

  /** A NUL-terminated C string; returns the address. */
  cstr(s: string): bigint {
    return this.addr(this.cstrOffset(s));
  }

  /** A NUL-terminated C string, encoded in place; returns its offset. */
  cstrOffset(s: string): number {
    if (s.includes("\0")) throw new Error(`String contains a NUL byte: ${JSON.stringify(s)}`);
    const off = this.#used;
    const room = this.bytes.subarray(off, this.size - 1);
    const { read, written } = enc.encodeInto(s, room);
    if (read !== s.length) throw new Error(`Arena full: a string of ${s.length} characters`);
    this.bytes[off + written] = 0;
    this.#used = off + written + 1;
    return off;
  }

  /** A NULL-terminated vector of C strings (argv, envp); returns the address. */
  strv(list: readonly string[]): bigint {
    const ptrs = list.map((s) => this.cstr(s));
    const off = this.reserve(8 * (ptrs.length + 1));
    ptrs.forEach((p, i) => this.view.setBigUint64(off + 8 * i, p, true));
    this.view.setBigUint64(off + 8 * ptrs.length, 0n, true);
    return this.addr(off);
  }

  /** An array of 64-bit words; returns the address. */
  u64s(words: readonly (number | bigint)[]): bigint {
    const off = this.reserve(8 * words.length);
    words.forEach((w, i) =>
      this.view.setBigUint64(off + 8 * i, BigInt.asUintN(64, BigInt(w)), true)
    );
    return this.addr(off);
  }

  /** Writes a 64-bit word at an address inside the arena. */
  writeU64(addr: bigint, value: bigint): void {
    this.view.setBigUint64(Number(addr - this.base), BigInt.asUintN(64, value), true);
  }

  /** Reads a 64-bit word at an address inside the arena. */
  readU64(addr: bigint): bigint {
    return this.view.getBigUint64(Number(addr - this.base), true);
  }

  /** Unmaps the arena. Only once no child can still be reading it. */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    libc().munmap(this.#ptr, BigInt(this.size));
  }
}

/** The bytes of a string as C expects them (no NUL). */
export function utf8(s: string): Uint8Array {
  return enc.encode(s);
}
