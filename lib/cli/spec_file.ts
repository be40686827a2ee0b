/**
 * A YAML spec file as `up`, `down` and `run --spec` read it: the file,
 * checked whole (lib/config/compose.ts), its networks made when missing, and
 * one container's run options.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { networkName, readSpecFile, runOptionsFor, type Spec } from "../config/compose.ts";
import type { RunOptions } from "../config/run_options.ts";
import { UsageError } from "./args.ts";

/** Reads the spec (every value checked with the rules `ctr run` follows). */
export function loadSpec(file: string): Spec {
  return readSpecFile(file);
}

/** One line of progress, as docker compose prints it. */
export function status(what: string, name: string, word: string): void {
  console.error(` ✔ ${what} ${name}  ${word}`);
}

/** Creates the spec's networks that do not exist yet. */
export async function ensureNetworks(spec: Spec, g: Globals): Promise<void> {
  if (spec.networks.length === 0) return;
  const { NetworkStore } = await import("../network/mod.ts");
  const store = new NetworkStore({ root: g.root, stateDir: g.stateDir });
  for (const n of spec.networks) {
    const name = networkName(spec, n.name);
    if (store.find(name)) continue;
    await store.create({
      name,
      subnet: n.subnet,
      internal: n.internal,
      options: n.options,
      labels: n.labels,
    });
    status("Network", name, "Created");
  }
}

/**
 * `ctr run --spec FILE [NAME]`: the run options of one container of a spec
 * (the only one, or NAME); its networks are made when missing.
 */
export async function specRunOptions(
  file: string,
  name: string | undefined,
  g: Globals,
): Promise<RunOptions> {
  const spec = loadSpec(file);
  const keys = spec.containers.map((c) => c.name);
  const key = name ?? (keys.length === 1 ? keys[0] : undefined);
  if (key === undefined) {
    throw new UsageError(
      `${file} describes ${keys.length} containers (${keys.join(", ")}): name one after the file`,
    );
  }
  if (!keys.includes(key)) throw new UsageError(`${file} has no container ${JSON.stringify(key)}`);
  await ensureNetworks(spec, g);
  return runOptionsFor(spec, key);
}
