/**
 * docker's `run` flags that need what one Linux host running ctr does not
 * have, and the values of others that only docker's other platforms take:
 * each is refused with one line saying why, rather than taken and ignored.
 * One table, so the reasons are written once.
 * @module
 */

import { hostPlatform, parsePlatform } from "../image/platform.ts";
import type { RunFlags } from "./run_options.ts";

/** Flags refused whatever their value, and why. */
export const REFUSED_FLAGS: Readonly<Record<string, string>> = {
  gpus: "GPUs need a vendor's runtime hook (NVIDIA's container toolkit), which ctr has not",
  ip6: "ctr's networks are IPv4 only",
  "link-local-ip": "ctr's networks assign no link-local addresses",
  "kernel-memory":
    "kernel memory limits are gone from this kernel (cgroup v2 has none; v1's kmem limit was removed in Linux 6.1)",
  "storage-opt":
    "the overlay storage here takes no per-container options (a size limit needs project quotas)",
};

/**
 * The first refused flag or value of `flags`, as one line, or undefined.
 * `arch` is this host's (Deno.build.arch), for --platform.
 */
export function refusedFlag(flags: RunFlags, arch: string = Deno.build.arch): string | undefined {
  for (const [flag, why] of Object.entries(REFUSED_FLAGS)) {
    const v = flags[flag as keyof RunFlags];
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) {
      return `--${flag} is not supported: ${why}`;
    }
  }
  const iso = flags.isolation;
  if (iso !== undefined && iso !== "" && iso !== "default") {
    return `invalid --isolation ${JSON.stringify(iso)}: Linux supports only 'default'`;
  }
  const driver = flags["volume-driver"];
  if (driver !== undefined && driver !== "" && driver !== "local") {
    return `--volume-driver ${JSON.stringify(driver)} is not supported: ctr has only local volumes`;
  }
  if (flags["disable-content-trust"] === false) {
    return "--disable-content-trust=false is not supported: ctr verifies no image signatures (content trust)";
  }
  const runtime = flags.runtime;
  if (runtime !== undefined && runtime !== "ctr") {
    return `--runtime ${JSON.stringify(runtime)} is not supported: ctr runs its containers itself`;
  }
  const log = flags["log-driver"];
  if (log !== undefined && log !== "json-file" && log !== "none") {
    return `--log-driver ${
      JSON.stringify(log)
    } is not supported: ctr logs to json-file, or to nothing (none)`;
  }
  if (flags.platform !== undefined) {
    let p;
    try {
      p = parsePlatform(flags.platform);
    } catch (e) {
      return (e as Error).message;
    }
    const host = hostPlatform(arch);
    if (p.os !== host.os || p.architecture !== host.architecture) {
      return `--platform ${flags.platform} is not this host's (${host.os}/${host.architecture}): ctr runs no emulation`;
    }
  }
  return undefined;
}
