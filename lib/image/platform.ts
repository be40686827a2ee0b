/**
 * Platforms as OCI indexes name them (`linux/amd64`, `linux/arm64/v8`): this
 * host's, parsing `--platform`, and picking the manifest of an index (a
 * Docker manifest list) that fits. Pure: no I/O.
 * @module
 */

import type { Descriptor, Index } from "./schema.ts";
import { MANIFEST_TYPES } from "./media.ts";

/** An image's platform. */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** Other names of architectures (uname's, Debian's) → the OCI name. */
const ARCH_ALIASES: Readonly<Record<string, string>> = {
  x86_64: "amd64",
  "x86-64": "amd64",
  aarch64: "arm64",
  armhf: "arm",
  armel: "arm",
  i386: "386",
};

/** The variant an architecture has when an index names none (as containerd's matcher). */
const DEFAULT_VARIANT: Readonly<Record<string, string>> = { arm64: "v8" };

/** The platform of this host: linux/amd64, or linux/arm64/v8. */
export function hostPlatform(arch: string = Deno.build.arch): Platform {
  return arch === "aarch64"
    ? { os: "linux", architecture: "arm64", variant: "v8" }
    : { os: "linux", architecture: "amd64" };
}

/** Parses `OS/ARCH[/VARIANT]` (`linux/amd64`, `linux/arm64/v8`, `linux/aarch64`). */
export function parsePlatform(text: string): Platform {
  const parts = text.toLowerCase().split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/.test(p))) {
    throw new Error(
      `Invalid platform ${JSON.stringify(text)}: expected OS/ARCH[/VARIANT], e.g. linux/amd64`,
    );
  }
  const [os, arch, variant] = parts;
  return {
    os,
    architecture: ARCH_ALIASES[arch] ?? arch,
    ...(variant !== undefined && { variant }),
  };
}

/** `linux/arm64/v8`. */
export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

function variantOf(p: Platform): string | undefined {
  return p.variant || DEFAULT_VARIANT[p.architecture];
}

/**
 * Whether an image for `have` runs where `want` is asked for: same os and
 * architecture, and the same variant when `want` names one (arm64 without a
 * variant is arm64/v8).
 */
export function platformMatches(want: Platform, have: Platform): boolean {
  if (want.os !== have.os) return false;
  if (want.architecture !== (ARCH_ALIASES[have.architecture] ?? have.architecture)) return false;
  const v = variantOf(want);
  return v === undefined || v === variantOf(have);
}

/**
 * Picks the image manifest for `want` out of an index. An index whose only
 * image says no platform gives that image. Throws, listing the platforms the
 * index has, when none fits; `what` names the index in the message.
 */
export function selectManifest(index: Index, want: Platform, what: string): Descriptor {
  const images = index.manifests.filter((m) => MANIFEST_TYPES.includes(m.mediaType));
  const fits = images.filter((m) => m.platform && platformMatches(want, m.platform));
  if (fits.length > 0) {
    // An exact variant first, then an entry that names none.
    return fits.find((m) => m.platform?.variant === want.variant) ??
      fits.find((m) => !m.platform?.variant) ?? fits[0];
  }
  if (images.length === 1 && !images[0].platform) return images[0];
  const have = [
    ...new Set(
      images.filter((m) => m.platform && m.platform.os !== "unknown").map((m) =>
        formatPlatform(m.platform!)
      ),
    ),
  ];
  throw new Error(
    `No matching manifest for ${formatPlatform(want)} in ${what}` +
      (have.length ? ` (it has ${have.join(", ")})` : " (it lists no image platforms)"),
  );
}
