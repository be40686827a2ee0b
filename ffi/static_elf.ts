/**
 * ctr's small static programs (the watcher, the init) ship inside ctr as
 * base64 text, one build per architecture (scripts/_static_elf.sh writes
 * the tables); this decodes the one for an architecture.
 * @module
 */

/** The executable for `arch` from a table of builds; `what` names it in the error. */
export function elfFor(
  table: Readonly<Record<string, string>>,
  arch: string,
  what: string,
): Uint8Array {
  const b64 = table[arch];
  if (!b64) {
    const have = Object.keys(table).join(", ");
    throw new Error(`No ${what} for architecture ${arch} (built for: ${have})`);
  }
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
