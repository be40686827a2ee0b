/**
 * A tiny classic BPF assembler: instructions with symbolic jump targets,
 * laid out into struct sock_filter with every jump resolved.
 *
 * Classic BPF jumps only forward, and a conditional jump's offsets (jt, jf)
 * are 8 bits: a target more than 255 instructions ahead is reached through
 * a trampoline placed right after the jump (an unconditional JA, whose
 * offset is 32 bits), or, when the target is a RET, a copy of that RET,
 * which is as long and saves the hop. Inserting one can push other jumps
 * out of range, so layout repeats until nothing moves.
 * @module
 */

import { BPF, type SockFilter } from "../../../ffi/seccomp.ts";

/** A position in the program, bound with Asm.bind. */
export interface Label {
  readonly id: number;
}

type Item =
  | { readonly kind: "stmt"; readonly code: number; readonly k: number }
  | { kind: "jmp"; readonly code: number; readonly k: number; jt: Label; jf: Label }
  | { readonly kind: "ja"; readonly to: Label }
  | { readonly kind: "label"; readonly label: Label };

const SIDES = ["jt", "jf"] as const;

/** Collects instructions and labels in program order. */
export class Asm {
  #items: Item[] = [];
  #next = 0;

  /** A fresh, unbound label. */
  label(): Label {
    return { id: this.#next++ };
  }

  /** Binds `l` to the position of the next instruction. */
  bind(l: Label): void {
    this.#items.push({ kind: "label", label: l });
  }

  /** A non-jump instruction (load, ALU, RET). */
  stmt(code: number, k: number): void {
    this.#items.push({ kind: "stmt", code, k: k >>> 0 });
  }

  /** A conditional jump on A against the constant k (code: BPF.JMP | op | BPF.K). */
  jump(code: number, k: number, jt: Label, jf: Label): void {
    this.#items.push({ kind: "jmp", code, k: k >>> 0, jt, jf });
  }

  /** An unconditional jump. */
  goto(to: Label): void {
    this.#items.push({ kind: "ja", to });
  }

  /** Lays the program out; throws when a jump goes backwards or a label is unbound. */
  assemble(): SockFilter[] {
    const items = dropFallthroughs(this.#items);
    for (;;) {
      const pos = positions(items);
      const retAt = new Map<number, Item>();
      let insn = 0;
      // Indexed loops: assembly runs mostly before the JIT has compiled it.
      for (let i = 0; i < items.length; i++) {
        const it = items[i];
        if (it.kind === "label") continue;
        if (it.kind === "stmt" && (it.code & 0x07) === BPF.RET) retAt.set(insn, it);
        insn++;
      }
      // Give every out-of-range conditional jump its trampolines, then lay out again.
      const fixes: [number, Item[]][] = [];
      insn = 0;
      for (let i = 0; i < items.length; i++) {
        const it = items[i];
        if (it.kind === "label") continue;
        if (it.kind === "jmp") {
          const extra: Item[] = [];
          for (const side of SIDES) {
            const target = at(pos, it[side]);
            if (target - insn - 1 <= 255) continue;
            const near = this.label();
            extra.push(
              { kind: "label", label: near },
              retAt.get(target) ?? { kind: "ja", to: it[side] },
            );
            it[side] = near;
          }
          if (extra.length) fixes.push([i + 1, extra]);
        }
        insn++;
      }
      if (!fixes.length) return encode(items, pos);
      for (const [i, extra] of fixes.reverse()) items.splice(i, 0, ...extra);
    }
  }
}

function dropFallthroughs(items: readonly Item[]): Item[] {
  const out: Item[] = [];
  for (let i = 0; i < items.length; i++) {
    const it = items[i];
    if (it.kind === "ja") {
      // A JA to a label bound before the next instruction does nothing.
      let j = i + 1, falls = false;
      while (j < items.length && items[j].kind === "label") {
        if ((items[j] as { label: Label }).label === it.to) falls = true;
        j++;
      }
      if (falls) continue;
    }
    out.push(it.kind === "jmp" ? { ...it } : it);
  }
  return out;
}

function positions(items: readonly Item[]): Map<Label, number> {
  const pos = new Map<Label, number>();
  let n = 0;
  for (let i = 0; i < items.length; i++) {
    const it = items[i];
    if (it.kind === "label") pos.set(it.label, n);
    else n++;
  }
  return pos;
}

function at(pos: Map<Label, number>, l: Label): number {
  const p = pos.get(l);
  if (p === undefined) throw new Error(`BPF label ${l.id} is never bound`);
  return p;
}

function encode(items: readonly Item[], pos: Map<Label, number>): SockFilter[] {
  const out: SockFilter[] = [];
  for (let i = 0; i < items.length; i++) {
    const it = items[i];
    const here = out.length;
    if (it.kind === "label") continue;
    if (it.kind === "stmt") out.push({ code: it.code, jt: 0, jf: 0, k: it.k });
    else if (it.kind === "ja") {
      const off = at(pos, it.to) - here - 1;
      if (off < 0) throw new Error(`BPF jump backwards at ${here}`);
      out.push({ code: BPF.JMP | BPF.JA, jt: 0, jf: 0, k: off });
    } else {
      const jt = at(pos, it.jt) - here - 1, jf = at(pos, it.jf) - here - 1;
      if (jt < 0 || jf < 0) throw new Error(`BPF jump backwards at ${here}`);
      out.push({ code: it.code, jt, jf, k: it.k });
    }
  }
  return out;
}
