/**
 * The JSON documents of images, validated at the boundary with zod: OCI and
 * Docker schema2 manifests and indexes, image configs, and the files of a
 * `docker save` archive and of an OCI image layout.
 * @module
 */

import * as z from "zod";
import "../zod_setup.ts";
import { digestProblem } from "./digest.ts";

export { CONFIG_TYPES, INDEX_TYPES, LAYER_TYPES, MANIFEST_TYPES, MEDIA } from "./media.ts";
import { CONFIG_TYPES, LAYER_TYPES, MEDIA } from "./media.ts";

const digest = z.string().superRefine((s, ctx) => {
  const problem = digestProblem(s);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

const platform = z.object({
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  "os.version": z.string().optional(),
}).loose();

/** A content descriptor: what a blob is, its digest and size. */
export const Descriptor = z.object({
  mediaType: z.string().min(1),
  digest,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: platform.optional(),
}).loose();
/** A content descriptor. */
export type Descriptor = z.infer<typeof Descriptor>;

/** An image manifest (OCI, or Docker schema2, which has the same shape). */
export const Manifest = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.enum([MEDIA.ociManifest, MEDIA.dockerManifest]).optional(),
  config: Descriptor.refine((d) => CONFIG_TYPES.includes(d.mediaType), {
    message: "not an image config media type",
    path: ["mediaType"],
  }),
  layers: z.array(
    Descriptor.refine((d) => LAYER_TYPES.includes(d.mediaType), {
      message: "not a layer media type",
      path: ["mediaType"],
    }),
  ),
  annotations: z.record(z.string(), z.string()).optional(),
}).loose();
/** An image manifest. */
export type Manifest = z.infer<typeof Manifest>;

/** An index (OCI image index or Docker manifest list). */
export const Index = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.enum([MEDIA.ociIndex, MEDIA.dockerList]).optional(),
  manifests: z.array(Descriptor),
  annotations: z.record(z.string(), z.string()).optional(),
}).loose();
/** An index. */
export type Index = z.infer<typeof Index>;

const strings = z.array(z.string()).nullish();
const set = z.record(z.string(), z.unknown()).nullish();

/** The part of an image config that describes the container's process. */
export const ContainerSettings = z.object({
  User: z.string().optional(),
  ExposedPorts: set,
  Env: strings,
  Entrypoint: strings,
  Cmd: strings,
  Volumes: set,
  WorkingDir: z.string().optional(),
  Labels: z.record(z.string(), z.string()).nullish(),
  StopSignal: z.string().optional(),
  Healthcheck: z.object({
    Test: strings,
    Interval: z.number().optional(),
    Timeout: z.number().optional(),
    StartPeriod: z.number().optional(),
    Retries: z.number().optional(),
  }).loose().nullish(),
}).loose();
/** The process part of an image config. */
export type ContainerSettings = z.infer<typeof ContainerSettings>;

/** An image config (OCI image config; Docker's container image v1 is a superset). */
export const ImageConfig = z.object({
  created: z.string().optional(),
  author: z.string().optional(),
  architecture: z.string().min(1),
  os: z.string().min(1),
  variant: z.string().optional(),
  config: ContainerSettings.nullish(),
  rootfs: z.object({
    type: z.literal("layers"),
    diff_ids: z.array(digest),
  }),
  history: z.array(
    z.object({
      created: z.string().optional(),
      created_by: z.string().optional(),
      comment: z.string().optional(),
      empty_layer: z.boolean().optional(),
    }).loose(),
  ).optional(),
}).loose();
/** An image config. */
export type ImageConfig = z.infer<typeof ImageConfig>;

/** One image of a `docker save` archive's manifest.json. */
export const DockerSaveEntry = z.object({
  Config: z.string().min(1),
  RepoTags: z.array(z.string()).nullish(),
  Layers: z.array(z.string().min(1)),
  LayerSources: z.record(z.string(), Descriptor).nullish(),
}).loose();
/** One image of a docker-save manifest.json. */
export type DockerSaveEntry = z.infer<typeof DockerSaveEntry>;

/** A `docker save` archive's manifest.json. */
export const DockerSaveManifest = z.array(DockerSaveEntry);

/** The oci-layout file of an OCI image layout. */
export const OciLayout = z.object({ imageLayoutVersion: z.string() }).loose();

/**
 * Validates `value` against `schema`; throws `Invalid <what>: <path>: <problem>`
 * naming the first problems found.
 */
export function parseWith<T extends z.ZodType>(
  schema: T,
  value: unknown,
  what: string,
): z.infer<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.slice(0, 3).map((i) =>
    (i.path.length ? i.path.join(".") + ": " : "") + i.message
  );
  const more = r.error.issues.length > 3 ? ` (and ${r.error.issues.length - 3} more)` : "";
  throw new Error(`Invalid ${what}: ${issues.join("; ")}${more}`);
}

/** Parses JSON text and validates it; names `what` in every error. */
export function parseJsonWith<T extends z.ZodType>(
  schema: T,
  text: string | Uint8Array,
  what: string,
): z.infer<T> {
  let value: unknown;
  try {
    value = JSON.parse(typeof text === "string" ? text : new TextDecoder().decode(text));
  } catch (e) {
    throw new Error(`Invalid ${what}: not JSON: ${(e as Error).message}`);
  }
  return parseWith(schema, value, what);
}
