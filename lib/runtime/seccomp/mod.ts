/**
 * A container's seccomp filter from its config: ctr's default profile for
 * its capabilities (precompiled for docker's default set), or a profile in
 * the OCI or docker format resolved for its capabilities and architecture,
 * compiled for this kernel's actions.
 * @module
 */

import type { SeccompSpec } from "../../config/container.ts";
import type { PlanHost } from "../host.ts";
import { type CompiledFilter, compileFilter } from "./compile.ts";
import { defaultProfile } from "./default.ts";
import { precompiledDefaultFilter } from "./precompiled.ts";
import { parseProfileText } from "./profile.ts";

export { type CompiledFilter } from "./compile.ts";
export { LISTENER_SLOT, seccompSteps } from "./install.ts";

/** The filter of `spec` for a process whose bounding set is `caps`. */
export function seccompFilter(
  spec: SeccompSpec,
  caps: readonly string[],
  host: Pick<PlanHost, "arch" | "seccompActions" | "kernelRelease">,
): CompiledFilter {
  const opts = { arch: host.arch, kernelActions: host.seccompActions };
  if (spec.kind === "default") {
    return precompiledDefaultFilter(caps, host.arch) ??
      compileFilter(defaultProfile(caps, host.arch), opts);
  }
  const profile = parseProfileText(spec.text, {
    caps,
    arch: host.arch,
    kernel: host.kernelRelease,
    path: spec.source,
  });
  return compileFilter(profile, opts);
}
