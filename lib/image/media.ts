/**
 * The media types of image documents and layers: plain constants, apart from
 * the schemas (and their validator), for code that only names them.
 * @module
 */

/** Media types ctr reads and writes. */
export const MEDIA = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  ociLayerNd: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  ociLayerNdGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  ociLayerNdZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
} as const;

/** Media types of image manifests. */
export const MANIFEST_TYPES: readonly string[] = [MEDIA.ociManifest, MEDIA.dockerManifest];
/** Media types of indexes (manifest lists). */
export const INDEX_TYPES: readonly string[] = [MEDIA.ociIndex, MEDIA.dockerList];
/** Media types of image configs. */
export const CONFIG_TYPES: readonly string[] = [MEDIA.ociConfig, MEDIA.dockerConfig];
/** Media types of layers. */
export const LAYER_TYPES: readonly string[] = [
  MEDIA.ociLayer,
  MEDIA.ociLayerGzip,
  MEDIA.ociLayerZstd,
  MEDIA.ociLayerNd,
  MEDIA.ociLayerNdGzip,
  MEDIA.ociLayerNdZstd,
  MEDIA.dockerLayer,
  MEDIA.dockerLayerGzip,
  MEDIA.dockerForeignLayerGzip,
];
