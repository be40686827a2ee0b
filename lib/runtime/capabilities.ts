/**
 * Capability sets: docker's default 14, --cap-add/--cap-drop, and the bit
 * masks the plan hands to prctl(PR_CAPBSET_DROP) and capset(2).
 * @module
 */

import { CAPS } from "../../ffi/constants.ts";

/** The capabilities docker gives a container by default. */
export const DEFAULT_CAPS: readonly string[] = [
  "CHOWN",
  "DAC_OVERRIDE",
  "FSETID",
  "FOWNER",
  "MKNOD",
  "NET_RAW",
  "SETGID",
  "SETUID",
  "SETFCAP",
  "SETPCAP",
  "NET_BIND_SERVICE",
  "SYS_CHROOT",
  "KILL",
  "AUDIT_WRITE",
];

/** Normalizes a name: "cap_net_admin", "NET_ADMIN" → "NET_ADMIN"; "all" → "ALL". */
export function capName(name: string): string {
  const n = name.toUpperCase().replace(/^CAP_/, "");
  if (n !== "ALL" && !(n in CAPS)) throw new Error(`Unknown capability: ${name}`);
  return n;
}

/** The set after --cap-add and --cap-drop (docker's order: drop ALL, then add). */
export function capSet(
  add: readonly string[],
  drop: readonly string[],
  base: readonly string[] = DEFAULT_CAPS,
  lastCap = 40,
): string[] {
  const all = Object.keys(CAPS).filter((c) => CAPS[c] <= lastCap);
  const adds = add.map(capName), drops = drop.map(capName);
  let set = new Set(drops.includes("ALL") ? [] : base);
  for (const c of drops) set.delete(c);
  if (adds.includes("ALL")) set = new Set(all);
  for (const c of adds) if (c !== "ALL") set.add(c);
  return [...set].filter((c) => CAPS[c] <= lastCap).sort((a, b) => CAPS[a] - CAPS[b]);
}

/** The 64-bit mask of a set of names. */
export function capMask(set: readonly string[]): bigint {
  return set.reduce((m, c) => m | (1n << BigInt(CAPS[c])), 0n);
}

/** The capabilities ctr's own process holds (CapPrm): a container can get no more. */
export function ownCaps(): bigint {
  try {
    const m = Deno.readTextFileSync("/proc/self/status").match(/^CapPrm:\s*([0-9a-f]+)/m);
    return m ? BigInt("0x" + m[1]) : 0n;
  } catch {
    return 0n;
  }
}

/**
 * Keeps what ctr can give: "ALL" (and --privileged) means every capability ctr
 * holds; a capability asked for by name that ctr lacks is an error.
 */
export function limitToOwn(
  set: readonly string[],
  own: bigint,
  named: readonly string[],
): string[] {
  const asked = new Set(named.map(capName));
  const missing = set.filter((c) => asked.has(c) && !((own >> BigInt(CAPS[c])) & 1n));
  if (missing.length) {
    throw new Error(
      `Cannot give the container ${
        missing.map((c) => `CAP_${c}`).join(", ")
      }: ctr itself does not hold it`,
    );
  }
  return set.filter((c) => (own >> BigInt(CAPS[c])) & 1n);
}
