/**
 * Local images: the store, archives (load, save), names and the process an
 * image describes. The CLI's image commands are thin layers over this.
 *
 * ```ts
 * import { imageProcess, loadArchive, openStore, resolveImage } from "./lib/image/mod.ts";
 * const store = openStore("/var/lib/ctr");
 * await loadArchive(store, "busybox.tar");
 * const img = await resolveImage(store, "busybox", { lease: true });
 * const proc = imageProcess(img.config, { command: ["sh", "-c", "id"] });
 * // img.layers → ContainerConfig.layers; proc.args/env/cwd/user → its process
 * img.release();
 * ```
 * @module
 */

import { Store } from "./store.ts";
import type { ImageSummary } from "./images.ts";
import { humanAge, humanSize } from "./progress.ts";

export { Store } from "./store.ts";
export type { Expected, GcResult, ImageRecord, StoreIndex } from "./store.ts";
export {
  findImage,
  inspectImage,
  listImages,
  NoSuchImageError,
  prune,
  readConfig,
  readManifest,
  registerImage,
  removeImage,
  resolveImage,
  tagImage,
} from "./images.ts";
export type { ImageSummary, PruneResult, RemoveResult, ResolvedImage } from "./images.ts";
export { loadArchive, saveArchive } from "./archive.ts";
export type { LoadedImage, LoadOptions, LoadResult } from "./archive.ts";
export { imageDefaults, imageProcess, NoCommandError } from "./container_defaults.ts";
export type { CommandLineProcess, ImageDefaults, ImageProcess } from "./container_defaults.ts";
export {
  familiarize,
  familiarString,
  formatReference,
  InvalidReferenceError,
  normalizeReference,
  parseReference,
} from "./reference.ts";
export type { Reference } from "./reference.ts";
export { extractLayer, LayerError } from "./layer.ts";
export type { LayerInfo } from "./layer.ts";
export type { ImageConfig, Manifest } from "./schema.ts";
export type { Digest } from "./digest.ts";
export { humanAge, humanSize, NO_PROGRESS, progressTo } from "./progress.ts";
export type { Progress } from "./progress.ts";
export { formatPlatform, hostPlatform, parsePlatform, selectManifest } from "./platform.ts";
export type { Platform } from "./platform.ts";
export { pullImage } from "./pull.ts";
export type { PullOptions, PullResult } from "./pull.ts";
export { pushImage } from "./push.ts";
export type { PushOptions, PushResult } from "./push.ts";
export { RegistryClient, RegistryError } from "./registry.ts";
export type { ClientOptions, Credentials } from "./registry.ts";
export { credentialsFor, removeCredentials, saveCredentials } from "./registry_config.ts";

/** Opens (creating when needed) the image store under ctr's --root. */
export function openStore(root: string): Store {
  return Store.open(root);
}

/** The `ctr images` table: REPOSITORY TAG IMAGE ID CREATED SIZE, one row per name. */
export function formatImageTable(images: readonly ImageSummary[], now = Date.now()): string {
  const rows = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]];
  for (const img of images) {
    const id = img.id.slice(7, 19);
    const tags = img.tags.length ? img.tags : ["<none>:<none>"];
    for (const t of tags) {
      const colon = t.lastIndexOf(":");
      rows.push([
        t.slice(0, colon),
        t.slice(colon + 1),
        id,
        humanAge(img.created, now),
        humanSize(img.size),
      ]);
    }
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((v, c) => c < 4 ? v.padEnd(widths[c]) : v).join("   ")).join(
    "\n",
  );
}
